//! Sessions and their transactions: starting, continuing, expiring and
//! ending them, as the server's `TransactionParticipant` does on a replica
//! set primary, and the conflict bookkeeping between them.

use super::resources::Resource;
use super::session::SessionArgs;
use super::transaction::{Transaction, aborted};
use crate::error::CommandError;
use crate::oplog::Ns;
use bson::{Document, Timestamp};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// `transactionLifetimeLimitSeconds` unless set (the server's default).
pub const DEFAULT_LIFETIME_SECONDS: u64 = 60;

/// Where a session's newest transaction number stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A retryable write (or nothing yet) at the active number.
    None,
    /// A transaction is open.
    InProgress,
    /// The transaction committed (retrying `commitTransaction` succeeds).
    Committed,
    /// The transaction was aborted.
    Aborted,
}

/// One logical session.
#[derive(Debug)]
struct Session {
    /// The highest `txnNumber` seen (-1: none).
    active: i64,
    phase: Phase,
    /// The open transaction (`Some` while `phase` is `InProgress`, unless
    /// a command has it checked out).
    txn: Option<Transaction>,
}

/// A transaction a command runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRef {
    /// The session's key.
    pub key: Vec<u8>,
    /// `txnNumber`.
    pub number: i64,
    /// True if this command started it.
    pub started: bool,
}

/// All sessions with transactions.
#[derive(Debug)]
pub struct Transactions {
    sessions: HashMap<Vec<u8>, Session>,
    /// `transactionLifetimeLimitSeconds`.
    lifetime: Duration,
    /// Bumped when a transaction ends: writes and DDL waiting on one retry.
    ended: watch::Sender<u64>,
    /// The commit time of the last committed write to each resource, kept
    /// while transactions are open (a transaction that writes something
    /// written after its snapshot conflicts).
    stamps: BTreeMap<Resource, Timestamp>,
}

impl Transactions {
    /// No sessions; transactions live `lifetime_seconds` at most.
    pub fn new(lifetime_seconds: u64) -> Self {
        Self {
            sessions: HashMap::new(),
            lifetime: Duration::from_secs(lifetime_seconds),
            ended: watch::channel(0).0,
            stamps: BTreeMap::new(),
        }
    }

    /// `transactionLifetimeLimitSeconds`.
    pub fn lifetime_seconds(&self) -> u64 {
        self.lifetime.as_secs()
    }

    /// Sets `transactionLifetimeLimitSeconds` (for transactions started
    /// from now on, as on the server); returns the previous value.
    pub fn set_lifetime_seconds(&mut self, seconds: u64) -> u64 {
        std::mem::replace(&mut self.lifetime, Duration::from_secs(seconds)).as_secs()
    }

    /// Starts or continues the transaction a command names. `read_at` gives
    /// a new transaction's snapshot time.
    pub fn begin_or_continue(
        &mut self,
        args: &SessionArgs,
        command: &str,
        read_at: impl FnOnce() -> Result<Timestamp, CommandError>,
    ) -> Result<(TxnRef, Vec<i64>), CommandError> {
        let (Some(key), Some(number), Some(lsid)) = (args.key(), args.txn_number, &args.lsid)
        else {
            return Err(CommandError::new(
                72,
                "InvalidOptions",
                "a transaction needs lsid and txnNumber",
            ));
        };
        let session = self.sessions.entry(key.clone()).or_insert(Session {
            active: -1,
            phase: Phase::None,
            txn: None,
        });
        if number < session.active {
            return Err(CommandError::new(
                225,
                "TransactionTooOld",
                format!(
                    "Cannot start transaction with {{ txnNumber: {number}, txnRetryCounter: 0 }} on session {} because a newer transaction with txnNumberAndRetryCounter {{ txnNumber: {}, txnRetryCounter: 0 }} has already started on this session.",
                    describe_lsid(lsid),
                    session.active
                ),
            ));
        }
        let mut killed = Vec::new();
        if args.start_transaction {
            if number == session.active {
                return Err(CommandError::new(
                    117,
                    "ConflictingOperationInProgress",
                    "Only servers in a sharded cluster can start a new transaction at the active transaction number",
                ));
            }
            let read_at = read_at()?;
            // A newer transaction number aborts the open transaction.
            if let Some(old) = session.txn.take() {
                killed = old.cursors;
            }
            session.active = number;
            session.phase = Phase::InProgress;
            session.txn = Some(Transaction::new(
                lsid.clone(),
                key.clone(),
                number,
                read_at,
                Instant::now() + self.lifetime,
            ));
            if !killed.is_empty() {
                self.ended.send_modify(|n| *n += 1);
            }
            return Ok((
                TxnRef {
                    key,
                    number,
                    started: true,
                },
                killed,
            ));
        }
        if number != session.active || session.phase == Phase::None {
            return Err(CommandError::new(
                251,
                "NoSuchTransaction",
                format!(
                    "Given transaction number {number} does not match any in-progress transactions. The active transaction number is {}",
                    session.active
                ),
            ));
        }
        match session.phase {
            Phase::Aborted => Err(aborted(number)),
            Phase::Committed if command != "commitTransaction" => Err(CommandError::new(
                256,
                "TransactionCommitted",
                format!("Transaction with {{ txnNumber: {number} }} has been committed."),
            )),
            _ => Ok((
                TxnRef {
                    key,
                    number,
                    started: false,
                },
                killed,
            )),
        }
    }

    /// Takes a transaction out for a command to work on (under the state's
    /// lock); [`checkin`](Self::checkin) puts it back.
    pub fn checkout(&mut self, txn: &TxnRef) -> Result<Transaction, CommandError> {
        self.sessions
            .get_mut(&txn.key)
            .filter(|s| s.active == txn.number && s.phase == Phase::InProgress)
            .and_then(|s| s.txn.take())
            .ok_or_else(|| aborted(txn.number))
    }

    /// Puts a checked-out transaction back.
    pub fn checkin(&mut self, txn: Transaction) {
        if let Some(session) = self.sessions.get_mut(&txn.key)
            && session.active == txn.number
        {
            session.txn = Some(txn);
        }
    }

    /// True if the session's transaction `number` has committed.
    pub fn is_committed(&self, txn: &TxnRef) -> bool {
        self.sessions
            .get(&txn.key)
            .is_some_and(|s| s.active == txn.number && s.phase == Phase::Committed)
    }

    /// Marks a (checked-out) transaction committed.
    pub fn committed(&mut self, txn: Transaction) -> Vec<i64> {
        self.end(&txn.key, txn.number, Phase::Committed);
        txn.cursors
    }

    /// Aborts the session's transaction `number` if it is open; returns the
    /// cursors to kill.
    pub fn abort(&mut self, key: &[u8], number: i64) -> Vec<i64> {
        let Some(session) = self.sessions.get_mut(key) else {
            return Vec::new();
        };
        if session.active != number || session.phase != Phase::InProgress {
            return Vec::new();
        }
        let cursors = session.txn.take().map(|t| t.cursors).unwrap_or_default();
        self.end(key, number, Phase::Aborted);
        cursors
    }

    /// Aborts the open transactions of the sessions whose `lsid` is in `lsids`
    /// (all sessions for `None`), as killSessions does.
    pub fn abort_sessions(&mut self, lsids: Option<&[Document]>) -> Vec<i64> {
        let keys: Vec<(Vec<u8>, i64)> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.phase == Phase::InProgress)
            .filter(|(_, s)| {
                lsids.is_none_or(|ids| {
                    s.txn
                        .as_ref()
                        .is_some_and(|t| ids.iter().any(|id| lsid_matches(&t.lsid, id)))
                })
            })
            .map(|(k, s)| (k.clone(), s.active))
            .collect();
        keys.into_iter()
            .flat_map(|(key, number)| self.abort(&key, number))
            .collect()
    }

    fn end(&mut self, key: &[u8], number: i64, phase: Phase) {
        if let Some(session) = self.sessions.get_mut(key)
            && session.active == number
        {
            session.phase = phase;
            session.txn = None;
        }
        if self.open().next().is_none() {
            self.stamps.clear();
        }
        self.ended.send_modify(|n| *n += 1);
    }

    /// Aborts transactions whose lifetime ran out; returns their cursors.
    pub fn expire(&mut self, now: Instant) -> Vec<i64> {
        let expired: Vec<(Vec<u8>, i64)> = self
            .open()
            .filter(|t| t.expires <= now)
            .map(|t| (t.key.clone(), t.number))
            .collect();
        expired
            .into_iter()
            .flat_map(|(key, number)| self.abort(&key, number))
            .collect()
    }

    /// The open transactions (except one a command has checked out).
    pub fn open(&self) -> impl Iterator<Item = &Transaction> {
        self.sessions.values().filter_map(|s| s.txn.as_ref())
    }

    /// When the next open transaction expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.open().map(|t| t.expires).min()
    }

    /// The oldest snapshot an open transaction reads at (history must keep it).
    pub fn oldest_snapshot(&self) -> Option<Timestamp> {
        self.open().map(|t| t.read_at).min()
    }

    /// A receiver that changes when a transaction ends.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.ended.subscribe()
    }

    /// True if an open transaction holds `resource`.
    pub fn held(&self, resource: &Resource) -> bool {
        self.open().any(|t| t.holds.contains(resource))
    }

    /// True if an open transaction read or wrote `ns`.
    pub fn touching(&self, ns: &Ns) -> bool {
        self.open().any(|t| t.touched.contains(ns))
    }

    /// True if an open transaction read or wrote a collection of `db`.
    pub fn touching_db(&self, db: &str) -> bool {
        self.open().any(|t| t.touched.iter().any(|ns| ns.db == db))
    }

    /// Records a committed write at `ts`, if an open transaction might care.
    pub fn stamp(&mut self, resource: Resource, ts: Timestamp) {
        if self.open().next().is_some() {
            self.stamps.insert(resource, ts);
        }
    }

    /// True if `resource` was written by a commit after `at`.
    pub fn written_after(&self, resource: &Resource, at: Timestamp) -> bool {
        self.stamps.get(resource).is_some_and(|ts| *ts > at)
    }
}

/// Two `lsid`s name the same session if their `id`s are equal.
fn lsid_matches(a: &Document, b: &Document) -> bool {
    a.get("id") == b.get("id")
}

/// An `lsid` as the server prints a session id in messages: its UUID,
/// hyphenated, then ` - ` and the hash of the user (empty without auth).
fn describe_lsid(lsid: &Document) -> String {
    match lsid.get("id") {
        Some(bson::Bson::Binary(b)) if b.bytes.len() == 16 => {
            let hex: String = b.bytes.iter().map(|x| format!("{x:02x}")).collect();
            format!(
                "{}-{}-{}-{}-{} - ",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            )
        }
        _ => format!("{lsid}"),
    }
}
