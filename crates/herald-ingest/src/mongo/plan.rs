//! Many rules, few streams.
//!
//! Streams are an implementation detail; watch targets are what rules name.
//! herald opens the fewest streams that cover the targets: a cluster target
//! (`*`) means one cluster stream carries everything, a database target
//! carries its collections' events, and only collections whose database is
//! not watched get a stream of their own. Streams so chosen never overlap, so
//! every event arrives once, on one stream, and is routed once to each rule
//! it matches (a node serves about a thousand streams before it suffers, so
//! few streams also spare the server).
//!
//! A stream's pipeline is one `$match`: the union (`$or`) of its rules'
//! branches, each its operation types, its filter and (where the stream is
//! wider than the rule's target) its namespace, plus the lifecycle events
//! (drop, rename, dropDatabase, invalidate) that herald must always see (a
//! filter that reads an image the stream carries only for other rules is
//! left to herald, see `branch`). The
//! server then sends only events some rule can match; herald routes each one
//! locally to exactly the rules whose target and filter it matches.

use super::stages::{StagesError, check_targets};
use branch::{Carried, branches};
use bson::{Bson, Document, doc};
use herald_core::{FullDocument, FullDocumentBeforeChange, OperationType, WatchTarget};
use std::collections::{BTreeMap, BTreeSet};

/// What one rule needs from the server.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// The rule's name.
    pub rule: String,
    /// What it watches.
    pub target: WatchTarget,
    /// The operation types it handles.
    pub on: Vec<OperationType>,
    /// Its filter on the change event.
    pub filter: Document,
    /// The `fullDocument` option it needs.
    pub full_document: FullDocument,
    /// The `fullDocumentBeforeChange` option it needs.
    pub before_change: FullDocumentBeforeChange,
    /// Whether it takes snapshot events (`snapshot: false` in its `RULE`
    /// says no), when its target is read with `start_at = "snapshot"`.
    pub snapshot: bool,
}

/// One change stream and what it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamPlan {
    /// The stream's checkpoint name: `mongodb:<target>`.
    pub id: String,
    /// What it watches: the widest of the targets it serves.
    pub target: WatchTarget,
    /// The watch targets of its rules, each once, in order.
    pub targets: Vec<WatchTarget>,
    /// The stages after `$changeStream`.
    pub pipeline: Vec<Document>,
    /// The strongest `fullDocument` any of its rules needs.
    pub full_document: FullDocument,
    /// The strongest `fullDocumentBeforeChange` any of its rules needs.
    pub before_change: FullDocumentBeforeChange,
    /// `showExpandedEvents`: some rule names an expanded event (`create`,
    /// `createIndexes`, `modify`, ...), which the server sends only then.
    pub show_expanded_events: bool,
    /// The rules it serves.
    pub rules: Vec<String>,
    /// True if it also serves rules of wider targets, for its namespaces (a
    /// target with stages): its invalidate does not end those rules, whose
    /// own streams see the drop and apply their policies.
    pub serves_wider: bool,
    /// The targets it carries whose rules take snapshot events, in name
    /// order, each with the union of those rules' filters: what a snapshot
    /// of the stream reads (for targets with `start_at = "snapshot"`).
    pub snapshots: Vec<super::snapshot::SnapshotScope>,
}

impl StreamPlan {
    /// The stages after `$changeStream` that the stream sends: its
    /// pipeline, and with `split_large_events` the split stage (events over
    /// 16 MiB then arrive as fragments, joined in `split`; it must come last).
    pub fn stages(&self, split_large_events: bool) -> Vec<Document> {
        let mut stages = self.pipeline.clone();
        if split_large_events {
            stages.push(bson::doc! { "$changeStreamSplitLargeEvent": {} });
        }
        stages
    }

    /// The same stream narrowed to one partition of document keys (cluster
    /// mode): the partition's `$match` follows the stream's own, so the
    /// server hashes only the events some rule can match.
    ///
    /// ```
    /// use herald_core::partition::Partition;
    /// use herald_ingest::mongo::{Subscription, plan};
    /// let sub = Subscription {
    ///     rule: "a".into(), target: "shop.orders".parse().unwrap(),
    ///     on: vec![herald_core::OperationType::Insert], filter: bson::doc! {},
    ///     full_document: herald_core::FullDocument::Default,
    ///     before_change: herald_core::FullDocumentBeforeChange::Off, snapshot: true,
    /// };
    /// let stream = &plan(&[sub])[0];
    /// let part = Partition { index: 1, of: 4 };
    /// let narrowed = stream.partitioned(part);
    /// assert_eq!(narrowed.pipeline.len(), stream.pipeline.len() + 1);
    /// assert_eq!(narrowed.pipeline[1], part.stage());
    /// assert_eq!(narrowed.id, stream.id);
    /// ```
    pub fn partitioned(&self, partition: herald_core::partition::Partition) -> StreamPlan {
        let mut plan = self.clone();
        let after_match = plan
            .pipeline
            .first()
            .is_some_and(|stage| stage.contains_key("$match"));
        plan.pipeline
            .insert(usize::from(after_match), partition.stage());
        plan
    }

    /// The aggregation the stream runs, as the server receives it: the
    /// `$changeStream` stage with the stream's options (its start,
    /// `startAfter` or `startAtOperationTime`, is added when it opens, from
    /// its checkpoint or `start_at`), then [`StreamPlan::stages`]. For
    /// `herald check --explain`.
    pub fn aggregation(&self, split_large_events: bool) -> Vec<Document> {
        let mut options = Document::new();
        if self.target == WatchTarget::Cluster {
            options.insert("allChangesForCluster", true);
        }
        if self.full_document != FullDocument::Default {
            options.insert("fullDocument", self.full_document.as_str());
        }
        if self.before_change != FullDocumentBeforeChange::Off {
            options.insert("fullDocumentBeforeChange", self.before_change.as_str());
        }
        if self.show_expanded_events {
            options.insert("showExpandedEvents", true);
        }
        std::iter::once(bson::doc! { "$changeStream": options })
            .chain(self.stages(split_large_events))
            .collect()
    }
}

/// Operation types every stream delivers, whatever its rules say.
pub const LIFECYCLE: [&str; 4] = ["drop", "rename", "dropDatabase", "invalidate"];

/// The stream that carries `target`'s events, given every target watched.
fn covering(target: &WatchTarget, all: &BTreeSet<WatchTarget>) -> WatchTarget {
    if all.contains(&WatchTarget::Cluster) {
        return WatchTarget::Cluster;
    }
    match target {
        WatchTarget::Collection(ns) if all.contains(&WatchTarget::Database(ns.db.clone())) => {
            WatchTarget::Database(ns.db.clone())
        }
        other => other.clone(),
    }
}

/// Plans the fewest streams covering the subscriptions' targets, in target order.
///
/// ```
/// use bson::doc;
/// use herald_core::{FullDocument, FullDocumentBeforeChange, OperationType};
/// use herald_ingest::mongo::{Subscription, plan};
/// let sub = |rule: &str, target: &str| Subscription {
///     rule: rule.into(), target: target.parse().unwrap(), on: vec![OperationType::Insert],
///     filter: doc! {}, full_document: FullDocument::Default, before_change: FullDocumentBeforeChange::Off, snapshot: true,
/// };
/// // A database stream carries its collections' events: one stream, not two.
/// let plans = plan(&[sub("a", "shop.orders"), sub("b", "shop"), sub("c", "hr.people")]);
/// let ids: Vec<&str> = plans.iter().map(|p| p.id.as_str()).collect();
/// assert_eq!(ids, ["mongodb:hr.people", "mongodb:shop"]);
/// assert_eq!(plans[1].rules, ["a", "b"]);
/// ```
pub fn plan(subscriptions: &[Subscription]) -> Vec<StreamPlan> {
    plan_staged(subscriptions, &BTreeMap::new())
}

/// [`plan`], with stages configured per watch target (`[mongodb.streams."T"]
/// stages`), which it [checks](super::stages::check_targets) first: a stage
/// the server or herald refuses, or a target with stages inside another,
/// is an error.
///
/// Stages apply to every event of their target's namespaces, whichever rule
/// receives it, so a target with stages always has a stream of its own (its
/// stages after the `$match`), serving its rules and those of wider targets
/// for its events; a wider stream leaves its namespaces out.
///
/// ```
/// use bson::doc;
/// use herald_core::{FullDocument, FullDocumentBeforeChange, OperationType};
/// use herald_ingest::mongo::{Subscription, plan_with};
/// let sub = |rule: &str, target: &str| Subscription {
///     rule: rule.into(), target: target.parse().unwrap(), on: vec![OperationType::Insert],
///     filter: doc! {}, full_document: FullDocument::Default, before_change: FullDocumentBeforeChange::Off, snapshot: true,
/// };
/// let stages = [("shop.orders".parse().unwrap(), vec![doc! {"$unset": "fullDocument.card"}])].into();
/// let plans = plan_with(&[sub("a", "shop.orders"), sub("all", "*")], &stages).unwrap();
/// let ids: Vec<&str> = plans.iter().map(|p| p.id.as_str()).collect();
/// assert_eq!(ids, ["mongodb:shop.orders", "mongodb:*"]);
/// assert_eq!(plans[0].rules, ["a", "all"]);
/// assert_eq!(plans[0].pipeline[1], doc! {"$unset": "fullDocument.card"});
///
/// let refused = [("shop.orders".parse().unwrap(), vec![doc! {"$unset": "ns"}])].into();
/// assert!(plan_with(&[sub("a", "shop.orders")], &refused).is_err());
/// ```
pub fn plan_with(
    subscriptions: &[Subscription],
    stages: &BTreeMap<WatchTarget, Vec<Document>>,
) -> Result<Vec<StreamPlan>, StagesError> {
    check_targets(stages)?;
    Ok(plan_staged(subscriptions, stages))
}

/// [`plan_with`] for stages already checked.
fn plan_staged(
    subscriptions: &[Subscription],
    stages: &BTreeMap<WatchTarget, Vec<Document>>,
) -> Vec<StreamPlan> {
    // Targets with stages, and the others, which the usual covering applies to.
    let plain: BTreeSet<WatchTarget> = subscriptions
        .iter()
        .map(|s| s.target.clone())
        .filter(|t| !stages.keys().any(|staged| staged.contains(t)))
        .collect();
    let mut by_stream: BTreeMap<WatchTarget, Vec<&Subscription>> = BTreeMap::new();
    for sub in subscriptions {
        match stages.keys().find(|staged| staged.contains(&sub.target)) {
            Some(staged) => by_stream.entry(staged.clone()).or_default().push(sub),
            None => {
                by_stream
                    .entry(covering(&sub.target, &plain))
                    .or_default()
                    .push(sub);
                // Its events in a target with stages come from that target's stream.
                for staged in stages.keys().filter(|st| sub.target.contains(st)) {
                    by_stream.entry(staged.clone()).or_default().push(sub);
                }
            }
        }
    }
    by_stream
        .into_iter()
        .map(|(target, subs)| {
            let full_document = shared_full_document(&subs);
            let before_change = shared_before_change(&subs);
            let carried = Carried {
                post: full_document != FullDocument::Default,
                pre: before_change != FullDocumentBeforeChange::Off,
            };
            let mut branches: Vec<Bson> = subs
                .iter()
                .flat_map(|s| branches(s, &target, carried))
                .map(Bson::Document)
                .collect();
            branches.push(Bson::Document(
                doc! { "operationType": { "$in": LIFECYCLE.to_vec() } },
            ));
            branches.dedup();
            // Namespaces with stages of their own come from their own stream.
            let elsewhere: Vec<Bson> = stages
                .keys()
                .filter(|staged| **staged != target && target.contains(staged))
                .map(|staged| Bson::Document(namespace_match(staged)))
                .collect();
            let matching = if elsewhere.is_empty() {
                doc! { "$or": branches }
            } else {
                doc! { "$and": [{ "$or": branches }, { "$nor": elsewhere }] }
            };
            let mut pipeline = vec![doc! { "$match": matching }];
            pipeline.extend(
                stages
                    .get(&target)
                    .into_iter()
                    .flatten()
                    .map(super::stages::as_run),
            );
            // The targets it is the stream of: its own, and narrower ones.
            let mut targets: Vec<WatchTarget> = Vec::new();
            for sub in &subs {
                if target.contains(&sub.target) && !targets.contains(&sub.target) {
                    targets.push(sub.target.clone());
                }
            }
            StreamPlan {
                snapshots: snapshot_scopes(&targets, &subs),
                id: stream_id(&target),
                pipeline,
                full_document,
                before_change,
                show_expanded_events: subs
                    .iter()
                    .any(|s| s.on.iter().any(|op| matches!(op, OperationType::Other(_)))),
                rules: subs.iter().map(|s| s.rule.clone()).collect(),
                serves_wider: subs.iter().any(|s| !target.contains(&s.target)),
                targets,
                target,
            }
        })
        .collect()
}

/// For each target, the rules of exactly that target that take snapshot
/// events (inserts, not opted out), as one `$match` on the built event:
/// `{}` if one of them takes every insert, else their filters' union.
fn snapshot_scopes(
    targets: &[WatchTarget],
    subs: &[&Subscription],
) -> Vec<super::snapshot::SnapshotScope> {
    let mut scopes: Vec<_> = targets
        .iter()
        .filter_map(|target| {
            let filters: Vec<&Document> = subs
                .iter()
                .filter(|s| {
                    s.target == *target && s.snapshot && s.on.contains(&OperationType::Insert)
                })
                .map(|s| &s.filter)
                .collect();
            let filter = if filters.is_empty() {
                return None;
            } else if filters.iter().any(|f| f.is_empty()) {
                Document::new()
            } else {
                let mut union: Vec<Bson> =
                    filters.into_iter().cloned().map(Bson::Document).collect();
                union.dedup();
                doc! { "$or": union }
            };
            Some(super::snapshot::SnapshotScope {
                target: target.clone(),
                filter,
            })
        })
        .collect();
    scopes.sort_by_key(|s| s.target.to_string());
    scopes
}

/// The events of `target`'s namespaces, as one condition: a collection's own
/// events (its database's `dropDatabase` still reaches the wider stream).
fn namespace_match(target: &WatchTarget) -> Document {
    match target {
        WatchTarget::Cluster => doc! {},
        WatchTarget::Database(db) => doc! { "ns.db": db.as_str() },
        WatchTarget::Collection(ns) => doc! {
            "ns.db": ns.db.as_str(),
            "ns.coll": ns.coll.clone().unwrap_or_default(),
        },
    }
}

/// The `fullDocument` a stream asks for its rules: `required` only when all
/// of them require it (so one rule's requirement cannot fail the stream for
/// the others; herald fails only the requiring rules on an event without a
/// post-image), else a lookup if any asks for one, else the post-image when
/// available if any wants it. One option serves all: beside a lookup, rules
/// that asked for post-images receive the looked-up document on updates
/// (documented in the README, where rules sharing a stream are described).
fn shared_full_document(subs: &[&Subscription]) -> FullDocument {
    let all = |f: FullDocument| subs.iter().all(|s| s.full_document == f);
    let any = |f: FullDocument| subs.iter().any(|s| s.full_document == f);
    if all(FullDocument::Required) {
        FullDocument::Required
    } else if any(FullDocument::UpdateLookup) {
        FullDocument::UpdateLookup
    } else if any(FullDocument::WhenAvailable) || any(FullDocument::Required) {
        FullDocument::WhenAvailable
    } else {
        FullDocument::Default
    }
}

/// The `fullDocumentBeforeChange` a stream asks for its rules: `required`
/// only when all of them require it, else `whenAvailable` if any wants one.
fn shared_before_change(subs: &[&Subscription]) -> FullDocumentBeforeChange {
    if subs
        .iter()
        .all(|s| s.before_change == FullDocumentBeforeChange::Required)
    {
        FullDocumentBeforeChange::Required
    } else if subs
        .iter()
        .any(|s| s.before_change != FullDocumentBeforeChange::Off)
    {
        FullDocumentBeforeChange::WhenAvailable
    } else {
        FullDocumentBeforeChange::Off
    }
}

/// The checkpoint name of the stream on `target`.
pub fn stream_id(target: &WatchTarget) -> String {
    format!("mongodb:{target}")
}

/// The watch target of a stream's checkpoint name, if it is a change stream's.
pub fn stream_target(id: &str) -> Option<WatchTarget> {
    id.strip_prefix("mongodb:")?.parse().ok()
}

/// One line for logs and `herald status`: "12 rules on 3 targets: 1 stream".
pub fn summary(plans: &[StreamPlan]) -> String {
    let rules: usize = plans.iter().map(|p| p.rules.len()).sum();
    let targets: usize = plans.iter().map(|p| p.targets.len()).sum();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "{} on {}: {}",
        plural(rules, "rule"),
        plural(targets, "target"),
        plural(plans.len(), "stream")
    )
}

mod branch;
#[cfg(test)]
mod tests;
