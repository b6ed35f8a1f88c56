//! The pipeline loop: read, route, handle, execute, commit.
//!
//! Events are handled one at a time in source order. A group of completed
//! events (by count, or by time when events trickle) commits atomically:
//! ledger marks, state writes, dead letters and the checkpoint together.
//! The checkpoint only ever moves past events whose effects are complete.

use crate::effects::execute_with_retry;
use crate::engine::{Engine, EngineError};
use crate::observer::Observer;
use crate::state::StateView;
use herald_core::{ChangeEvent, Effect, Intent, Position};
use herald_ingest::{Source, StreamNotice};
use herald_script::{Rule, StateRead};
use herald_store::{Checkpoint, Commit, DeadLetter, Durability};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Events read from the source.
    pub events: u64,
    /// (event, rule) pairs that matched.
    pub matched: u64,
    /// Effects executed (or, in a dry run, reported).
    pub effects: u64,
    /// Matches skipped because the ledger had them as done.
    pub deduplicated: u64,
    /// Matches that went to the dead-letter queue.
    pub dead_lettered: u64,
    /// Malformed lines skipped.
    pub skipped_lines: u64,
    /// Gaps recorded because a stream's history was lost.
    pub gaps: u64,
    /// Times a stream failed and was reopened.
    pub stream_retries: u64,
    /// Streams that stopped because of an error.
    pub streams_failed: u64,
    /// True if the run stopped because of the shutdown signal.
    pub interrupted: bool,
}

/// The uncommitted group.
struct Group {
    commit: Commit,
    events: usize,
    started: Instant,
    /// Per stream, the position to store: the newest completed one.
    positions: HashMap<Arc<str>, Position>,
}

impl Group {
    fn is_empty(&self) -> bool {
        self.events == 0 && self.positions.is_empty() && self.commit.is_empty()
    }
}

/// The run's moving parts, passed between its steps.
struct Run<'a> {
    state: Arc<StateView>,
    group: Group,
    /// Per stream, the times of the newest event seen, for checkpoints and lag.
    times: HashMap<Arc<str>, (Option<bson::Timestamp>, Option<bson::DateTime>)>,
    observer: &'a mut dyn Observer,
    summary: RunSummary,
}

impl Engine {
    /// Runs `source` until it ends (or until `shutdown` completes), reporting to `observer`.
    ///
    /// Each stream resumes from its checkpoint unless `from_start` is set.
    pub async fn run<S: Source>(
        &self,
        mut source: S,
        observer: &mut dyn Observer,
        shutdown: impl Future,
    ) -> Result<RunSummary, EngineError> {
        if !self.options.from_start {
            for stream in source.streams() {
                if let Some(position) = self.store.checkpoint(&stream)? {
                    tracing::info!(%stream, %position, "resuming from checkpoint");
                    source.resume_from(&stream, &position)?;
                }
            }
        }
        let mut run = Run {
            state: Arc::new(StateView::new(self.store.clone())),
            group: self.new_group(),
            times: HashMap::new(),
            observer,
            summary: RunSummary::default(),
        };
        let outcome = self.pump(&mut source, &mut run, shutdown).await;
        // Whatever stopped the run, the events completed so far are committed,
        // so nothing already done is done again, and nothing undone is skipped.
        self.commit_group(&mut run)?;
        outcome.map(|()| run.summary)
    }

    async fn pump<S: Source>(
        &self,
        source: &mut S,
        run: &mut Run<'_>,
        shutdown: impl Future,
    ) -> Result<(), EngineError> {
        let mut shutdown = std::pin::pin!(shutdown);
        let interval = Duration::from_millis(self.settings.commit_interval_ms);
        loop {
            let deadline = tokio::time::Instant::from_std(run.group.started + interval);
            let pending = !run.group.is_empty();
            let batch = tokio::select! {
                biased;
                _ = &mut shutdown => {
                    run.summary.interrupted = true;
                    return Ok(());
                }
                // Commit a group that waits on a slow source, so its events are not redone after a crash.
                _ = tokio::time::sleep_until(deadline), if pending => {
                    self.commit_group(run)?;
                    continue;
                }
                batch = source.next_batch() => batch?,
            };
            let Some(batch) = batch else { return Ok(()) };
            self.take_batch(batch, run).await?;
        }
    }

    async fn take_batch(
        &self,
        batch: herald_ingest::Batch,
        run: &mut Run<'_>,
    ) -> Result<(), EngineError> {
        let stream = batch.stream.clone();
        for bad in &batch.skipped {
            tracing::warn!(%bad, "skipped a malformed line");
            run.observer.bad_line(bad);
            run.summary.skipped_lines += 1;
        }
        if let Some(notice) = &batch.notice {
            self.take_notice(&stream, notice, run)?;
        }
        for item in batch.events {
            let event = Arc::new(item.event);
            self.handle_event(
                &event,
                &run.state,
                &mut run.group.commit,
                run.observer,
                &mut run.summary,
            )
            .await?;
            run.summary.events += 1;
            run.group.events += 1;
            run.times
                .insert(stream.clone(), (event.cluster_time(), event.wall_time()));
            run.group
                .positions
                .insert(stream.clone(), item.position.clone());
            run.observer.event_done(&item.position);
            if self.group_is_due(&run.group) {
                self.commit_group(run)?;
            }
        }
        if let Some(end) = batch.end {
            run.group.positions.insert(stream, end);
        }
        if self.group_is_due(&run.group) {
            self.commit_group(run)?;
        }
        Ok(())
    }

    fn take_notice(
        &self,
        stream: &str,
        notice: &StreamNotice,
        run: &mut Run<'_>,
    ) -> Result<(), EngineError> {
        match notice {
            StreamNotice::Gap {
                last,
                last_time,
                reason,
            } => {
                tracing::warn!(
                    stream,
                    reason,
                    "history lost: continuing from now; events in between were not seen"
                );
                run.summary.gaps += 1;
                if !self.options.dry_run {
                    let gap = herald_store::Gap {
                        stream: stream.to_owned(),
                        last: last.as_ref().map(ToString::to_string),
                        last_time: last_time.map(|t| [t.time, t.increment]),
                        resumed_at_ms: bson::DateTime::now().timestamp_millis(),
                        reason: reason.clone(),
                    };
                    run.group.commit.gap(self.store.next_id()?, &gap);
                }
            }
            StreamNotice::Stopped { reason, failed } => {
                if *failed {
                    tracing::error!(stream, reason, "stream stopped");
                    run.summary.streams_failed += 1;
                } else {
                    tracing::warn!(stream, reason, "stream stopped");
                }
            }
            StreamNotice::Retrying { error, attempt } => {
                tracing::warn!(
                    stream,
                    attempt,
                    error,
                    "stream failed; reopening from its last position"
                );
                run.summary.stream_retries += 1;
            }
        }
        Ok(())
    }

    fn new_group(&self) -> Group {
        Group {
            commit: self.store.begin(),
            events: 0,
            started: Instant::now(),
            positions: HashMap::new(),
        }
    }

    fn group_is_due(&self, group: &Group) -> bool {
        !group.is_empty()
            && (self.settings.durability == Durability::Always
                || group.events >= self.settings.commit_every
                || group.started.elapsed()
                    >= Duration::from_millis(self.settings.commit_interval_ms))
    }

    fn commit_group(&self, run: &mut Run<'_>) -> Result<(), EngineError> {
        let mut done = std::mem::replace(&mut run.group, self.new_group());
        if self.options.dry_run {
            return Ok(());
        }
        for (stream, position) in done.positions {
            let (cluster_time, wall_time) = run.times.get(&stream).copied().unwrap_or((None, None));
            let mut checkpoint = Checkpoint::new(position);
            checkpoint.cluster_time = cluster_time.map(|t| [t.time, t.increment]);
            checkpoint.wall_time_ms = wall_time.map(|w| w.timestamp_millis());
            done.commit.checkpoint_at(&stream, &checkpoint);
        }
        self.store.commit(done.commit)?;
        run.state.committed();
        Ok(())
    }

    /// Routes one event and runs every matching rule on it.
    async fn handle_event(
        &self,
        event: &Arc<ChangeEvent>,
        state: &Arc<StateView>,
        commit: &mut Commit,
        observer: &mut dyn Observer,
        summary: &mut RunSummary,
    ) -> Result<(), EngineError> {
        let token = event.token().as_bytes();
        for rule in self.router.route(event) {
            summary.matched += 1;
            if !self.options.from_start && self.store.is_done(rule.name(), token)? {
                summary.deduplicated += 1;
                continue;
            }
            let outcome = self.run_rule(rule, event, state, observer, summary).await;
            let dry_run = self.options.dry_run;
            match outcome {
                Ok(state_changes) => {
                    // A dry run keeps state in memory only, so later events still see it.
                    for change in state_changes {
                        match change {
                            Intent::SetState { key, value } => {
                                if !dry_run {
                                    commit.set_state(rule.name(), &key, &value)?;
                                }
                                state.write(rule.name(), &key, Some(value));
                            }
                            Intent::DelState { key } => {
                                if !dry_run {
                                    commit.del_state(rule.name(), &key);
                                }
                                state.write(rule.name(), &key, None);
                            }
                            _ => unreachable!("only state intents are returned"),
                        }
                    }
                }
                Err(_) if dry_run => {}
                Err((error, attempts)) => {
                    summary.dead_lettered += 1;
                    commit.dead_letter(&DeadLetter {
                        id: self.store.next_id()?,
                        rule: rule.name().to_string(),
                        token: token.to_vec(),
                        event: event.raw().to_owned(),
                        error,
                        attempts,
                        at: bson::DateTime::now(),
                    })?;
                }
            }
            if !dry_run {
                // Done either way: completed, or owned by the dead-letter queue.
                commit.mark_done(rule.name(), token);
            }
        }
        Ok(())
    }

    /// Runs a handler and executes its effects. Returns its state changes to
    /// apply, or the error and attempts that send it to the dead-letter queue.
    async fn run_rule(
        &self,
        rule: &Rule,
        event: &Arc<ChangeEvent>,
        state: &Arc<StateView>,
        observer: &mut dyn Observer,
        summary: &mut RunSummary,
    ) -> Result<Vec<Intent>, (String, u32)> {
        let reader: Arc<dyn StateRead> = state.clone();
        let intents = rule.handle(event, reader).map_err(|diagnostic| {
            tracing::error!(rule = %rule.name(), token = %event.token(), "{diagnostic}");
            observer.handler_failed(rule.name(), &diagnostic);
            (diagnostic.to_string(), 1)
        })?;
        let mut state_changes = Vec::new();
        for (index, intent) in intents.into_iter().enumerate() {
            let effect = Effect::new(
                rule.name().clone(),
                event.token().clone(),
                index as u32,
                intent,
            );
            if self.options.dry_run {
                summary.effects += 1;
                observer.dry_run(&effect);
            }
            if effect.intent.is_state_change() {
                state_changes.push(effect.intent);
                continue;
            }
            if self.options.dry_run {
                continue;
            }
            let result = match self.channels.for_intent(&effect.intent) {
                Ok(channel) => execute_with_retry(channel.as_ref(), &effect, &self.backoff).await,
                Err(e) => Err((e, 1)),
            };
            match result {
                Ok(_attempts) => summary.effects += 1,
                Err((error, attempts)) => {
                    tracing::error!(rule = %rule.name(), key = %effect.key, attempts, %error, "effect failed; the event goes to the dead-letter queue");
                    observer.effect_failed(&effect, &error.message, attempts);
                    return Err((
                        format!(
                            "{} {}: {}",
                            effect.intent.kind(),
                            effect.intent.target().unwrap_or(""),
                            error.message
                        ),
                        attempts,
                    ));
                }
            }
        }
        Ok(state_changes)
    }
}
