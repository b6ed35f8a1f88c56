//! Committing: all of a transaction's writes become visible at once, at
//! one cluster time, and enter the oplog in statement order, each entry at
//! the commit's time with the session's `lsid` and `txnNumber` (so change
//! streams see them only now, in order, with resume tokens ordered by
//! their position in the transaction).
//!
//! Conflicts and unique keys were checked when each write ran, against the
//! snapshot, the transaction's own writes and every other writer, so a
//! commit cannot clash; should it (a bug), it is undone whole and fails.

use super::transaction::Transaction;
use crate::data::Collection;
use crate::error::CommandError;
use crate::oplog::Ns;
use crate::state::State;
use bson::Document;

/// A document a commit replaced, to undo or to record in history.
struct Replaced {
    ns: Ns,
    slot: u64,
    before: Option<Document>,
}

impl State {
    /// Commits a checked-out transaction.
    pub fn commit_transaction(&mut self, txn: Transaction) -> Result<(), CommandError> {
        if txn.ops.is_empty() {
            let cursors = self.txns.committed(txn);
            self.kill(&cursors);
            self.pin_history();
            return Ok(());
        }
        for (ns, next_slot) in &txn.creates {
            let mut coll = Collection::default();
            coll.skip_slots(*next_slot);
            self.catalog
                .dbs
                .entry(ns.db.clone())
                .or_default()
                .insert(ns.coll.clone(), coll);
        }
        let replaced = match self.apply(&txn) {
            Ok(replaced) => replaced,
            Err(e) => {
                for ns in txn.creates.keys() {
                    if let Some(db) = self.catalog.dbs.get_mut(&ns.db) {
                        db.remove(&ns.coll);
                    }
                }
                return Err(e);
            }
        };
        let (ts, wall) = self.clock.tick();
        let session = Some((txn.lsid.clone(), txn.number));
        for op in &txn.ops {
            self.oplog.push(ts, wall, session.clone(), op.clone());
        }
        self.history.advance(ts);
        for r in replaced {
            self.history.record(ts, &r.ns, r.slot, r.before);
        }
        for resource in &txn.holds {
            self.txns.stamp(resource.clone(), ts);
        }
        let cursors = self.txns.committed(txn);
        self.kill(&cursors);
        self.pin_history();
        Ok(())
    }

    /// Writes the transaction's final version of each document: all old
    /// versions out first, then the new ones in (so keys that moved between
    /// documents do not clash midway); undone whole on failure.
    fn apply(&mut self, txn: &Transaction) -> Result<Vec<Replaced>, CommandError> {
        let mut replaced = Vec::with_capacity(txn.writes.len());
        for (ns, slot) in txn.writes.keys() {
            let before = self
                .catalog
                .get_mut(&ns.db, &ns.coll)
                .and_then(|c| c.remove(*slot));
            replaced.push(Replaced {
                ns: ns.clone(),
                slot: *slot,
                before,
            });
        }
        let mut written = Vec::new();
        for ((ns, slot), doc) in &txn.writes {
            let Some(doc) = doc else { continue };
            let result = match self.catalog.get_mut(&ns.db, &ns.coll) {
                Some(coll) => coll.insert_at(&ns.to_string(), *slot, doc.clone()),
                None => Err(CommandError::namespace_not_found(format!(
                    "ns does not exist: {ns}"
                ))),
            };
            if let Err(e) = result {
                self.undo(&written, &replaced);
                return Err(e);
            }
            written.push((ns.clone(), *slot));
        }
        Ok(replaced)
    }

    fn undo(&mut self, written: &[(Ns, u64)], replaced: &[Replaced]) {
        for (ns, slot) in written {
            if let Some(coll) = self.catalog.get_mut(&ns.db, &ns.coll) {
                coll.remove(*slot);
            }
        }
        for r in replaced {
            if let (Some(before), Some(coll)) =
                (&r.before, self.catalog.get_mut(&r.ns.db, &r.ns.coll))
            {
                let _ = coll.insert_at(&r.ns.to_string(), r.slot, before.clone());
            }
        }
    }
}
