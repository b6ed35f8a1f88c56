//! [`SnapshotJob`]: one stream's snapshot, read and handed to the engine.

use super::{
    PROGRESS_EVERY, PROGRESS_TARGET, SYSTEM_DATABASES, SnapshotEnd, SnapshotScope, lost_for_all,
    pipeline, position, refuses_point_in_time,
};
use crate::mongo::errors::{ErrorClass, classify, describe};
use crate::mongo::options::MongoSourceOptions;
use crate::source::{Batch, SourceError, SourcedEvent, StreamNotice};
use bson::{Bson, Document, RawDocumentBuf, Timestamp, doc};
use futures_util::TryStreamExt;
use herald_core::{ChangeEvent, Namespace, Position, WatchTarget};
use mongodb::Client;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Where a crashed read stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    /// The target whose snapshot it was reading.
    pub target: String,
    /// The collection.
    pub ns: String,
    /// The last `_id` done there (`None`: none yet).
    pub after: Option<Bson>,
}

impl Resume {
    /// The resume point a snapshot checkpoint stands for.
    pub fn of(position: &Position) -> Option<(Timestamp, Self)> {
        let Position::Snapshot { at, target, ns, .. } = position else {
            return None;
        };
        let at = Timestamp {
            time: at[0],
            increment: at[1],
        };
        let resume = Self {
            target: target.clone(),
            ns: ns.clone(),
            after: position.snapshot_after(),
        };
        Some((at, resume))
    }
}

/// What a snapshot read without its point in time.
#[derive(Default)]
struct Fallback {
    /// Why (the first refusal): the changes meanwhile are counted.
    reason: Option<String>,
    /// The point in time is lost for every later read (the history window
    /// passed it), not only for one collection.
    for_all: bool,
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
    /// The targets to read, in name order.
    pub scopes: Vec<SnapshotScope>,
    /// Only the collections within this target (`herald backfill --target`).
    pub within: Option<WatchTarget>,
    /// The stream's stages (they apply to its snapshot events too).
    pub stages: Vec<Document>,
    /// Where a crashed read stopped.
    pub resume: Option<Resume>,
    /// Options (batch size, backoff).
    pub options: MongoSourceOptions,
    /// Where batches go.
    pub tx: mpsc::Sender<Result<Batch, SourceError>>,
}

impl SnapshotJob {
    /// Reads every collection after the resume point, then says how it ended.
    pub async fn run(self) -> SnapshotEnd {
        let mut fallback = Fallback::default();
        for scope in &self.scopes {
            let target = scope.target.to_string();
            let collections = match self.collections(&scope.target).await {
                Ok(collections) => collections,
                Err(Some(reason)) => {
                    let reason = format!("snapshot of {target}: {reason}");
                    let _ = self.tx.send(Err(SourceError::Snapshot(reason))).await;
                    return SnapshotEnd::Stopped;
                }
                Err(None) => return SnapshotEnd::Stopped,
            };
            for ns in collections {
                let mut after = None;
                if let Some(resume) = &self.resume {
                    // In the order of the read: target, database, collection
                    // (not "db.coll" as text: `app-x` sorts before `app.`).
                    let stopped: Option<Namespace> = resume.ns.parse().ok();
                    let key = (target.as_str(), ns.db.as_str(), ns.coll.as_deref());
                    let at = (
                        resume.target.as_str(),
                        stopped.as_ref().map_or("", |n| n.db.as_str()),
                        stopped.as_ref().and_then(|n| n.coll.as_deref()),
                    );
                    match key.cmp(&at) {
                        std::cmp::Ordering::Less => continue,
                        std::cmp::Ordering::Equal => after.clone_from(&resume.after),
                        std::cmp::Ordering::Greater => {}
                    }
                }
                match self.collection(scope, &ns, after, &mut fallback).await {
                    Some(()) => {}
                    None => return SnapshotEnd::Stopped,
                }
            }
        }
        let end = match fallback.reason {
            None => SnapshotEnd::Consistent,
            Some(reason) => match self.server_time().await {
                Some(until) => SnapshotEnd::Fallback { until, reason },
                None => return SnapshotEnd::Stopped,
            },
        };
        // Read whole: the checkpoint says so, so no later start reads it
        // again (past the server's history window that would repeat
        // documents), and the stream goes on after its time.
        let done = Position::SnapshotDone {
            at: [self.at.time, self.at.increment],
        };
        if !self.send(Vec::new(), Some(done), Vec::new()).await {
            return SnapshotEnd::Stopped;
        }
        end
    }

    /// The collections of `target` to read, in name order; `Err(Some)` with
    /// why they cannot be listed, `Err(None)` when the engine went away
    /// while retrying.
    async fn collections(&self, target: &WatchTarget) -> Result<Vec<Namespace>, Option<String>> {
        let mut attempt = 0;
        loop {
            let listed = match target {
                WatchTarget::Collection(ns) => Ok(vec![ns.clone()]),
                WatchTarget::Database(db) => self.collections_of(db).await,
                WatchTarget::Cluster => self.every_collection().await,
            };
            match listed {
                Ok(mut all) => {
                    all.retain(|ns| self.within.as_ref().is_none_or(|w| w.covers(ns)));
                    return Ok(all);
                }
                Err(error) if classify(&error) == ErrorClass::Retry => {
                    attempt += 1;
                    if !self.wait_to_retry(&error, attempt).await {
                        return Err(None);
                    }
                }
                Err(error) => return Err(Some(describe(&error))),
            }
        }
    }

    async fn collections_of(&self, db: &str) -> mongodb::error::Result<Vec<Namespace>> {
        let mut names = self
            .client
            .database(db)
            .list_collection_names()
            .filter(doc! { "type": "collection" })
            .await?;
        // The server's own collections (`system.*`) hold no application documents.
        names.retain(|n| !n.starts_with("system."));
        names.sort();
        Ok(names
            .into_iter()
            .map(|coll| Namespace {
                db: db.to_owned(),
                coll: Some(coll),
            })
            .collect())
    }

    async fn every_collection(&self) -> mongodb::error::Result<Vec<Namespace>> {
        let mut dbs = self.client.list_database_names().await?;
        dbs.retain(|db| !SYSTEM_DATABASES.contains(&db.as_str()));
        dbs.sort();
        let mut all = Vec::new();
        for db in dbs {
            all.extend(self.collections_of(&db).await?);
        }
        Ok(all)
    }

    /// Reads one collection (after `after`), retrying and falling back as
    /// the module says; `None` when the run cannot go on (reported).
    async fn collection(
        &self,
        scope: &SnapshotScope,
        ns: &Namespace,
        mut after: Option<Bson>,
        fallback: &mut Fallback,
    ) -> Option<()> {
        let mut attempt = 0;
        let mut read = 0;
        // Only this collection's catalog changed since T (246): only it is
        // read at the current time.
        let mut here = false;
        loop {
            let at = (!fallback.for_all && !here).then_some(self.at);
            let error = match self.read(scope, ns, at, &mut after, &mut read).await {
                Ok(()) => {
                    tracing::info!(target: PROGRESS_TARGET, stream = %self.id, %ns, documents = read, "snapshot of {ns} read: {read} documents");
                    return Some(());
                }
                Err(ReadError::Gone) => return None,
                Err(ReadError::Bad(reason)) => {
                    let reason = format!("snapshot of {ns}: {reason}");
                    let _ = self.tx.send(Err(SourceError::Snapshot(reason))).await;
                    return None;
                }
                Err(ReadError::Server(error)) => error,
            };
            if at.is_some() && refuses_point_in_time(&error) {
                let reason = describe(&error);
                tracing::warn!(stream = %self.id, %ns, %reason, "cannot read the snapshot at its point in time; reading on at the current time, so documents changed meanwhile may be seen twice");
                here = true;
                fallback.for_all |= lost_for_all(&error);
                fallback.reason.get_or_insert(reason);
                continue;
            }
            if classify(&error) != ErrorClass::Retry {
                let reason = format!("snapshot of {ns}: {}", describe(&error));
                let _ = self.tx.send(Err(SourceError::Snapshot(reason))).await;
                return None;
            }
            attempt += 1;
            if !self.wait_to_retry(&error, attempt).await {
                return None;
            }
        }
    }

    /// Reports a retry and waits its backoff; false if the engine went away.
    async fn wait_to_retry(&self, error: &mongodb::error::Error, attempt: u32) -> bool {
        let wait = herald_core::backoff::delay(
            self.options.initial_backoff,
            self.options.max_backoff,
            attempt,
        );
        tracing::warn!(stream = %self.id, attempt, wait_ms = wait.as_millis() as u64, error = %error, "snapshot read failed; going on from the last document");
        let retrying = StreamNotice::Retrying {
            error: error.to_string(),
            attempt,
        };
        if !self.send(Vec::new(), None, vec![retrying]).await {
            return false;
        }
        tokio::time::sleep(wait).await;
        true
    }

    /// Reads `ns` after `after`, at `at` (or now), advancing `after` past
    /// each document handed on, and `read` by their number.
    async fn read(
        &self,
        scope: &SnapshotScope,
        ns: &Namespace,
        at: Option<Timestamp>,
        after: &mut Option<Bson>,
        read: &mut u64,
    ) -> Result<(), ReadError> {
        let mut command = doc! {
            "aggregate": ns.coll.as_deref().unwrap_or_default(),
            "pipeline": pipeline(scope, ns, self.at, after.as_ref(), &self.stages),
            "cursor": { "batchSize": self.options.max_batch as i64 },
            // In `_id` order from the index: streamed, never a blocking sort.
            "hint": { "_id": 1 },
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
            .database(&ns.db)
            .run_raw_cursor_command(raw)
            .batch_size(self.options.max_batch as u32)
            .await
            .map_err(ReadError::Server)?
            .with_type::<RawDocumentBuf>();
        let mut events = Vec::with_capacity(self.options.max_batch);
        let mut last = after.clone();
        while let Some(mut raw) = cursor.try_next().await.map_err(ReadError::Server)? {
            // A snapshot's event says so, whatever the stages did to the field.
            if raw.get_bool("snapshot") != Ok(true) {
                let mut doc = bson::Document::try_from(raw.as_ref()).map_err(|e| {
                    ReadError::Bad(format!("a document is not BSON once built: {e}"))
                })?;
                doc.insert("snapshot", true);
                raw = RawDocumentBuf::from_document(&doc).map_err(|e| {
                    ReadError::Bad(format!("a document is not BSON once built: {e}"))
                })?;
            }
            let event = ChangeEvent::from_raw(raw).map_err(|e| {
                ReadError::Bad(format!("a document is not a change event once built: {e}"))
            })?;
            let id = event
                .document_key()
                .and_then(|k| k.get("_id").ok().flatten())
                .and_then(|id| Bson::try_from(id.to_raw_bson()).ok());
            let position = position(self.at, &scope.target, ns, id.as_ref());
            last = id;
            events.push(SourcedEvent { event, position });
            *read += 1;
            if read.is_multiple_of(PROGRESS_EVERY) {
                tracing::info!(target: PROGRESS_TARGET, stream = %self.id, %ns, documents = *read, "snapshot of {ns}: {read} documents read");
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

    /// The server's time now (a ping's `operationTime`), retried like the
    /// reads; `None` when the run cannot go on (reported).
    async fn server_time(&self) -> Option<Timestamp> {
        let mut attempt = 0;
        loop {
            let reply = self
                .client
                .database("admin")
                .run_command(doc! { "ping": 1 })
                .await;
            let error = match reply {
                Ok(reply) => match reply.get_timestamp("operationTime") {
                    Ok(time) => return Some(time),
                    Err(_) => {
                        let reason = "the server's reply to ping has no operationTime, which a snapshot read without a point in time needs".to_owned();
                        let _ = self.tx.send(Err(SourceError::Snapshot(reason))).await;
                        return None;
                    }
                },
                Err(error) if classify(&error) == ErrorClass::Retry => error,
                Err(error) => {
                    let reason = format!("cannot read the server's time: {}", describe(&error));
                    let _ = self.tx.send(Err(SourceError::Snapshot(reason))).await;
                    return None;
                }
            };
            attempt += 1;
            if !self.wait_to_retry(&error, attempt).await {
                return None;
            }
        }
    }
}
