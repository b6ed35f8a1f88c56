//! One change stream's task: open it, read batches, resume, retry, report.

use super::batcher::{BatchEnd, Batcher, Gathered};
use super::errors::{ErrorClass, classify, describe};
use super::options::{HistoryLostPolicy, InvalidatePolicy, MongoSourceOptions, StartAt};
use super::overlap::Overlap;
use super::plan::StreamPlan;
use crate::source::{Batch, SourceError, SourcedEvent, StreamNotice};
use bson::RawDocumentBuf;
use herald_core::{ChangeEvent, Position, ResumeToken, WatchTarget};
use mongodb::Client;
use mongodb::change_stream::ChangeStream;
use mongodb::change_stream::event::ResumeToken as DriverToken;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// What a stream task sends to the engine.
pub type Message = Result<Batch, SourceError>;

/// One stream's state between reopenings.
pub struct StreamTask {
    /// The stream's name.
    pub id: Arc<str>,
    /// What to open.
    pub plan: StreamPlan,
    /// Options.
    pub options: MongoSourceOptions,
    /// The client.
    pub client: Client,
    /// Where to resume: the newest token handed on (or the stored checkpoint).
    pub token: Option<DriverToken>,
    /// Where to send batches.
    pub tx: mpsc::Sender<Message>,
    /// Narrower targets this stream carries that were dropped or renamed
    /// with `on_invalidate = "stop"`: their rules receive nothing more.
    pub stopped: Vec<herald_core::WatchTarget>,
    /// After a snapshot read without its point in time: the changes up to
    /// this time may repeat documents the read saw, and are counted.
    pub overlap: Option<Overlap>,
}

impl StreamTask {
    /// A task that has not read anything yet.
    pub fn new(
        id: Arc<str>,
        plan: StreamPlan,
        options: MongoSourceOptions,
        client: Client,
        token: Option<DriverToken>,
        tx: mpsc::Sender<Message>,
    ) -> Self {
        Self {
            id,
            plan,
            options,
            client,
            token,
            tx,
            stopped: Vec::new(),
            overlap: None,
        }
    }

    /// Counts the changes up to `until` as possible repeats of a snapshot
    /// read without its point in time (reported once the stream passes it).
    pub fn count_overlap(&mut self, until: bson::Timestamp, reason: String) {
        self.overlap = Some(Overlap::new(until, reason));
    }

    /// The overlap notice, once the stream is past the window.
    fn overlap_notice(
        &mut self,
        events: &[SourcedEvent],
        end_time: Option<bson::Timestamp>,
    ) -> Option<StreamNotice> {
        let notice = self.overlap.as_mut()?.count(events, end_time)?;
        self.overlap = None;
        if let StreamNotice::SnapshotOverlap { count, .. } = &notice {
            tracing::warn!(stream = %self.id, count, "changes while the snapshot was read without its point in time: up to this many documents were seen twice");
        }
        Some(notice)
    }
}

fn driver_token(position: &Position) -> Option<DriverToken> {
    let Position::Token { bytes } = position else {
        return None;
    };
    let token = ResumeToken::from_bytes(bytes.clone()).ok()?;
    bson::from_bson(token.to_bson()).ok()
}

/// The core form of a driver token.
fn position_of(token: &DriverToken) -> Option<Position> {
    let value = bson::to_bson(token).ok()?;
    let raw = bson::RawBson::try_from(value).ok()?;
    Some(Position::Token {
        bytes: ResumeToken::new(raw).as_bytes().to_vec(),
    })
}

/// Reads the stored position of a stream into a driver token.
pub fn token_from_position(position: &Position) -> Result<DriverToken, String> {
    driver_token(position).ok_or_else(|| format!("{position} is not a change stream resume token"))
}

enum Outcome {
    /// Reopen (after an error, or after an invalidate with the restart policy).
    Reopen,
    /// The task is done.
    Done,
}

impl StreamTask {
    /// Runs until the stream ends or the engine goes away.
    pub async fn run(mut self) {
        let mut attempt: u32 = 0;
        let mut start_at = self.options.start_at;
        loop {
            let opened = self.open(start_at).await;
            let stream = match opened {
                Ok(stream) => stream,
                Err(error) => match self.on_error(&error, &mut attempt, &mut start_at).await {
                    Outcome::Reopen => continue,
                    Outcome::Done => return,
                },
            };
            match self.read(stream, &mut attempt, &mut start_at).await {
                Outcome::Reopen => continue,
                Outcome::Done => return,
            }
        }
    }

    /// Reads batches until the stream fails, ends or is invalidated, and
    /// hands each on with the position after it.
    async fn read(
        &mut self,
        stream: ChangeStream<RawDocumentBuf>,
        attempt: &mut u32,
        start_at: &mut StartAt,
    ) -> Outcome {
        let mut batcher =
            Batcher::start(stream, self.options.max_batch, self.options.max_batch_delay);
        loop {
            // Narrower targets an event ended (with why): the batch ends at it.
            let mut stopping: Vec<(WatchTarget, String)> = Vec::new();
            let Gathered { events, end } = batcher
                .gather(|event| self.note_ended_targets(event, &mut stopping))
                .await;
            // The position after the batch: the server's post-batch token when
            // its batch ran dry, else the last event's; never a token from
            // inside a split event, which could not be resumed from.
            let last_event_token = || {
                events.last().and_then(|e: &SourcedEvent| {
                    bson::from_bson::<DriverToken>(e.event.token().to_bson()).ok()
                })
            };
            let drained = match &end {
                BatchEnd::Drained { token, .. } if !batcher.mid_event() => token.clone(),
                _ => None,
            };
            let position = drained.or_else(last_event_token);
            if let Some(token) = &position {
                self.token = Some(token.clone());
            }
            let delivered = !events.is_empty();
            let end_time = position
                .as_ref()
                .and_then(position_of)
                .and_then(|p| p.cluster_time());
            let overlap = self.overlap_notice(&events, end_time);
            let mut notices: Vec<StreamNotice> = stopping
                .into_iter()
                .map(|(target, reason)| {
                    tracing::warn!(stream = %self.id, %target, "{reason}");
                    StreamNotice::TargetStopped { target, reason }
                })
                .collect();
            notices.extend(overlap);
            // A stop this batch leads to travels in it, before its end position.
            let ending = match &end {
                BatchEnd::Invalidated => Some(self.on_invalidate()),
                // The server sent an event herald cannot read; nothing later can be trusted.
                BatchEnd::Malformed(reason) => {
                    Some((vec![self.stop_notice(reason.clone(), true)], Outcome::Done))
                }
                BatchEnd::Failed(error) => self
                    .fatal(error)
                    .map(|reason| (vec![self.stop_notice(reason, true)], Outcome::Done)),
                _ => None,
            };
            let ending = ending.map(|(more, outcome)| {
                notices.extend(more);
                outcome
            });
            let batch = Batch {
                stream: self.id.clone(),
                events,
                end: position.as_ref().and_then(position_of),
                scope: Some(self.plan.target.clone()),
                notices,
                ..Batch::default()
            };
            if !self.send(Ok(batch)).await {
                return Outcome::Done;
            }
            if let Some(outcome) = ending {
                return outcome;
            }
            if delivered || !matches!(end, BatchEnd::Failed(_)) {
                *attempt = 0;
            }
            match end {
                BatchEnd::More | BatchEnd::AtEvent | BatchEnd::Drained { alive: true, .. } => {}
                BatchEnd::Drained { alive: false, .. } | BatchEnd::Closed => {
                    return Outcome::Reopen;
                }
                BatchEnd::Failed(error) => return self.on_error(&error, attempt, start_at).await,
                BatchEnd::Invalidated | BatchEnd::Malformed(_) => {
                    unreachable!("handled with the batch")
                }
            }
        }
    }

    /// Records the narrower targets `event` ends with a stop policy (a drop
    /// or rename under a wider stream); true if it ends any.
    fn note_ended_targets(
        &mut self,
        event: &ChangeEvent,
        stopping: &mut Vec<(WatchTarget, String)>,
    ) -> bool {
        let before = stopping.len();
        for target in super::lifecycle::ended_targets(event, &self.plan) {
            if self.options.invalidate_policy(&target) == InvalidatePolicy::Stop
                && !self.stopped.contains(&target)
            {
                let reason = super::lifecycle::describe(&target, event);
                stopping.push((target.clone(), reason));
                self.stopped.push(target);
            }
        }
        stopping.len() > before
    }

    /// The stream's `invalidate`: stop, or reopen after it, as the policies
    /// say. Returns the notices of what stops, and what follows.
    fn on_invalidate(&mut self) -> (Vec<StreamNotice>, Outcome) {
        match self.options.invalidate_policy(&self.plan.target) {
            // The stream's own target stops, but something it carries goes
            // on: a narrower target that follows its re-created collection,
            // or the rules of wider targets it serves for its namespaces (a
            // stream with stages), whose own streams apply their policies to
            // the drop. Stop the targets whose policy is "stop" and reopen
            // for the others.
            InvalidatePolicy::Stop if self.carries_a_restart() || self.plan.serves_wider => {
                let mut notices = Vec::new();
                for target in self.plan.targets.clone() {
                    let stop = self.options.invalidate_policy(&target) == InvalidatePolicy::Stop
                        && !self.stopped.contains(&target);
                    if stop {
                        let reason = format!(
                            "{target} ended: the stream was invalidated (on_invalidate = \"stop\")"
                        );
                        tracing::warn!(stream = %self.id, %target, "{reason}");
                        self.stopped.push(target.clone());
                        notices.push(StreamNotice::TargetStopped { target, reason });
                    }
                }
                tracing::warn!(stream = %self.id, "invalidated; reopening for the targets that go on");
                (notices, Outcome::Reopen)
            }
            InvalidatePolicy::Stop => {
                let reason = format!(
                    "{} was dropped or renamed (invalidate); on_invalidate = \"stop\"",
                    self.plan.target
                );
                (vec![self.stop_notice(reason, false)], Outcome::Done)
            }
            InvalidatePolicy::Restart => {
                tracing::warn!(stream = %self.id, "invalidated; restarting after the invalidate event");
                (Vec::new(), Outcome::Reopen)
            }
        }
    }

    /// Why `error` ends the stream, if it does (an error reopening cannot fix).
    fn fatal(&self, error: &mongodb::error::Error) -> Option<String> {
        let resume = self.resume_hint();
        match classify(error) {
            ErrorClass::TooLarge if !self.options.split_large_events => Some(format!(
                "{}; an event is larger than 16 MiB: set split_large_events = true in [mongodb] (MongoDB 7.0 or 6.0.9+) to receive it in fragments, which herald joins, then {resume}",
                describe(error)
            )),
            ErrorClass::TooLarge | ErrorClass::Fatal => Some(format!(
                "{}; fix the cause (a stage the server refuses, permissions, a server that is not a replica set, an unsupported option), then {resume}",
                describe(error)
            )),
            ErrorClass::HistoryLost | ErrorClass::Retry => None,
        }
    }

    /// How the operator starts the stream's targets again.
    fn resume_hint(&self) -> String {
        let commands: Vec<String> = self
            .plan
            .targets
            .iter()
            .map(|t| format!("`herald streams resume {t}`"))
            .collect();
        match commands.len() {
            0 => "restart herald".to_owned(),
            _ => format!(
                "run {} (it goes on from where it stopped)",
                commands.join(" and ")
            ),
        }
    }

    async fn on_error(
        &mut self,
        error: &mongodb::error::Error,
        attempt: &mut u32,
        start_at: &mut StartAt,
    ) -> Outcome {
        match classify(error) {
            ErrorClass::HistoryLost => match self.options.on_history_lost {
                HistoryLostPolicy::Fail => {
                    let since = self
                        .token
                        .as_ref()
                        .and_then(position_of)
                        .map_or_else(|| "its start".to_owned(), |p| p.to_string());
                    self.send(Err(SourceError::HistoryLost {
                        stream: self.id.to_string(),
                        since,
                    }))
                    .await;
                    Outcome::Done
                }
                HistoryLostPolicy::FromNow => {
                    let last = self.token.take().and_then(|t| position_of(&t));
                    *start_at = StartAt::Now;
                    let reason = format!("resume point no longer in the oplog: {error}");
                    if self
                        .send(Ok(notice_batch(
                            &self.id,
                            StreamNotice::Gap {
                                last,
                                last_time: None,
                                reason,
                            },
                        )))
                        .await
                    {
                        Outcome::Reopen
                    } else {
                        Outcome::Done
                    }
                }
            },
            ErrorClass::Retry => {
                *attempt += 1;
                let wait = backoff(&self.options, *attempt);
                tracing::warn!(stream = %self.id, attempt = *attempt, wait_ms = wait.as_millis() as u64, error = %error, "change stream failed; reopening from the last token");
                if !self
                    .send(Ok(notice_batch(
                        &self.id,
                        StreamNotice::Retrying {
                            error: error.to_string(),
                            attempt: *attempt,
                        },
                    )))
                    .await
                {
                    return Outcome::Done;
                }
                tokio::time::sleep(wait).await;
                Outcome::Reopen
            }
            ErrorClass::TooLarge | ErrorClass::Fatal => {
                let reason = self.fatal(error).unwrap_or_else(|| describe(error));
                self.stop(reason, true).await
            }
        }
    }

    /// Tells the engine the stream has ended, and ends the task.
    async fn stop(&self, reason: String, failed: bool) -> Outcome {
        let stopped = self.stop_notice(reason, failed);
        self.send(Ok(notice_batch(&self.id, stopped))).await;
        Outcome::Done
    }

    /// The notice that the stream has ended: every target it carries stops
    /// with it, but those already stopped.
    fn stop_notice(&self, reason: String, failed: bool) -> StreamNotice {
        let targets = self
            .plan
            .targets
            .iter()
            .filter(|t| !self.stopped.contains(t))
            .cloned()
            .collect();
        StreamNotice::Stopped {
            targets,
            reason,
            failed,
        }
    }

    /// True if a target narrower than the stream follows a re-created collection.
    fn carries_a_restart(&self) -> bool {
        self.plan.targets.iter().any(|t| {
            *t != self.plan.target
                && !self.stopped.contains(t)
                && self.options.invalidate_policy(t) == InvalidatePolicy::Restart
        })
    }

    /// Sends to the engine; false if it has gone away.
    async fn send(&self, message: Message) -> bool {
        self.tx.send(message).await.is_ok()
    }
}

fn notice_batch(stream: &Arc<str>, notice: StreamNotice) -> Batch {
    Batch {
        stream: stream.clone(),
        notices: vec![notice],
        ..Batch::default()
    }
}

/// The wait before reopening after failed attempt number `attempt`.
fn backoff(options: &MongoSourceOptions, attempt: u32) -> Duration {
    herald_core::backoff::delay(options.initial_backoff, options.max_backoff, attempt)
}
