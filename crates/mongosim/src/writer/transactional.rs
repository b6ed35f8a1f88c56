//! Writes inside a transaction: checked for conflicts and unique keys
//! (see [`crate::txn`]), then buffered in the transaction with the oplog
//! entry they will get at commit.

use super::{Change, document_key};
use crate::error::CommandError;
use crate::oplog::{Ns, Op};
use crate::state::State;
use crate::txn::Transaction;
use crate::txn::resources::{self, Resource};
use crate::txn::transaction::write_conflict;
use bson::Document;

/// Checks a write of `after` over `before` in `slot`; returns what it touches.
fn check(
    state: &State,
    txn: &Transaction,
    ns: &Ns,
    slot: u64,
    before: Option<&Document>,
    after: Option<&Document>,
) -> Result<Vec<Resource>, CommandError> {
    let created = txn.creates.contains_key(ns);
    if !created
        && state
            .txns
            .written_after(&Resource::Catalog(ns.clone()), txn.read_at)
    {
        return Err(CommandError::new(
            112,
            "WriteConflict",
            format!(
                "Unable to write to collection '{ns}' due to catalog changes; please retry the operation"
            ),
        ));
    }
    let coll = if created {
        None
    } else {
        state.catalog.get(&ns.db, &ns.coll)
    };
    let indexes = resources::unique_indexes(coll);
    let old = resources::keys(&indexes, before)?;
    let new = resources::keys(&indexes, after)?;
    let touched = resources::touched(ns, slot, &indexes, &old, &new);
    if touched
        .iter()
        .any(|r| state.txns.held(r) || state.txns.written_after(r, txn.read_at))
    {
        return Err(write_conflict());
    }
    // Keys this version adds must not be held, in the snapshot or in the
    // transaction's own writes, by another document. (None of them changed
    // since the snapshot, so the committed index still shows the snapshot's.)
    for ((index, old), new) in indexes.iter().zip(&old).zip(&new) {
        for key in new.iter().filter(|k| !old.contains(k)) {
            let committed = coll.map(|_| index.holders(key)).unwrap_or_default();
            let own = txn.writes_in(ns).filter_map(|(t, d)| d.map(|d| (t, d)));
            let clash_committed = committed.into_iter().filter(|t| *t != slot).any(|t| {
                match txn.writes.get(&(ns.clone(), t)) {
                    Some(Some(version)) => index.keys_of(version).is_ok_and(|ks| ks.contains(key)),
                    Some(None) => false,
                    None => true,
                }
            });
            let clash_own = || {
                own.filter(|(t, _)| *t != slot)
                    .any(|(_, d)| index.keys_of(d).is_ok_and(|ks| ks.contains(key)))
            };
            if clash_committed || clash_own() {
                return Err(index.duplicate_error(&ns.to_string(), key));
            }
        }
    }
    Ok(touched)
}

/// Records a checked write.
fn record(
    txn: &mut Transaction,
    ns: &Ns,
    slot: u64,
    after: Option<Document>,
    touched: Vec<Resource>,
    op: Op,
) {
    txn.touched.insert(ns.clone());
    txn.holds.extend(touched);
    txn.writes.insert((ns.clone(), slot), after);
    txn.ops.push(op);
}

/// True if the collection records pre- and post-images.
fn images(state: &State, ns: &Ns) -> bool {
    state
        .catalog
        .get(&ns.db, &ns.coll)
        .is_some_and(|c| c.pre_post_images)
}

/// Inserts a document, creating the collection in the transaction if needed.
pub fn insert(
    state: &mut State,
    txn: &mut Transaction,
    ns: &Ns,
    doc: Document,
) -> Result<(), CommandError> {
    crate::data::check_id(&doc)?;
    crate::data::check_size(&doc)?;
    let creating = !state.exists_for(txn, ns);
    if creating {
        let catalog = Resource::Catalog(ns.clone());
        if state.txns.held(&catalog) || state.txns.written_after(&catalog, txn.read_at) {
            return Err(write_conflict());
        }
        txn.creates.insert(ns.clone(), 0);
        txn.holds.insert(catalog);
        txn.ops.push(Op::Create { ns: ns.clone() });
    }
    let slot = match txn.creates.get_mut(ns) {
        Some(next) => *next,
        None => state
            .catalog
            .get_mut(&ns.db, &ns.coll)
            .expect("exists")
            .reserve_slot(),
    };
    let touched = check(state, txn, ns, slot, None, Some(&doc))?;
    if let Some(next) = txn.creates.get_mut(ns) {
        *next += 1;
    }
    let op = Op::Insert {
        ns: ns.clone(),
        key: document_key(&doc),
        doc: doc.clone(),
    };
    record(txn, ns, slot, Some(doc), touched, op);
    Ok(())
}

/// Replaces the document in `slot`.
pub fn replace(
    state: &mut State,
    txn: &mut Transaction,
    ns: &Ns,
    slot: u64,
    before: &Document,
    after: Document,
    change: Change,
) -> Result<(), CommandError> {
    crate::data::check_size(&after)?;
    let touched = check(state, txn, ns, slot, Some(before), Some(&after))?;
    let images = images(state, ns);
    let op = change.op(ns, before, after.clone(), images);
    record(txn, ns, slot, Some(after), touched, op);
    Ok(())
}

/// Deletes the document in `slot`.
pub fn delete(
    state: &mut State,
    txn: &mut Transaction,
    ns: &Ns,
    slot: u64,
    before: Document,
) -> Result<(), CommandError> {
    let touched = check(state, txn, ns, slot, Some(&before), None)?;
    let op = Op::Delete {
        ns: ns.clone(),
        key: document_key(&before),
        pre: images(state, ns).then(|| before.clone()),
    };
    record(txn, ns, slot, None, touched, op);
    Ok(())
}
