//! `commitTransaction` and `abortTransaction`.

use super::{Fields, no_such_transaction, write_conflict, written};
use crate::data::Collection;
use crate::error::{CommandError, CommandResult};
use crate::oplog::{Ns, Op};
use crate::state::State;
use bson::{Bson, Document};
use std::collections::BTreeMap;

/// Commits the session's transaction: its writes reach the data at once,
/// and the oplog under one cluster time. A commit retried after it
/// succeeded succeeds again (the result may have been lost on the way).
pub fn commit(state: &mut State, fields: &Fields) -> CommandResult {
    let key = fields.key();
    let txn = match state.txns.open.remove(&key) {
        Some(txn) if txn.number == fields.number => txn,
        other => {
            if let Some(txn) = other {
                state.txns.open.insert(key.clone(), txn); // a different transaction: left as it is
            }
            return match state.txns.committed.get(&key) {
                Some(&n) if n == fields.number => Ok(Document::new()),
                _ => Err(no_such_transaction(fields.number)),
            };
        }
    };
    // Every document it wrote, once, in the order first written.
    let mut docs: Vec<(Ns, Vec<u8>)> = Vec::new();
    for doc in txn.ops.iter().filter_map(written) {
        if !docs.contains(&doc) {
            docs.push(doc);
        }
    }
    if docs.iter().any(|doc| {
        state
            .last_writes
            .get(doc)
            .is_some_and(|&seq| seq > txn.start_seq)
    }) {
        return Err(write_conflict());
    }
    // Apply the final version of each document to copies of the collections
    // touched, so a unique index that refuses one leaves everything as it was.
    let mut copies: BTreeMap<Ns, Option<Collection>> = BTreeMap::new();
    let mut befores: Vec<(Ns, u64, Option<Document>)> = Vec::new();
    for (ns, id_key) in &docs {
        let id = bson::from_slice::<Document>(id_key)
            .ok()
            .and_then(|k| k.get("_id").cloned())
            .unwrap_or(Bson::Null);
        let now = txn
            .collections
            .get(ns)
            .and_then(Option::as_ref)
            .and_then(|c| c.get_by_id(&id))
            .cloned();
        let copy = copies
            .entry(ns.clone())
            .or_insert_with(|| state.catalog.get(&ns.db, &ns.coll).cloned())
            .get_or_insert_with(Collection::default);
        let slot = copy.slot_of(&id);
        let before = slot.and_then(|s| copy.get(s).cloned());
        let name = ns.to_string();
        let slot = match (slot, now) {
            (Some(slot), Some(doc)) => copy.replace(&name, slot, doc).map(|()| slot)?,
            (None, Some(doc)) => copy.insert(&name, doc)?,
            (Some(slot), None) => {
                copy.remove(slot);
                slot
            }
            (None, None) => continue,
        };
        befores.push((ns.clone(), slot, before));
    }
    // Collections it created come first, as writes of their own.
    for (ns, copy) in &mut copies {
        if !state.catalog.exists(&ns.db, &ns.coll) {
            state.log(Op::Create { ns: ns.clone() });
        }
        let copy = copy.take().expect("filled above");
        super::put_collection(&mut state.catalog, ns, copy);
    }
    let (ts, wall) = state.clock.tick();
    let session = Some((txn.lsid.clone(), txn.number));
    for op in txn.ops {
        if matches!(op, Op::Create { .. }) {
            continue; // logged above
        }
        let doc = written(&op);
        let seq = state.oplog.push(ts, wall, session.clone(), op);
        if let Some(doc) = doc {
            state.last_writes.insert(doc, seq);
        }
    }
    for (ns, slot, before) in befores {
        state.remember(ts, &ns, slot, before);
    }
    state.history.advance(ts);
    state.txns.committed.insert(key, fields.number);
    Ok(Document::new())
}

/// Aborts the session's transaction: none of its writes happened.
pub fn abort(state: &mut State, fields: &Fields) -> CommandResult {
    let key = fields.key();
    match state.txns.open.get(&key) {
        Some(txn) if txn.number == fields.number => {
            state.txns.open.remove(&key);
            Ok(Document::new())
        }
        _ => Err(CommandError::new(
            251,
            "NoSuchTransaction",
            format!(
                "Transaction with {{ txnNumber: {} }} has been aborted.",
                fields.number
            ),
        )),
    }
}
