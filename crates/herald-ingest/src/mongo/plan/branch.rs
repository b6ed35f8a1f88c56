//! One rule's part of a stream's `$match`.
//!
//! Each rule contributes a branch: its operation types, its namespace where
//! the stream is wider than its target, and its filter, except where the
//! filter reads an image the stream carries for another rule and this rule
//! never sees (herald-engine's `view` hides it); there the filter is left
//! to herald.

use super::Subscription;
use bson::{Bson, Document, doc};
use herald_core::{FullDocument, FullDocumentBeforeChange, OperationType, WatchTarget};

/// The images a stream asks the server for beyond what every event has:
/// `fullDocument` on updates (a lookup or the post-image), and
/// `fullDocumentBeforeChange`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Carried {
    pub(super) post: bool,
    pub(super) pre: bool,
}

/// One rule's part of the `$match`: its operation types, its namespace where
/// the stream is wider than its target, and its filter, as one branch or two.
///
/// A rule that did not ask for an image the stream carries for another rule
/// never sees it: herald hides it before the rule's filter runs (so adding a
/// rule elsewhere cannot change what this one receives). The server sees the
/// image, though, and would test the filter against it, dropping events the
/// rule matches without it. So on the operation types where such an image
/// can appear, a filter that reads it is left to herald: the branch keeps
/// only the operation types and namespace there, which lets through every
/// event the rule can match, and herald filters the rest out locally.
pub(super) fn branches(
    sub: &Subscription,
    stream: &WatchTarget,
    carried: Carried,
) -> Vec<Document> {
    let hidden_post = carried.post
        && sub.full_document == FullDocument::Default
        && reads(&sub.filter, "fullDocument");
    let hidden_pre = carried.pre
        && sub.before_change == FullDocumentBeforeChange::Off
        && reads(&sub.filter, "fullDocumentBeforeChange");
    // Only updates carry a looked-up document the rule does not see; any
    // change to an existing document may carry the image before it.
    let (blind, seeing): (Vec<OperationType>, Vec<OperationType>) =
        sub.on.iter().cloned().partition(|op| {
            (hidden_post && *op == OperationType::Update) || (hidden_pre && may_carry_pre_image(op))
        });
    if blind.is_empty() {
        return vec![branch(sub, stream, &sub.on, &sub.filter)];
    }
    let mut out = Vec::new();
    if !seeing.is_empty() {
        out.push(branch(sub, stream, &seeing, &sub.filter));
    }
    out.push(branch(sub, stream, &blind, &Document::new()));
    out
}

/// False only for the operation types that never carry `fullDocumentBeforeChange`.
fn may_carry_pre_image(op: &OperationType) -> bool {
    !matches!(
        op,
        OperationType::Insert
            | OperationType::Drop
            | OperationType::Rename
            | OperationType::DropDatabase
            | OperationType::Invalidate
    )
}

/// True if `filter` may read the event's field `image` (or a path inside it).
/// Logical operators are followed; any other top-level operator (`$expr`,
/// `$where`, `$jsonSchema`, `$text`, ...) counts as reading it, since it can
/// read the whole event.
///
/// ```text
/// {"fullDocument.a": 1}                     reads fullDocument
/// {"$or": [{"ns.coll": "x"}, {"fullDocument": null}]}   reads fullDocument
/// {"$expr": {...}}                          reads everything
/// {"fullDocumentBeforeChange.a": 1}         does not read fullDocument
/// ```
pub(super) fn reads(filter: &Document, image: &str) -> bool {
    filter.iter().any(|(key, value)| match key.as_str() {
        "$and" | "$or" | "$nor" => match value {
            Bson::Array(clauses) => clauses.iter().any(|clause| match clause {
                Bson::Document(clause) => reads(clause, image),
                _ => true,
            }),
            _ => true,
        },
        "$comment" => false,
        operator if operator.starts_with('$') => true,
        path => {
            path == image
                || path
                    .strip_prefix(image)
                    .is_some_and(|rest| rest.starts_with('.'))
        }
    })
}

/// One branch: the operation types `on`, the rule's namespace where the
/// stream is wider than its target, and `filter`.
fn branch(
    sub: &Subscription,
    stream: &WatchTarget,
    on: &[OperationType],
    filter: &Document,
) -> Document {
    let kinds: Vec<&str> = on.iter().map(OperationType::as_str).collect();
    let mut parts = vec![Bson::Document(doc! { "operationType": { "$in": kinds } })];
    if sub.target != *stream {
        parts.extend(namespace_of(&sub.target).into_iter().map(Bson::Document));
    }
    if !filter.is_empty() {
        parts.push(Bson::Document(filter.clone()));
    }
    match parts.len() {
        1 => match parts.pop() {
            Some(Bson::Document(only)) => only,
            _ => unreachable!("one document part"),
        },
        _ => doc! { "$and": parts },
    }
}

/// The conditions that keep a wider stream's events to `target`'s namespace.
/// A collection target also receives its database's `dropDatabase`, whose
/// `ns` has no `coll` (MongoDB's `null` matches a missing field).
fn namespace_of(target: &WatchTarget) -> Vec<Document> {
    match target {
        WatchTarget::Cluster => Vec::new(),
        WatchTarget::Database(db) => vec![doc! { "ns.db": db.as_str() }],
        WatchTarget::Collection(ns) => vec![
            doc! { "ns.db": ns.db.as_str() },
            doc! { "ns.coll": { "$in": [Bson::String(ns.coll.clone().unwrap_or_default()), Bson::Null] } },
        ],
    }
}
