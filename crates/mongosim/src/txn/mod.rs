//! Multi-document transactions, as a replica-set primary runs them.
//!
//! A command with `lsid`, `txnNumber` and `autocommit: false` belongs to
//! that session's transaction; the first one also says `startTransaction:
//! true`. The transaction works on its own copy of each collection it uses,
//! taken when it first uses it, so other clients see none of its writes and
//! it sees its own; its writes are held back from the oplog. (The server's
//! snapshot is of the whole data at the transaction's first statement; a
//! collection mongosim copies later shows the writes made to it meanwhile.
//! Writes still conflict exactly, see below.) `commitTransaction`
//! applies them all at once and logs them under one cluster time, each with
//! the session's `lsid` and `txnNumber`, so change streams see them only
//! then, in order.
//!
//! Conflicts, as the server reports them (`WriteConflict`, 112, with the
//! `TransientTransactionError` label, the transaction then aborted): a
//! transaction's write to a document that another open transaction has
//! written, or that a write outside it has changed since it started, fails
//! at once; and a commit fails if such a write happened since. Where the
//! server makes a write outside a transaction wait for a transaction that
//! holds the document, mongosim lets it go ahead, and the transaction fails
//! at its next write or its commit instead (either way one of the two is
//! retried).

mod commit;

pub use commit::{abort, commit};

use crate::data::{Catalog, Collection};
use crate::error::CommandError;
use crate::oplog::{Ns, Op};
use bson::{Bson, Document};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// How long a transaction may stay open (`transactionLifetimeLimitSeconds`).
pub const LIFETIME: Duration = Duration::from_secs(60);

/// A session's open transaction.
#[derive(Debug)]
pub struct Txn {
    /// The session.
    pub lsid: Document,
    /// Its `txnNumber`.
    pub number: i64,
    /// Its copy of each collection it has used (`None`: not there for it),
    /// with its writes.
    pub collections: BTreeMap<Ns, Option<Collection>>,
    /// While one of its statements runs: the server's version of the
    /// collection that statement uses, put back when it ends.
    pub parked: Option<Collection>,
    /// The oplog position when it started: writes after it conflict.
    pub start_seq: u64,
    /// Its writes, in order, held back from the oplog.
    pub ops: Vec<Op>,
    /// When a command last used it.
    pub last_used: Instant,
}

/// The transactions of every session.
#[derive(Debug, Default)]
pub struct Txns {
    /// Open transactions, by session (the `lsid` document's bytes).
    pub open: HashMap<Vec<u8>, Txn>,
    /// Per session, the last transaction committed (a commit retried
    /// succeeds again).
    pub committed: HashMap<Vec<u8>, i64>,
}

/// The transaction fields of a command.
#[derive(Debug, Clone)]
pub struct Fields {
    /// The session.
    pub lsid: Document,
    /// `txnNumber`.
    pub number: i64,
    /// `startTransaction: true`.
    pub start: bool,
}

impl Fields {
    /// The fields of `cmd`, if it runs in a transaction (`autocommit: false`).
    pub fn of(cmd: &Document) -> Result<Option<Self>, CommandError> {
        match cmd.get("autocommit") {
            None => return Ok(None),
            Some(Bson::Boolean(false)) => {}
            Some(_) => {
                return Err(CommandError::bad_value(
                    "autocommit field can only be specified as false",
                ));
            }
        }
        let lsid = cmd.get_document("lsid").map_err(|_| {
            CommandError::new(
                50768,
                "InvalidOptions",
                "Transaction commands must have an lsid",
            )
        })?;
        let number = match cmd.get("txnNumber") {
            Some(Bson::Int64(n)) => *n,
            Some(Bson::Int32(n)) => i64::from(*n),
            _ => {
                return Err(CommandError::bad_value(
                    "'autocommit' field requires a transaction number to also be specified",
                ));
            }
        };
        Ok(Some(Self {
            lsid: lsid.clone(),
            number,
            start: cmd.get_bool("startTransaction").unwrap_or(false),
        }))
    }

    /// The session's key in [`Txns`].
    pub fn key(&self) -> Vec<u8> {
        session_key(&self.lsid)
    }
}

/// A session's key: its `lsid` document's bytes.
pub fn session_key(lsid: &Document) -> Vec<u8> {
    bson::to_vec(lsid).unwrap_or_default()
}

/// The document a write is to: its namespace and `_id` key (as bytes).
pub fn written(op: &Op) -> Option<(Ns, Vec<u8>)> {
    let (ns, key) = match op {
        Op::Insert { ns, key, .. }
        | Op::Update { ns, key, .. }
        | Op::Replace { ns, key, .. }
        | Op::Delete { ns, key, .. } => (ns, key),
        _ => return None,
    };
    Some((ns.clone(), bson::to_vec(key).unwrap_or_default()))
}

/// 251 NoSuchTransaction, with the `TransientTransactionError` label.
pub fn no_such_transaction(number: i64) -> CommandError {
    CommandError::new(
        251,
        "NoSuchTransaction",
        format!("Transaction with {{ txnNumber: {number} }} has been aborted."),
    )
    .with_label("TransientTransactionError")
}

/// 112 WriteConflict, with the `TransientTransactionError` label.
pub fn write_conflict() -> CommandError {
    CommandError::new(
        112,
        "WriteConflict",
        "Write conflict during plan execution and yielding is disabled. :: Please retry your operation or multi-document transaction.",
    )
    .with_label("TransientTransactionError")
}

/// Commands a transaction may run.
pub const ALLOWED: [&str; 8] = [
    "insert",
    "update",
    "delete",
    "find",
    "findAndModify",
    "findandmodify",
    "aggregate",
    "getMore",
];

impl Txns {
    /// Aborts the transactions open longer than [`LIFETIME`] since their last use.
    pub fn expire(&mut self) {
        self.open
            .retain(|_, txn| txn.last_used.elapsed() < LIFETIME);
    }
}

/// Before a statement of a transaction on `ns`: starts the transaction
/// (`startTransaction`) or finds it, and copies `ns` from `catalog` if the
/// transaction has not used it yet. A newer `txnNumber` on the session ends
/// its older transaction.
pub fn enter(
    txns: &mut Txns,
    catalog: &Catalog,
    last_seq: u64,
    fields: &Fields,
    command: &str,
    ns: Option<&Ns>,
) -> Result<Vec<u8>, CommandError> {
    txns.expire();
    let key = fields.key();
    if fields.start {
        if txns
            .committed
            .get(&key)
            .is_some_and(|&n| n >= fields.number)
            || txns
                .open
                .get(&key)
                .is_some_and(|t| t.number >= fields.number)
        {
            return Err(CommandError::new(
                225,
                "TransactionTooOld",
                format!(
                    "Cannot start transaction {} on session because a newer transaction has already started",
                    fields.number
                ),
            ));
        }
        txns.open.insert(
            key.clone(),
            Txn {
                lsid: fields.lsid.clone(),
                number: fields.number,
                collections: BTreeMap::new(),
                parked: None,
                start_seq: last_seq,
                ops: Vec::new(),
                last_used: Instant::now(),
            },
        );
    }
    match txns.open.get_mut(&key) {
        Some(txn) if txn.number == fields.number => {
            if !ALLOWED.contains(&command) {
                return Err(CommandError::new(
                    263,
                    "OperationNotSupportedInTransaction",
                    format!("Cannot run '{command}' in a multi-document transaction."),
                ));
            }
            txn.last_used = Instant::now();
            if let Some(ns) = ns {
                txn.collections
                    .entry(ns.clone())
                    .or_insert_with(|| catalog.get(&ns.db, &ns.coll).cloned());
            }
            Ok(key)
        }
        _ => Err(no_such_transaction(fields.number)),
    }
}

/// After a statement: its writes (from `from` on in the transaction's ops)
/// must not touch a document another open transaction has written, or one
/// written outside it since it started (`last_writes`: each document's
/// newest oplog position). On a conflict the transaction is aborted.
pub fn check_writes(
    txns: &mut Txns,
    last_writes: &HashMap<(Ns, Vec<u8>), u64>,
    key: &[u8],
    from: usize,
) -> Result<(), CommandError> {
    let Some(txn) = txns.open.get(key) else {
        return Ok(());
    };
    let mine: Vec<(Ns, Vec<u8>)> = txn.ops[from.min(txn.ops.len())..]
        .iter()
        .filter_map(written)
        .collect();
    let changed_since = mine
        .iter()
        .any(|doc| last_writes.get(doc).is_some_and(|&seq| seq > txn.start_seq));
    let held_by_another = txns.open.iter().any(|(other, t)| {
        other.as_slice() != key
            && t.ops
                .iter()
                .filter_map(written)
                .any(|doc| mine.contains(&doc))
    });
    if changed_since || held_by_another {
        txns.open.remove(key);
        return Err(write_conflict());
    }
    Ok(())
}

/// Takes `ns` out of `catalog` (and its database, if it was the last one).
pub fn take_collection(catalog: &mut Catalog, ns: &Ns) -> Option<Collection> {
    let db = catalog.dbs.get_mut(&ns.db)?;
    let taken = db.remove(&ns.coll);
    if db.is_empty() {
        catalog.dbs.remove(&ns.db);
    }
    taken
}

/// Puts `coll` into `catalog` as `ns`.
pub fn put_collection(catalog: &mut Catalog, ns: &Ns, coll: Collection) {
    catalog
        .dbs
        .entry(ns.db.clone())
        .or_default()
        .insert(ns.coll.clone(), coll);
}
