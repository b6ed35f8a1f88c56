//! Snapshots: the documents a target holds when herald first starts it.
//!
//! A change stream sees only what changes after it opens. With
//! `start_at = "snapshot"`, a collection target's first start reads the
//! documents that exist as of one cluster time T and hands each to the rules
//! as an `insert` event with `snapshot: true`; its change stream then starts
//! just after T. Every change after T comes from the stream and every
//! document as of T from the read, so each is seen once: a consistent cut,
//! with no overlap to deduplicate.
//!
//! The read is an `aggregate` with `readConcern: {level: "snapshot",
//! atClusterTime: T}` (MongoDB 5.0+), in `_id` order. The server builds the
//! event (`$replaceWith`), filters it with the union of the filters of the
//! rules that take snapshot events, and applies the target's `stages`, so a
//! field a stage removes never reaches herald from a snapshot either.
//! Progress (T, the collection, the last `_id`) is the stream's checkpoint
//! ([`Position::Snapshot`]): after a crash the read goes on after the last
//! document done, at the same T, and each event's token (and so each
//! effect's idempotency key) is made of the collection, T and the `_id`,
//! the same every time.
//!
//! When the server cannot read at T (`SnapshotTooOld` once a read outlives
//! its history window, or a server without snapshot reads), the read goes on
//! without a point in time, from where it stopped, and the stream still
//! starts after T: nothing is lost, but a document that changed while it was
//! read may be seen twice, as an insert and as its change. That is logged,
//! and the stream counts the changes in that window
//! ([`StreamNotice::SnapshotOverlap`]).

use super::errors::{ErrorClass, classify, describe};
use super::options::MongoSourceOptions;
use crate::source::{Batch, SourceError, SourcedEvent, StreamNotice};
use bson::{Bson, Document, RawDocumentBuf, Timestamp, doc};
use futures_util::TryStreamExt;
use herald_core::{ChangeEvent, Namespace, Position, WatchTarget};
use mongodb::Client;
use std::sync::Arc;
use tokio::sync::mpsc;

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

/// One collection a snapshot reads, and what of it the rules want.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotScope {
    /// The collection.
    pub ns: Namespace,
    /// The `$match` on the built event: the union of the filters of the
    /// rules that take its snapshot events (`{}` when one takes them all).
    pub filter: Document,
}

/// The pipeline that reads `ns` as change events, after `after` (an `_id`).
///
/// ```
/// use bson::{doc, Timestamp};
/// use herald_ingest::mongo::snapshot::{SnapshotScope, pipeline};
/// let scope = SnapshotScope { ns: "shop.orders".parse().unwrap(), filter: doc! {} };
/// let at = Timestamp { time: 1_700_000_000, increment: 3 };
/// let stages = pipeline(&scope, at, Some(&bson::Bson::Int32(7)), &[]);
/// // After 7: larger numbers, and every `_id` of a type the server sorts after numbers.
/// let after = stages[0].get_document("$match").unwrap().get_array("$or").unwrap();
/// assert_eq!(after[0], bson::Bson::Document(doc! { "_id": { "$gt": 7 } }));
/// assert_eq!(after[1].as_document().unwrap().get_document("_id").unwrap().get_array("$type").unwrap().len(), 10);
/// assert_eq!(stages[1], doc! { "$sort": { "_id": 1 } });
/// assert_eq!(stages.len(), 3, "no filter stage when every document is wanted");
/// ```
pub fn pipeline(
    scope: &SnapshotScope,
    at: Timestamp,
    after: Option<&Bson>,
    stages: &[Document],
) -> Vec<Document> {
    let mut pipeline = Vec::with_capacity(4 + stages.len());
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
    let ns = scope.ns.to_string();
    pipeline.push(doc! { "$replaceWith": {
        "_id": { "snapshot": { "$literal": ns }, "at": { "$literal": at }, "id": "$_id" },
        "operationType": { "$literal": "insert" },
        "clusterTime": { "$literal": at },
        "ns": { "$literal": { "db": &scope.ns.db, "coll": scope.ns.coll.as_deref().unwrap_or_default() } },
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

/// Why a read stopped short.
enum ReadError {
    /// The engine went away.
    Gone,
    /// The server or the connection failed.
    Server(mongodb::error::Error),
    /// The server sent something herald cannot use (permanent).
    Bad(String),
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

/// Reads one stream's snapshot and hands it to the engine, batch by batch.
pub struct SnapshotJob {
    /// The stream's name.
    pub id: Arc<str>,
    /// What the stream watches (the batches' scope).
    pub target: WatchTarget,
    /// The client.
    pub client: Client,
    /// The point in time.
    pub at: Timestamp,
    /// The collections, in name order.
    pub scopes: Vec<SnapshotScope>,
    /// The stream's stages (they apply to its snapshot events too).
    pub stages: Vec<Document>,
    /// Where a crashed read stopped: its collection and last `_id`.
    pub resume: Option<(String, Option<Bson>)>,
    /// Options (batch size, backoff).
    pub options: MongoSourceOptions,
    /// Where batches go.
    pub tx: mpsc::Sender<Result<Batch, SourceError>>,
}

impl SnapshotJob {
    /// Reads every collection after the resume point, then says how it ended.
    pub async fn run(self) -> SnapshotEnd {
        let mut fallback: Option<String> = None;
        let resume_ns = self.resume.as_ref().map(|(ns, _)| ns.clone());
        for scope in &self.scopes {
            let ns = scope.ns.to_string();
            if resume_ns.as_ref().is_some_and(|r| ns < *r) {
                continue;
            }
            let mut after = match &self.resume {
                Some((r, after)) if *r == ns => after.clone(),
                _ => None,
            };
            let mut attempt = 0;
            let mut read = 0;
            loop {
                let at = fallback.is_none().then_some(self.at);
                let error = match self.read(scope, at, &mut after, &mut read).await {
                    Ok(()) => {
                        tracing::info!(target: PROGRESS_TARGET, stream = %self.id, %ns, documents = read, "snapshot of {ns} read: {read} documents");
                        break;
                    }
                    Err(ReadError::Gone) => return SnapshotEnd::Stopped,
                    Err(ReadError::Bad(reason)) => {
                        let reason = format!("snapshot of {ns}: {reason}");
                        let _ = self.tx.send(Err(SourceError::Snapshot(reason))).await;
                        return SnapshotEnd::Stopped;
                    }
                    Err(ReadError::Server(error)) => error,
                };
                if at.is_some() && refuses_point_in_time(&error) {
                    let reason = describe(&error);
                    tracing::warn!(stream = %self.id, %ns, %reason, "cannot read the snapshot at its point in time; reading on at the current time, so documents changed meanwhile may be seen twice");
                    fallback = Some(reason);
                    continue;
                }
                if at.is_some() && unavailable(&error) {
                    // The collection was created after T: it had nothing then.
                    break;
                }
                if classify(&error) != ErrorClass::Retry {
                    let reason = format!("snapshot of {ns}: {}", describe(&error));
                    let _ = self.tx.send(Err(SourceError::Snapshot(reason))).await;
                    return SnapshotEnd::Stopped;
                }
                attempt += 1;
                let wait = herald_core::backoff::delay(
                    self.options.initial_backoff,
                    self.options.max_backoff,
                    attempt,
                );
                tracing::warn!(stream = %self.id, %ns, attempt, wait_ms = wait.as_millis() as u64, error = %error, "snapshot read failed; going on from the last document");
                let retrying = StreamNotice::Retrying {
                    error: error.to_string(),
                    attempt,
                };
                if !self.send(Vec::new(), None, vec![retrying]).await {
                    return SnapshotEnd::Stopped;
                }
                tokio::time::sleep(wait).await;
            }
        }
        match fallback {
            None => SnapshotEnd::Consistent,
            Some(reason) => match self.server_time().await {
                Some(until) => SnapshotEnd::Fallback { until, reason },
                None => SnapshotEnd::Stopped,
            },
        }
    }

    /// Reads `scope` after `after`, at `at` (or now), advancing `after` past
    /// each document handed on.
    async fn read(
        &self,
        scope: &SnapshotScope,
        at: Option<Timestamp>,
        after: &mut Option<Bson>,
        read: &mut u64,
    ) -> Result<(), ReadError> {
        let stages = &self.stages;
        let time = at.unwrap_or(self.at);
        let mut command = doc! {
            "aggregate": scope.ns.coll.as_deref().unwrap_or_default(),
            "pipeline": pipeline(scope, time, after.as_ref(), stages),
            "cursor": { "batchSize": self.options.max_batch as i64 },
        };
        if let Some(at) = at {
            command.insert(
                "readConcern",
                doc! { "level": "snapshot", "atClusterTime": at },
            );
        }
        let raw = RawDocumentBuf::from_document(&command)
            .map_err(|e| ReadError::Bad(format!("cannot encode the read: {e}")))?;
        let mut cursor = self
            .client
            .database(&scope.ns.db)
            .run_raw_cursor_command(raw)
            .batch_size(self.options.max_batch as u32)
            .await
            .map_err(ReadError::Server)?
            .with_type::<RawDocumentBuf>();
        let mut events = Vec::with_capacity(self.options.max_batch);
        let mut last = after.clone();
        while let Some(raw) = cursor.try_next().await.map_err(ReadError::Server)? {
            let event = ChangeEvent::from_raw(raw).map_err(|e| {
                ReadError::Bad(format!("a document is not a change event once built: {e}"))
            })?;
            let id = event
                .document_key()
                .and_then(|k| k.get("_id").ok().flatten())
                .and_then(|id| Bson::try_from(id.to_raw_bson()).ok());
            let position = position(self.at, &scope.ns, id.as_ref());
            last = id;
            events.push(SourcedEvent { event, position });
            *read += 1;
            if read.is_multiple_of(PROGRESS_EVERY) {
                tracing::info!(target: PROGRESS_TARGET, stream = %self.id, ns = %scope.ns, documents = *read, "snapshot of {}: {read} documents read", scope.ns);
            }
            if events.len() >= self.options.max_batch {
                let end = events.last().map(|e| e.position.clone());
                if !self
                    .send(std::mem::take(&mut events), end, Vec::new())
                    .await
                {
                    return Err(ReadError::Gone);
                }
                after.clone_from(&last);
            }
        }
        if !events.is_empty() {
            let end = events.last().map(|e| e.position.clone());
            if !self.send(events, end, Vec::new()).await {
                return Err(ReadError::Gone);
            }
            after.clone_from(&last);
        }
        Ok(())
    }

    async fn send(
        &self,
        events: Vec<SourcedEvent>,
        end: Option<Position>,
        notices: Vec<StreamNotice>,
    ) -> bool {
        let batch = Batch {
            stream: self.id.clone(),
            events,
            end,
            notices,
            scope: Some(self.target.clone()),
            ..Batch::default()
        };
        self.tx.send(Ok(batch)).await.is_ok()
    }

    /// The server's time now (a ping's `operationTime`).
    async fn server_time(&self) -> Option<Timestamp> {
        let reply = self
            .client
            .database("admin")
            .run_command(doc! { "ping": 1 })
            .await;
        match reply.map(|r| r.get_timestamp("operationTime").ok()) {
            Ok(Some(time)) => Some(time),
            Ok(None) | Err(_) => {
                let reason =
                    "cannot read the server's time after a snapshot read without a point in time"
                        .to_owned();
                let _ = self.tx.send(Err(SourceError::Snapshot(reason))).await;
                None
            }
        }
    }
}

/// The checkpoint after the document with `_id` `id` of `ns` (at its start
/// when `None`).
pub fn position(at: Timestamp, ns: &Namespace, id: Option<&Bson>) -> Position {
    Position::Snapshot {
        at: [at.time, at.increment],
        ns: ns.to_string(),
        after: id
            .and_then(|id| bson::to_vec(&doc! { "_id": id.clone() }).ok())
            .unwrap_or_default(),
    }
}

/// True for the errors of a server that cannot read at the point in time
/// but can read: the history window has passed it (`SnapshotTooOld`), or
/// it has no snapshot reads outside transactions (`InvalidOptions`).
pub fn refuses_point_in_time(error: &mongodb::error::Error) -> bool {
    matches!(
        error.kind.as_ref(),
        mongodb::error::ErrorKind::Command(c) if c.code == SNAPSHOT_TOO_OLD || c.code == INVALID_OPTIONS
    )
}

fn unavailable(error: &mongodb::error::Error) -> bool {
    matches!(
        error.kind.as_ref(),
        mongodb::error::ErrorKind::Command(c) if c.code == SNAPSHOT_UNAVAILABLE
    )
}
