//! One open transaction: its snapshot, its writes, and what they hold.

use super::resources::Resource;
use crate::oplog::{Ns, Op};
use bson::{Document, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use tokio::time::Instant;

/// An open multi-document transaction.
#[derive(Debug)]
pub struct Transaction {
    /// The session's `lsid` (oplog entries and events carry it).
    pub lsid: Document,
    /// The session's key (its `lsid` as BSON bytes).
    pub key: Vec<u8>,
    /// `txnNumber`.
    pub number: i64,
    /// The snapshot: reads see the data as of this time, plus own writes.
    pub read_at: Timestamp,
    /// When `transactionLifetimeLimitSeconds` runs out (counted from the start).
    pub expires: Instant,
    /// The transaction's version of each document it wrote (`None`: deleted).
    pub writes: BTreeMap<(Ns, u64), Option<Document>>,
    /// The writes in statement order, as the oplog will hold them at commit.
    pub ops: Vec<Op>,
    /// Documents, unique keys and catalog entries written: other writers
    /// conflict with these until the transaction ends.
    pub holds: BTreeSet<Resource>,
    /// Namespaces read or written: DDL on them waits for the transaction.
    pub touched: BTreeSet<Ns>,
    /// Collections the transaction creates, with the next slot in each.
    pub creates: BTreeMap<Ns, u64>,
    /// Cursors opened in the transaction (killed when it ends).
    pub cursors: Vec<i64>,
}

impl Transaction {
    /// A transaction reading at `read_at`.
    pub fn new(
        lsid: Document,
        key: Vec<u8>,
        number: i64,
        read_at: Timestamp,
        expires: Instant,
    ) -> Self {
        Self {
            lsid,
            key,
            number,
            read_at,
            expires,
            writes: BTreeMap::new(),
            ops: Vec::new(),
            holds: BTreeSet::new(),
            touched: BTreeSet::new(),
            creates: BTreeMap::new(),
            cursors: Vec::new(),
        }
    }

    /// The transaction's own writes to `ns`, by slot.
    pub fn writes_in<'a>(
        &'a self,
        ns: &'a Ns,
    ) -> impl Iterator<Item = (u64, Option<&'a Document>)> {
        self.writes
            .range((ns.clone(), 0)..=(ns.clone(), u64::MAX))
            .map(|((_, slot), doc)| (*slot, doc.as_ref()))
    }
}

/// "Transaction with { txnNumber: N } has been aborted.", as 7.0 says it.
pub fn aborted(number: i64) -> crate::error::CommandError {
    crate::error::CommandError::new(
        251,
        "NoSuchTransaction",
        format!("Transaction with {{ txnNumber: {number} }} has been aborted."),
    )
}

/// WriteConflict (112) with the server's message for a write in a transaction.
pub fn write_conflict() -> crate::error::CommandError {
    crate::error::CommandError::new(
        112,
        "WriteConflict",
        "Write conflict during plan execution and yielding is disabled. :: Please retry your operation or multi-document transaction.",
    )
}
