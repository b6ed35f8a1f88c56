//! Snapshots: the documents a target holds when herald first starts it.
//!
//! A change stream sees only what changes after it opens. With
//! `start_at = "snapshot"`, a target's first start reads the documents that
//! exist as of one cluster time T (a collection's, or every collection's of
//! a database or the cluster) and hands each to the target's rules as an
//! `insert` event with `snapshot: true`; its change stream then starts just
//! after T. Every change after T comes from the stream and every document as
//! of T from the read, so each is seen once: a consistent cut, with no
//! overlap to deduplicate.
//!
//! The read is an `aggregate` with `readConcern: {level: "snapshot",
//! atClusterTime: T}` (MongoDB 5.0+), collection by collection in name
//! order and in `_id` order within each. The server builds the event
//! (`$replaceWith`), filters it with the union of the filters of the rules
//! that take snapshot events (first on the documents where that rewrites,
//! see [`super::pushdown`]), and applies the stream's `stages`, so a field a
//! stage removes never reaches herald from a snapshot either. Progress (T,
//! the target, the collection, the last `_id`) is the stream's checkpoint
//! ([`Position::Snapshot`]): after a crash the read goes on after the last
//! document done, at the same T, and each event's token (and so each
//! effect's idempotency key) is made of the target, the collection, T and
//! the `_id`, the same every time.
//!
//! When the server cannot read at T (`SnapshotTooOld` once a read outlives
//! its history window, or a server without snapshot reads), the read goes on
//! without a point in time, from where it stopped, and the stream still
//! starts after T: nothing is lost, but a document that changed while it was
//! read may be seen twice, as an insert and as its change. That is logged,
//! and the stream counts the changes in that window
//! ([`StreamNotice::SnapshotOverlap`](crate::StreamNotice::SnapshotOverlap)).

pub mod job;

pub use job::SnapshotJob;

use bson::{Bson, Document, Timestamp, doc};
use herald_core::{Namespace, Position, WatchTarget};

/// `SnapshotTooOld`: the point in time has left the server's history window.
pub const SNAPSHOT_TOO_OLD: i32 = 239;
/// `InvalidOptions`: how servers without snapshot reads outside transactions
/// (before 5.0) refuse `atClusterTime`.
pub const INVALID_OPTIONS: i32 = 72;
/// `SnapshotUnavailable`: the collection did not exist yet at the point in time.
pub const SNAPSHOT_UNAVAILABLE: i32 = 246;

/// The log target of snapshot progress lines (shown by default).
pub const PROGRESS_TARGET: &str = "herald::snapshot";

/// A progress line every this many documents (and one per collection read).
pub const PROGRESS_EVERY: u64 = 10_000;

/// Databases a cluster snapshot does not read: the server's own.
pub const SYSTEM_DATABASES: [&str; 3] = ["admin", "config", "local"];

/// One watch target a snapshot reads, and what of it the rules want.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotScope {
    /// The target: a collection, a database's collections, or the cluster's.
    pub target: WatchTarget,
    /// The `$match` on the built event: the union of the filters of the
    /// target's rules that take snapshot events (`{}` when one takes them all).
    pub filter: Document,
}

/// The pipeline that reads `ns` as change events of `target`'s snapshot at
/// `at`, after the `_id` `after`.
///
/// ```
/// use bson::{doc, Timestamp};
/// use herald_ingest::mongo::snapshot::{SnapshotScope, pipeline};
/// let scope = SnapshotScope { target: "shop".parse().unwrap(), filter: doc! {} };
/// let at = Timestamp { time: 1_700_000_000, increment: 3 };
/// let ns = "shop.orders".parse().unwrap();
/// let stages = pipeline(&scope, &ns, at, Some(&bson::Bson::Int32(7)), &[]);
/// // After 7: larger numbers, and every `_id` of a type the server sorts after numbers.
/// let after = stages[0].get_document("$match").unwrap().get_array("$or").unwrap();
/// assert_eq!(after[0], bson::Bson::Document(doc! { "_id": { "$gt": 7 } }));
/// assert_eq!(after[1].as_document().unwrap().get_document("_id").unwrap().get_array("$type").unwrap().len(), 10);
/// assert_eq!(stages[1], doc! { "$sort": { "_id": 1 } });
/// assert_eq!(stages.len(), 3, "no filter stage when every document is wanted");
/// ```
pub fn pipeline(
    scope: &SnapshotScope,
    ns: &Namespace,
    at: Timestamp,
    after: Option<&Bson>,
    stages: &[Document],
) -> Vec<Document> {
    let mut pipeline = Vec::with_capacity(5 + stages.len());
    if let Some(after) = after {
        pipeline.push(doc! { "$match": after_id(after) });
    }
    // What the documents must hold, where the server can tell before
    // building events (and use an index); the exact filter follows.
    if let Some(documents) = super::pushdown::on_documents(&scope.filter).filter(|d| !d.is_empty())
    {
        pipeline.push(doc! { "$match": documents });
    }
    pipeline.push(doc! { "$sort": { "_id": 1 } });
    pipeline.push(doc! { "$replaceWith": {
        "_id": {
            "snapshot": { "$literal": scope.target.to_string() },
            "ns": { "$literal": ns.to_string() },
            "at": { "$literal": at },
            "id": "$_id",
        },
        "operationType": { "$literal": "insert" },
        "clusterTime": { "$literal": at },
        "ns": { "$literal": { "db": &ns.db, "coll": ns.coll.as_deref().unwrap_or_default() } },
        "documentKey": { "_id": "$_id" },
        "fullDocument": "$$ROOT",
        "snapshot": { "$literal": true },
    }});
    if !scope.filter.is_empty() {
        pipeline.push(doc! { "$match": scope.filter.clone() });
    }
    pipeline.extend(stages.iter().cloned());
    pipeline
}

/// BSON types in the order the server sorts them, as `$type` aliases; a
/// query's `$gt` compares only within one group, so a read that goes on
/// after an `_id` also takes every `_id` of a later group.
const TYPE_ORDER: [&[&str]; 12] = [
    &["minKey"],
    &["null"],
    &["double", "int", "long", "decimal"],
    &["string", "symbol"],
    &["object"],
    &["binData"],
    &["objectId"],
    &["bool"],
    &["date"],
    &["timestamp"],
    &["regex"],
    &["maxKey"],
];

/// The filter for `_id`s after `after` in the server's sort order.
fn after_id(after: &Bson) -> Document {
    let alias = match after {
        Bson::MinKey => "minKey",
        Bson::Null => "null",
        Bson::Double(_) => "double",
        Bson::Int32(_) => "int",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        Bson::String(_) | Bson::Symbol(_) => "string",
        Bson::Document(_) => "object",
        Bson::Binary(_) => "binData",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Timestamp(_) => "timestamp",
        Bson::RegularExpression(_) => "regex",
        _ => "maxKey",
    };
    let group = TYPE_ORDER
        .iter()
        .position(|g| g.contains(&alias))
        .unwrap_or(TYPE_ORDER.len() - 1);
    let later: Vec<Bson> = TYPE_ORDER[group + 1..]
        .iter()
        .flat_map(|g| g.iter().map(|a| Bson::from(*a)))
        .collect();
    let mut branches = vec![Bson::from(doc! { "_id": { "$gt": after.clone() } })];
    if !later.is_empty() {
        branches.push(Bson::from(doc! { "_id": { "$type": later } }));
    }
    doc! { "$or": branches }
}

/// How a snapshot ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotEnd {
    /// Every document was read as of T: the stream starts just after T.
    Consistent,
    /// The read went on without a point in time (`reason`) and ended at
    /// `until`: changes from T to `until` may repeat documents read.
    Fallback {
        /// The server's time when the read ended.
        until: Timestamp,
        /// Why it could not read at T.
        reason: String,
    },
    /// The engine went away or the read failed for good (already reported).
    Stopped,
}

/// The checkpoint after the document with `_id` `id` of `ns`, in `target`'s
/// snapshot at `at` (at the collection's start when `None`).
pub fn position(
    at: Timestamp,
    target: &WatchTarget,
    ns: &Namespace,
    id: Option<&Bson>,
) -> Position {
    Position::Snapshot {
        at: [at.time, at.increment],
        target: target.to_string(),
        ns: ns.to_string(),
        after: id
            .and_then(|id| bson::to_vec(&doc! { "_id": id.clone() }).ok())
            .unwrap_or_default(),
    }
}

/// True if the point in time is lost for every later read too (the history
/// window has passed it, or the server has no such reads), not only for one
/// collection whose catalog changed since (`SnapshotUnavailable`).
pub fn lost_for_all(error: &mongodb::error::Error) -> bool {
    matches!(
        error.kind.as_ref(),
        mongodb::error::ErrorKind::Command(c) if c.code != SNAPSHOT_UNAVAILABLE
    )
}

/// True for the errors of a server that cannot read at the point in time
/// but can read: the history window has passed it (`SnapshotTooOld`), it
/// has no snapshot reads outside transactions (`InvalidOptions`), or the
/// collection's catalog changed since (`SnapshotUnavailable`, which is not
/// proof that it had no documents then).
pub fn refuses_point_in_time(error: &mongodb::error::Error) -> bool {
    matches!(
        error.kind.as_ref(),
        mongodb::error::ErrorKind::Command(c)
            if [SNAPSHOT_TOO_OLD, INVALID_OPTIONS, SNAPSHOT_UNAVAILABLE].contains(&c.code)
    )
}
