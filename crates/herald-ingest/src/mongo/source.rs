//! [`MongoSource`]: the change streams of a rule set behind one [`Source`].

use super::options::{MongoSourceOptions, StartAt};
use super::plan::StreamPlan;
use super::plan::stream_target;
use super::snapshot::{SnapshotEnd, SnapshotJob, SnapshotScope, job::Resume};
use super::stream::{Message, StreamTask, token_from_position};
use crate::source::{Batch, Source, SourceError, StartTime};
use herald_core::Position;
use herald_core::position::just_after;
use mongodb::Client;
use std::collections::HashMap;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Live change streams, one per watch target, read concurrently.
///
/// Each stream runs in its own task and hands batches to the engine through
/// a bounded queue; when the engine falls behind, the tasks stop calling
/// getMore and the oplog buffers the changes.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use herald_ingest::mongo::{MongoSource, MongoSourceOptions, plan};
/// let client = mongodb::Client::with_uri_str("mongodb://127.0.0.1:27017/?replicaSet=rs0").await?;
/// let source = MongoSource::new(client, plan(&[]), MongoSourceOptions::default());
/// # Ok(()) }
/// ```
pub struct MongoSource {
    client: Client,
    plans: Vec<StreamPlan>,
    options: MongoSourceOptions,
    resume: HashMap<String, Position>,
    start_times: HashMap<String, bson::Timestamp>,
    rx: Option<mpsc::Receiver<Message>>,
    tasks: JoinSet<()>,
    /// Whether the server was found to have change streams (checked once,
    /// before the first command that needs them).
    checked: bool,
    /// The streams whose snapshot the engine asks for, and its time.
    snapshot_starts: HashMap<String, bson::Timestamp>,
}

impl MongoSource {
    /// A source for these stream plans (see [`plan`](super::plan())).
    pub fn new(client: Client, plans: Vec<StreamPlan>, options: MongoSourceOptions) -> Self {
        Self {
            client,
            plans,
            options,
            resume: HashMap::new(),
            start_times: HashMap::new(),
            rx: None,
            tasks: JoinSet::new(),
            checked: false,
            snapshot_starts: HashMap::new(),
        }
    }

    /// Fails with [`SourceError::NotReplicaSet`] when the server is a
    /// standalone (its `hello` has no `setName` and it is not a `mongos`):
    /// its refusals would otherwise surface later, as a missing
    /// `operationTime` or an aggregate error per stream. Other failures are
    /// left to the commands that follow, which retry or explain them.
    async fn ensure_change_streams(&mut self) -> Result<(), SourceError> {
        if self.checked {
            return Ok(());
        }
        if let Ok(hello) = self
            .client
            .database("admin")
            .run_command(bson::doc! { "hello": 1 })
            .await
        {
            let replica_set = hello.get_str("setName").is_ok();
            let mongos = hello.get_str("msg") == Ok("isdbgrid");
            if !replica_set && !mongos {
                return Err(SourceError::NotReplicaSet);
            }
            self.checked = true;
        }
        Ok(())
    }

    /// The streams it opens.
    pub fn plans(&self) -> &[StreamPlan] {
        &self.plans
    }

    /// The options its streams open with.
    pub fn options(&self) -> &MongoSourceOptions {
        &self.options
    }

    async fn start(&mut self) -> Result<mpsc::Receiver<Message>, SourceError> {
        let (tx, rx) = mpsc::channel(self.options.queue.max(1));
        for plan in self.plans.clone() {
            let mut options = self.options.clone();
            let mut token = None;
            let mut job = None;
            match self.resume.get(&plan.id) {
                // A snapshot a crash interrupted goes on at its time.
                Some(position @ Position::Snapshot { .. }) => {
                    job = Resume::of(position).map(|(at, resume)| (at, Some(resume)));
                }
                // Read whole: the changes after its time.
                Some(Position::SnapshotDone { at }) => {
                    let at = bson::Timestamp {
                        time: at[0],
                        increment: at[1],
                    };
                    options.start_at = StartAt::OperationTime(just_after(at));
                }
                Some(position) => {
                    token = Some(token_from_position(position).map_err(|reason| {
                        SourceError::BadPosition {
                            path: plan.id.clone().into(),
                            position: Box::new(position.clone()),
                            reason,
                        }
                    })?);
                }
                None => {}
            }
            // Where the engine says the stream starts (its rules' floors).
            if let Some(time) = self.start_times.get(&plan.id) {
                options.start_at = StartAt::OperationTime(*time);
            }
            // A first start of its targets, which the floors recorded.
            if job.is_none()
                && token.is_none()
                && let Some(at) = self.snapshot_starts.get(&plan.id)
            {
                job = Some((*at, None));
                if !self.start_times.contains_key(&plan.id) {
                    options.start_at = StartAt::OperationTime(just_after(*at));
                }
            }
            let id: std::sync::Arc<str> = plan.id.as_str().into();
            let Some((at, resume)) = job else {
                if self.options.snapshot_only {
                    continue;
                }
                let task =
                    StreamTask::new(id, plan, options, self.client.clone(), token, tx.clone());
                self.tasks.spawn(task.run());
                continue;
            };
            if matches!(options.start_at, StartAt::Now | StartAt::Snapshot) {
                // The stream takes every change after the snapshot's time.
                options.start_at = StartAt::OperationTime(just_after(at));
            }
            let scopes = self.snapshot_scopes(&plan);
            // A wider snapshot would read a staged collection without its
            // stages (they are its own stream's): refused, not leaked.
            for scope in &scopes {
                let within = self.options.snapshot_within.as_ref();
                if let Some(staged) = self.options.stages.keys().find(|s| {
                    **s != scope.target
                        && scope.target.contains(s)
                        && within.is_none_or(|w| w.contains(s) || s.contains(w))
                }) {
                    return Err(SourceError::Snapshot(format!(
                        "the snapshot of {} would read {staged} without its stages; give the collections of {} their own start_at = \"snapshot\" instead",
                        scope.target, scope.target
                    )));
                }
            }
            let job = SnapshotJob {
                id: id.clone(),
                target: plan.target.clone(),
                client: self.client.clone(),
                at,
                scopes,
                within: self.options.snapshot_within.clone(),
                stages: plan.pipeline.get(1..).unwrap_or_default().to_vec(),
                resume,
                options: options.clone(),
                tx: tx.clone(),
            };
            let mut task =
                StreamTask::new(id, plan, options, self.client.clone(), None, tx.clone());
            let snapshot_only = self.options.snapshot_only;
            self.tasks.spawn(async move {
                let end = job.run().await;
                if snapshot_only {
                    return;
                }
                match end {
                    SnapshotEnd::Consistent => {}
                    SnapshotEnd::Fallback { until, reason } => task.count_overlap(until, reason),
                    SnapshotEnd::Stopped => return,
                }
                task.run().await;
            });
        }
        Ok(rx)
    }

    /// The collections of `plan` whose snapshot is read at a first start:
    /// those with `start_at = "snapshot"` that some rule takes snapshots of.
    fn snapshot_scopes(&self, plan: &StreamPlan) -> Vec<SnapshotScope> {
        plan.snapshots
            .iter()
            .filter(|s| self.options.snapshots(&s.target))
            .cloned()
            .collect()
    }
}

impl Source for MongoSource {
    fn streams(&self) -> Vec<String> {
        self.plans.iter().map(|p| p.id.clone()).collect()
    }

    fn resume_from(&mut self, stream: &str, position: &Position) -> Result<(), SourceError> {
        self.resume.insert(stream.to_owned(), position.clone());
        Ok(())
    }

    fn stream_target(&self, stream: &str) -> Option<herald_core::WatchTarget> {
        stream_target(stream)
    }

    /// The server's time now: a ping's `operationTime` (the driver waits for
    /// a server as long as its server selection timeout allows).
    async fn current_time(&mut self) -> Result<Option<bson::Timestamp>, SourceError> {
        self.ensure_change_streams().await?;
        let reply = self
            .client
            .database("admin")
            .run_command(bson::doc! { "ping": 1 })
            .await
            .map_err(|e| SourceError::ServerTime(e.to_string()))?;
        let now = reply.get_timestamp("operationTime").map_err(|_| {
            SourceError::ServerTime("the server's reply has no operationTime".into())
        })?;
        Ok(Some(now))
    }

    async fn start_time(&mut self) -> Result<Option<StartTime>, SourceError> {
        match self.options.start_at {
            StartAt::OperationTime(time) => Ok(Some(StartTime::From(time))),
            // New rules take the changes after now (and, where their
            // target reads a snapshot, its events at this time).
            StartAt::Now | StartAt::Snapshot => {
                Ok(self.current_time().await?.map(StartTime::After))
            }
        }
    }

    fn snapshots(&self, target: &herald_core::WatchTarget) -> bool {
        self.options.snapshots(target)
    }

    fn snapshot_at(&mut self, stream: &str, at: bson::Timestamp) -> Result<(), SourceError> {
        self.snapshot_starts.insert(stream.to_owned(), at);
        Ok(())
    }

    fn resume_at_time(&mut self, stream: &str, time: bson::Timestamp) -> Result<(), SourceError> {
        self.start_times.insert(stream.to_owned(), time);
        Ok(())
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        if self.rx.is_none() {
            self.ensure_change_streams().await?;
            self.rx = Some(self.start().await?);
        }
        let rx = self.rx.as_mut().expect("started");
        // Cancel-safe: a message stays queued if this future is dropped.
        match rx.recv().await {
            Some(message) => message.map(Some),
            None => Ok(None),
        }
    }
}
