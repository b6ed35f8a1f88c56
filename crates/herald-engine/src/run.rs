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
use herald_ingest::Source;
use herald_script::{Rule, StateRead};
use herald_store::{Commit, DeadLetter, Durability};
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
    /// True if the run stopped because of the shutdown signal.
    pub interrupted: bool,
}

/// The uncommitted group.
struct Group {
    commit: Commit,
    events: usize,
    started: Instant,
    position: Option<Position>,
}

impl Engine {
    /// Runs `source` to its end (or until `shutdown` completes), reporting to `observer`.
    ///
    /// Resumes from the source's checkpoint unless `from_start` is set.
    pub async fn run<S: Source>(
        &self,
        mut source: S,
        observer: &mut dyn Observer,
        shutdown: impl Future,
    ) -> Result<RunSummary, EngineError> {
        let source_id = source.id().to_owned();
        if !self.options.from_start
            && let Some(position) = self.store.checkpoint(&source_id)?
        {
            tracing::info!(source = %source_id, %position, "resuming from checkpoint");
            source.resume_from(&position)?;
        }
        let state = Arc::new(StateView::new(self.store.clone()));
        let mut summary = RunSummary::default();
        let mut group = self.new_group();
        let outcome = self
            .pump(
                &mut source,
                &source_id,
                &state,
                &mut group,
                observer,
                &mut summary,
                shutdown,
            )
            .await;
        // Whatever stopped the run, the events completed so far are committed,
        // so nothing already done is done again, and nothing undone is skipped.
        self.commit_group(&source_id, &mut group, &state)?;
        outcome.map(|()| summary)
    }

    #[allow(clippy::too_many_arguments)]
    async fn pump<S: Source>(
        &self,
        source: &mut S,
        source_id: &str,
        state: &Arc<StateView>,
        group: &mut Group,
        observer: &mut dyn Observer,
        summary: &mut RunSummary,
        shutdown: impl Future,
    ) -> Result<(), EngineError> {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let batch = tokio::select! {
                biased;
                _ = &mut shutdown => {
                    summary.interrupted = true;
                    return Ok(());
                }
                batch = source.next_batch() => batch?,
            };
            let Some(batch) = batch else { return Ok(()) };
            for bad in &batch.skipped {
                tracing::warn!(%bad, "skipped a malformed line");
                observer.bad_line(bad);
                summary.skipped_lines += 1;
            }
            for item in batch.events {
                let event = Arc::new(item.event);
                self.handle_event(&event, state, &mut group.commit, observer, summary)
                    .await?;
                summary.events += 1;
                group.events += 1;
                group.position = Some(item.position.clone());
                observer.event_done(&item.position);
                if self.group_is_due(group) {
                    self.commit_group(source_id, group, state)?;
                }
            }
            if let Some(end) = batch.end {
                group.position = Some(end);
            }
        }
    }

    fn new_group(&self) -> Group {
        Group {
            commit: self.store.begin(),
            events: 0,
            started: Instant::now(),
            position: None,
        }
    }

    fn group_is_due(&self, group: &Group) -> bool {
        self.settings.durability == Durability::Always
            || group.events >= self.settings.commit_every
            || group.started.elapsed() >= Duration::from_millis(self.settings.commit_interval_ms)
    }

    fn commit_group(
        &self,
        source_id: &str,
        group: &mut Group,
        state: &StateView,
    ) -> Result<(), EngineError> {
        let mut done = std::mem::replace(group, self.new_group());
        if self.options.dry_run {
            return Ok(());
        }
        if let Some(position) = &done.position {
            done.commit.checkpoint(source_id, position);
        }
        self.store.commit(done.commit)?;
        state.committed();
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
