//! Drops and renames of targets narrower than the stream that carries them.
//!
//! A collection's own stream is invalidated when the collection is dropped
//! or renamed, and its `on_invalidate` policy decides what follows. When a
//! database or cluster stream carries that collection (because a rule
//! watches the wider target too), the stream is not invalidated: it carries
//! a `drop` or `rename` event and goes on. The collection's policy must hold
//! all the same, so such an event ends the narrower target here, and with
//! `on_invalidate = "stop"` its rules receive nothing more.

use super::plan::StreamPlan;
use herald_core::{ChangeEvent, Namespace, OperationType, WatchTarget};

/// The targets of `plan`, narrower than the stream's own, that `event` ends:
/// the collection of a `drop` or `rename`, or everything in the database of a
/// `dropDatabase`.
///
/// ```
/// use bson::{doc, RawDocumentBuf};
/// use herald_core::{ChangeEvent, FullDocument, FullDocumentBeforeChange, OperationType};
/// use herald_ingest::mongo::{lifecycle::ended_targets, plan, Subscription};
/// let sub = |target: &str| Subscription {
///     rule: target.into(), target: target.parse().unwrap(), on: vec![OperationType::Insert],
///     filter: doc! {}, full_document: FullDocument::Default, before_change: FullDocumentBeforeChange::Off, snapshot: true,
/// };
/// let plans = plan(&[sub("shop"), sub("shop.orders")]);
/// let drop = RawDocumentBuf::from_document(&doc! {
///     "_id": {"_data": "01"}, "operationType": "drop", "ns": {"db": "shop", "coll": "orders"},
/// }).unwrap();
/// let ended = ended_targets(&ChangeEvent::from_raw(drop).unwrap(), &plans[0]);
/// assert_eq!(ended, ["shop.orders".parse().unwrap()]);
/// ```
pub fn ended_targets(event: &ChangeEvent, plan: &StreamPlan) -> Vec<WatchTarget> {
    let Some(ns) = event.namespace() else {
        return Vec::new();
    };
    let ends = |target: &WatchTarget| match event.operation_type() {
        OperationType::Drop | OperationType::Rename => {
            *target == WatchTarget::Collection(ns.clone())
        }
        OperationType::DropDatabase => {
            WatchTarget::Database(ns.db.clone()).contains(target) && ns.coll.is_none()
        }
        _ => false,
    };
    plan.targets
        .iter()
        .filter(|t| **t != plan.target && ends(t))
        .cloned()
        .collect()
}

/// The namespace a stopped collection target had, for messages.
pub fn describe(target: &WatchTarget, event: &ChangeEvent) -> String {
    let what = match event.operation_type() {
        OperationType::Rename => "renamed",
        _ => "dropped",
    };
    let ns = event
        .namespace()
        .map(Namespace::to_string)
        .unwrap_or_default();
    format!("{target} ended: {ns} was {what} (on_invalidate = \"stop\")")
}
