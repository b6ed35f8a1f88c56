//! Writes outside a transaction: checked against open transactions, then
//! applied to the catalog and logged at once.

use super::{Change, document_key};
use crate::error::CommandError;
use crate::oplog::{Ns, Op};
use crate::state::State;
use crate::txn::resources::{self, Resource};
use bson::Document;

/// Fails with [`CommandError::blocked`] if an open transaction holds any of `touched`.
fn check(state: &State, touched: &[Resource]) -> Result<(), CommandError> {
    if touched.iter().any(|r| state.txns.held(r)) {
        return Err(CommandError::blocked());
    }
    Ok(())
}

/// What replacing `before` with `after` in `slot` touches.
fn touched(
    state: &State,
    ns: &Ns,
    slot: u64,
    before: Option<&Document>,
    after: Option<&Document>,
) -> Result<Vec<Resource>, CommandError> {
    let coll = state.catalog.get(&ns.db, &ns.coll);
    let indexes = resources::unique_indexes(coll);
    let old = resources::keys(&indexes, before)?;
    let new = resources::keys(&indexes, after)?;
    let mut out = resources::touched(ns, slot, &indexes, &old, &new);
    if coll.is_none() {
        out.push(Resource::Catalog(ns.clone()));
    }
    Ok(out)
}

/// Records a committed write for the conflict checks of open transactions.
fn stamp(state: &mut State, touched: Vec<Resource>, ts: bson::Timestamp) {
    for r in touched {
        state.txns.stamp(r, ts);
    }
}

/// Inserts and logs a document.
pub fn insert(state: &mut State, ns: &Ns, doc: Document) -> Result<(), CommandError> {
    // The slot is new: only its unique keys (and a collection a transaction creates) can clash.
    let touched: Vec<Resource> = touched(state, ns, u64::MAX, None, Some(&doc))?
        .into_iter()
        .filter(|r| !matches!(r, Resource::Doc(..)))
        .collect();
    check(state, &touched)?;
    crate::commands::insert::ensure_collection(state, ns);
    let coll = state
        .catalog
        .get_mut(&ns.db, &ns.coll)
        .expect("just ensured");
    let slot = coll.insert(&ns.to_string(), doc.clone())?;
    let (ts, _) = state.log(Op::Insert {
        ns: ns.clone(),
        key: document_key(&doc),
        doc,
    });
    state.remember(ts, ns, slot, None);
    stamp(state, touched, ts);
    Ok(())
}

/// Replaces and logs the document in `slot`.
pub fn replace(
    state: &mut State,
    ns: &Ns,
    slot: u64,
    before: &Document,
    after: Document,
    change: Change,
) -> Result<(), CommandError> {
    let touched = touched(state, ns, slot, Some(before), Some(&after))?;
    check(state, &touched)?;
    let coll = state
        .catalog
        .get_mut(&ns.db, &ns.coll)
        .expect("the caller found the slot");
    let images = coll.pre_post_images;
    coll.replace(&ns.to_string(), slot, after.clone())?;
    let op = change.op(ns, before, after, images);
    let (ts, _) = state.log(op);
    state.remember(ts, ns, slot, Some(before.clone()));
    stamp(state, touched, ts);
    Ok(())
}

/// Deletes and logs the document in `slot`.
pub fn delete(state: &mut State, ns: &Ns, slot: u64, before: Document) -> Result<(), CommandError> {
    let touched = touched(state, ns, slot, Some(&before), None)?;
    check(state, &touched)?;
    let Some(coll) = state.catalog.get_mut(&ns.db, &ns.coll) else {
        return Ok(());
    };
    let images = coll.pre_post_images;
    if coll.remove(slot).is_none() {
        return Ok(());
    }
    let (ts, _) = state.log(Op::Delete {
        ns: ns.clone(),
        key: document_key(&before),
        pre: images.then(|| before.clone()),
    });
    state.remember(ts, ns, slot, Some(before));
    stamp(state, touched, ts);
    Ok(())
}
