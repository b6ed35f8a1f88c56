//! Reading inside a transaction: the snapshot (the data as of the
//! transaction's start, rebuilt from the current data and the undo records
//! of [`crate::history`], which keeps them while the transaction is open)
//! with the transaction's own writes laid over it.
//!
//! This is exact snapshot isolation for documents: a transaction sees no
//! write committed after its start, by anyone, and sees all of its own.
//! Collections dropped or renamed after the start still read as they were.

use super::transaction::Transaction;
use crate::oplog::Ns;
use crate::state::State;
use bson::Document;
use std::collections::BTreeMap;

impl State {
    /// The documents of `ns` as `txn` sees them, by slot (natural order).
    pub fn transaction_view(&self, txn: &Transaction, ns: &Ns) -> BTreeMap<u64, Document> {
        let mut docs: BTreeMap<u64, Document> = self
            .catalog
            .get(&ns.db, &ns.coll)
            .map(|c| c.iter_slots().map(|(s, d)| (s, d.clone())).collect())
            .unwrap_or_default();
        self.history.rewind(ns, txn.read_at, &mut docs);
        for (slot, doc) in txn.writes_in(ns) {
            match doc {
                Some(doc) => docs.insert(slot, doc.clone()),
                None => docs.remove(&slot),
            };
        }
        docs
    }

    /// True if `ns` exists for `txn`: created by it, or in its snapshot and
    /// not dropped since (a collection dropped after the snapshot makes the
    /// transaction's writes conflict, see [`super::resources`]).
    pub fn exists_for(&self, txn: &Transaction, ns: &Ns) -> bool {
        txn.creates.contains_key(ns) || self.catalog.exists(&ns.db, &ns.coll)
    }
}
