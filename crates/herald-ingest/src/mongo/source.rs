//! [`MongoSource`]: the change streams of a rule set behind one [`Source`].

use super::options::{MongoSourceOptions, StartAt};
use super::plan::StreamPlan;
use super::plan::stream_target;
use super::stream::{Message, StreamTask, token_from_position};
use crate::source::{Batch, Source, SourceError, StartTime};
use herald_core::Position;
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

    fn start(&mut self) -> Result<mpsc::Receiver<Message>, SourceError> {
        let (tx, rx) = mpsc::channel(self.options.queue.max(1));
        for plan in &self.plans {
            let token = match self.resume.get(&plan.id) {
                Some(position) => Some(token_from_position(position).map_err(|reason| {
                    SourceError::BadPosition {
                        path: plan.id.clone().into(),
                        position: position.clone(),
                        reason,
                    }
                })?),
                None => None,
            };
            let mut options = self.options.clone();
            if let Some(time) = self.start_times.get(&plan.id) {
                options.start_at = StartAt::OperationTime(*time);
            }
            let task = StreamTask {
                id: plan.id.as_str().into(),
                plan: plan.clone(),
                options,
                client: self.client.clone(),
                token,
                tx: tx.clone(),
                stopped: Vec::new(),
            };
            self.tasks.spawn(task.run());
        }
        Ok(rx)
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
            StartAt::Now => Ok(self.current_time().await?.map(StartTime::After)),
        }
    }

    fn resume_at_time(&mut self, stream: &str, time: bson::Timestamp) -> Result<(), SourceError> {
        self.start_times.insert(stream.to_owned(), time);
        Ok(())
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        if self.rx.is_none() {
            self.ensure_change_streams().await?;
            self.rx = Some(self.start()?);
        }
        let rx = self.rx.as_mut().expect("started");
        // Cancel-safe: a message stays queued if this future is dropped.
        match rx.recv().await {
            Some(message) => message.map(Some),
            None => Ok(None),
        }
    }
}
