//! Many rules, few streams.
//!
//! Rules that watch the same target share one change stream (a node serves
//! about a thousand before it suffers). The stream's pipeline is one
//! `$match`: the union (`$or`) of each rule's filter restricted to the
//! operation types it names, plus the lifecycle events (drop, rename,
//! dropDatabase, invalidate) that herald must always see. The server then
//! sends only events some rule can match; herald routes each one locally to
//! exactly the rules whose filter it matches.

use bson::{Bson, Document, doc};
use herald_core::{FullDocument, OperationType, WatchTarget};
use std::collections::BTreeMap;

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
    /// The `fullDocumentBeforeChange` option it needs (`whenAvailable`, `required`).
    pub before_change: Option<String>,
}

/// One change stream and what it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamPlan {
    /// The stream's checkpoint name: `mongodb:<target>`.
    pub id: String,
    /// What it watches.
    pub target: WatchTarget,
    /// The stages after `$changeStream`.
    pub pipeline: Vec<Document>,
    /// The strongest `fullDocument` any of its rules needs.
    pub full_document: FullDocument,
    /// The strongest `fullDocumentBeforeChange` any of its rules needs.
    pub before_change: Option<String>,
    /// The rules it serves.
    pub rules: Vec<String>,
}

/// Operation types every stream delivers, whatever its rules say.
pub const LIFECYCLE: [&str; 4] = ["drop", "rename", "dropDatabase", "invalidate"];

fn strength(before: &Option<String>) -> u8 {
    match before.as_deref() {
        Some("required") => 2,
        Some("whenAvailable") => 1,
        _ => 0,
    }
}

/// Groups subscriptions by watch target, one stream each, in target order.
///
/// ```
/// use bson::doc;
/// use herald_core::{FullDocument, OperationType};
/// use herald_ingest::mongo::{Subscription, plan};
/// let sub = |rule: &str, filter| Subscription {
///     rule: rule.into(), target: "shop.orders".parse().unwrap(), on: vec![OperationType::Insert],
///     filter, full_document: FullDocument::Default, before_change: None,
/// };
/// let plans = plan(&[sub("a", doc! {"fullDocument.total": {"$gt": 10}}), sub("b", doc! {})]);
/// assert_eq!(plans.len(), 1);
/// assert_eq!(plans[0].rules, ["a", "b"]);
/// ```
pub fn plan(subscriptions: &[Subscription]) -> Vec<StreamPlan> {
    let mut by_target: BTreeMap<WatchTarget, Vec<&Subscription>> = BTreeMap::new();
    for sub in subscriptions {
        by_target.entry(sub.target.clone()).or_default().push(sub);
    }
    by_target
        .into_iter()
        .map(|(target, subs)| {
            let mut branches: Vec<Bson> = subs.iter().map(|s| Bson::Document(branch(s))).collect();
            branches.push(Bson::Document(
                doc! { "operationType": { "$in": LIFECYCLE.to_vec() } },
            ));
            branches.dedup();
            StreamPlan {
                id: format!("mongodb:{target}"),
                pipeline: vec![doc! { "$match": { "$or": branches } }],
                full_document: subs
                    .iter()
                    .map(|s| s.full_document)
                    .max()
                    .unwrap_or_default(),
                before_change: subs
                    .iter()
                    .map(|s| s.before_change.clone())
                    .max_by_key(strength)
                    .flatten(),
                rules: subs.iter().map(|s| s.rule.clone()).collect(),
                target,
            }
        })
        .collect()
}

/// One rule's part of the `$match`: its operation types and its filter.
fn branch(sub: &Subscription) -> Document {
    let kinds: Vec<&str> = sub.on.iter().map(OperationType::as_str).collect();
    let on = doc! { "operationType": { "$in": kinds } };
    if sub.filter.is_empty() {
        on
    } else {
        doc! { "$and": [on, sub.filter.clone()] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(
        rule: &str,
        target: &str,
        on: &[&str],
        filter: Document,
        full: FullDocument,
    ) -> Subscription {
        Subscription {
            rule: rule.into(),
            target: target.parse().unwrap(),
            on: on.iter().map(|o| OperationType::parse(o)).collect(),
            filter,
            full_document: full,
            before_change: None,
        }
    }

    #[test]
    fn rules_on_one_target_share_a_stream() {
        let plans = plan(&[
            sub(
                "a",
                "shop.orders",
                &["insert"],
                doc! {"fullDocument.total": {"$gt": 10}},
                FullDocument::Default,
            ),
            sub(
                "b",
                "shop.orders",
                &["update"],
                doc! {},
                FullDocument::UpdateLookup,
            ),
            sub(
                "c",
                "shop.orders",
                &["delete"],
                doc! {},
                FullDocument::Default,
            ),
        ]);
        assert_eq!(plans.len(), 1);
        let p = &plans[0];
        assert_eq!(p.id, "mongodb:shop.orders");
        assert_eq!(p.full_document, FullDocument::UpdateLookup);
        assert_eq!(
            p.pipeline,
            vec![doc! {"$match": {"$or": [
                {"$and": [{"operationType": {"$in": ["insert"]}}, {"fullDocument.total": {"$gt": 10}}]},
                {"operationType": {"$in": ["update"]}},
                {"operationType": {"$in": ["delete"]}},
                {"operationType": {"$in": ["drop", "rename", "dropDatabase", "invalidate"]}},
            ]}}]
        );
    }

    #[test]
    fn different_targets_get_different_streams() {
        let plans = plan(&[
            sub(
                "a",
                "shop.orders",
                &["insert"],
                doc! {},
                FullDocument::Default,
            ),
            sub("b", "hr", &["insert"], doc! {}, FullDocument::Default),
            sub("c", "*", &["insert"], doc! {}, FullDocument::Default),
        ]);
        let ids: Vec<&str> = plans.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["mongodb:shop.orders", "mongodb:hr", "mongodb:*"]);
    }

    #[test]
    fn the_pushed_down_match_keeps_every_event_a_rule_matches() {
        // Whatever a rule's filter accepts, the stream's $match must accept too.
        let subs = [
            sub(
                "a",
                "d.c",
                &["insert"],
                doc! {"fullDocument.n": {"$gte": 5}},
                FullDocument::Default,
            ),
            sub(
                "b",
                "d.c",
                &["update"],
                doc! {"updateDescription.updatedFields.s": "x"},
                FullDocument::Default,
            ),
        ];
        let stream = herald_core::Filter::compile(
            plan(&subs)[0].pipeline[0].get_document("$match").unwrap(),
        )
        .unwrap();
        let events = [
            doc! {"operationType": "insert", "fullDocument": {"n": 7}},
            doc! {"operationType": "update", "updateDescription": {"updatedFields": {"s": "x"}}},
            doc! {"operationType": "drop"},
            doc! {"operationType": "invalidate"},
        ];
        for e in &events {
            assert!(
                stream.matches(&bson::RawDocumentBuf::from_document(e).unwrap()),
                "{e}"
            );
        }
        let rejected = doc! {"operationType": "insert", "fullDocument": {"n": 1}};
        assert!(!stream.matches(&bson::RawDocumentBuf::from_document(&rejected).unwrap()));
    }
}
