//! The run: read batches, hand events to workers by document key, and
//! commit what they complete in source order.
//!
//! Events of one document (same namespace and `documentKey`) go to the same
//! worker, so they are handled in stream order; other documents' events run
//! in parallel. Completions are released by a low watermark: a group commits
//! ledger marks, state writes, dead letters and each stream's checkpoint
//! only for events that are complete and have no incomplete event before
//! them. Worker queues are bounded: when effects are slow, the run stops
//! pulling from the source, and a change stream stops calling getMore.

use super::commit::Group;
use super::done::{Completed, Completions, LOOK_EVERY};
use super::pool::{Queue, Workers};
use super::summary::RunSummary;
use super::ticks::{Ending, Ticks};
use super::watermark::Watermark;
use super::worker::Completion;
use crate::engine::{Engine, EngineError};
use crate::observer::Observer;
use crate::state::StateView;
use crate::timers::book::TimerBook;
use crate::timers::{TimerClock, Until};
use foldhash::{HashMap, HashMapExt};
use herald_core::Position;
use herald_ingest::{Source, StreamNotice};
use herald_store::RuleCounts;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How often the wall clock ticks (`herald run`): the precision of timers
/// while the source is quiet.
const WALL_TICK: Duration = Duration::from_secs(1);

/// Where an event came from, kept while a worker has it.
pub(super) struct Origin {
    pub(super) stream: Arc<str>,
    pub(super) position: Position,
    pub(super) times: (Option<bson::Timestamp>, Option<bson::DateTime>),
}

/// A completed step in source order.
pub(super) enum Slot {
    Event(Origin, Completion),
    /// A tick's completion: fired timers, no event.
    Tick(Completion),
    End(Arc<str>, Position),
    Notice(Arc<str>, StreamNotice),
}

/// The run's moving parts.
pub(super) struct Run<'a> {
    pub(super) state: Arc<StateView>,
    pub(super) book: Arc<TimerBook>,
    pub(super) ticks: Ticks,
    /// The latest event time dispatched (ms), where an event-time clock ends.
    pub(super) last_event_ms: Option<i64>,
    pub(super) group: Group,
    /// Per stream, the times of the newest released event, for checkpoints and lag.
    pub(super) times: HashMap<Arc<str>, (Option<bson::Timestamp>, Option<bson::DateTime>)>,
    pub(super) observer: &'a mut dyn Observer,
    pub(super) summary: RunSummary,
    watermark: Watermark<Slot>,
    pub(super) origins: HashMap<u64, Origin>,
    next_seq: u64,
    pub(super) released_up_to: u64,
    pub(super) in_flight: usize,
    /// A commit failed: nothing may commit after it.
    pub(super) commit_failed: bool,
    /// Stopped targets (by a policy or an error, in an earlier run or this
    /// one): their rules receive no event dispatched after the stop, from
    /// any stream.
    pub(super) stopped: Arc<Vec<herald_core::WatchTarget>>,
    /// Per stream, the cluster time it has handed on up to (its start, then
    /// each released position): where its targets stand if it stops.
    pub(super) stood: HashMap<Arc<str>, bson::Timestamp>,
    /// The stop records: those of earlier runs and this run's, written whole
    /// with the group that reaches a new stop.
    pub(super) stops: std::collections::BTreeMap<String, crate::stops::Stop>,
    /// Per rule running counts, and which changed since the last commit.
    pub(super) counts: HashMap<Arc<str>, (RuleCounts, bool)>,
    /// Per rule metrics.
    pub(super) meters: HashMap<Arc<str>, crate::metrics::RuleMeters>,
    /// Per stream metrics.
    pub(super) stream_meters: HashMap<Arc<str>, crate::metrics::StreamMeters>,
}

impl Engine {
    /// Runs `source` until it ends (or until `shutdown` completes), reporting to `observer`.
    ///
    /// Each stream resumes from its checkpoint unless `from_start` is set. On
    /// shutdown the run stops pulling, lets in-flight events finish within the
    /// configured deadline, commits, and returns.
    pub async fn run<S: Source>(
        &self,
        source: S,
        observer: &mut dyn Observer,
        shutdown: impl Future,
    ) -> Result<RunSummary, EngineError> {
        let limit = Duration::from_millis(self.core.settings.shutdown_timeout_ms);
        // The sleep starts when the wait does (an async block runs when polled).
        let drain_limit = async move { tokio::time::sleep(limit).await };
        self.run_draining(source, observer, shutdown, drain_limit)
            .await
    }

    /// [`Engine::run`], with the wait for the events in flight after
    /// `shutdown` bounded by `drain_limit` (polled from then on) rather than
    /// by `shutdown_timeout_ms`: a run ended to reload its rules lets every
    /// event finish, so none is abandoned mid-way and done again.
    ///
    /// ```no_run
    /// # async fn demo(engine: herald_engine::Engine, source: herald_ingest::FileSource) -> Result<(), herald_engine::EngineError> {
    /// // No limit: the events in flight always finish.
    /// engine.run_draining(source, &mut herald_engine::Quiet, async {}, std::future::pending::<()>()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn run_draining<S: Source>(
        &self,
        mut source: S,
        observer: &mut dyn Observer,
        shutdown: impl Future,
        drain_limit: impl Future,
    ) -> Result<RunSummary, EngineError> {
        let core = &self.core;
        let start = if core.options.from_start {
            super::resume::Start::default()
        } else {
            self.resume(&mut source).await?
        };
        let floors = Arc::new(start.floors);
        let counts = core
            .store
            .rule_counts()?
            .into_iter()
            .map(|(rule, c)| (Arc::from(rule.as_str()), (c, false)))
            .collect();
        let state = Arc::new(StateView::new(core.store.clone()));
        let book = Arc::new(TimerBook::new(
            core.store.clone(),
            core.options.dry_run,
            core.router.rules().iter().map(|r| r.name().clone()),
            core.options.partition,
        )?);
        let mut done_rx = super::done::queue();
        let (mut workers, senders) = Workers::start(&self.core, &state, &book, &floors, &done_rx)?;
        let mut run = Run {
            state,
            book,
            ticks: Ticks::default(),
            last_event_ms: None,
            group: self.new_group(),
            times: HashMap::new(),
            observer,
            summary: RunSummary::default(),
            watermark: Watermark::new(1),
            origins: HashMap::new(),
            next_seq: 1,
            released_up_to: 0,
            in_flight: 0,
            commit_failed: false,
            stopped: Arc::new(crate::stops::stopped_targets(&core.store)?),
            stops: crate::stops::stopped(&core.store)?,
            stood: start.streams.into_iter().collect(),
            counts,
            meters: HashMap::new(),
            stream_meters: HashMap::new(),
        };
        run.ticks.expect(source.streams());
        let stopped = run
            .stops
            .iter()
            .map(|(target, stop)| (target.clone(), stop.reason.clone()));
        self.health.started(&source.streams(), stopped.collect());
        let outcome = self
            .pump(
                &mut source,
                &senders,
                &mut workers,
                &mut done_rx,
                &mut run,
                shutdown,
            )
            .await;
        drop(senders);
        self.health.ended();
        // Let in-flight events finish (within the deadline), so their work is
        // committed; but nothing may commit after a failed commit.
        let drained = if run.commit_failed {
            Ok(())
        } else {
            self.drain(&mut workers, &mut done_rx, &mut run, drain_limit)
                .await
        };
        if let (Err(_), Err(e)) = (&outcome, &drained) {
            // Only one error is returned: the one that stopped the run.
            tracing::error!(error = %e, "while finishing the events in flight");
        }
        // Stop the workers and wait until they are gone, so nothing holds the store after the run.
        workers.stop().await;
        if run.commit_failed {
            return outcome.and(drained).map(|()| run.summary);
        }
        // Whatever stopped the run, the events completed so far are committed,
        // so nothing already done is done again, and nothing undone is skipped.
        self.commit_group(&mut run)?;
        outcome.and(drained).map(|()| run.summary)
    }

    /// After the pump: waits (until `limit` completes) for the events in
    /// flight and releases them in order. A worker that fails or dies ends
    /// the wait with its error (what was released before it still commits);
    /// events still running at the limit are abandoned, to be redone.
    async fn drain(
        &self,
        workers: &mut Workers,
        done: &mut Completions,
        run: &mut Run<'_>,
        limit: impl Future,
    ) -> Result<(), EngineError> {
        let mut completed = Vec::new();
        let mut limit = std::pin::pin!(limit);
        let mut look = tokio::time::interval(LOOK_EVERY);
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while run.in_flight > 0 {
            tokio::select! {
                biased;
                received = done.recv_many(&mut completed) => match received {
                    // Every worker has ended with events in flight.
                    0 => return Err(workers.failure().await),
                    _ => self.complete_events(&mut completed, run)?,
                },
                // A worker that died holds its events forever.
                Some(exit) = workers.next_exit() => {
                    if let Some(reason) = exit {
                        return Err(EngineError::WorkerFailed(reason));
                    }
                }
                _ = &mut limit => {
                    // What is complete by now is released, not redone.
                    if done.try_take(&mut completed) > 0 {
                        self.complete_events(&mut completed, run)?;
                    }
                    break;
                }
                // Completions put in the queue without a wake-up.
                _ = look.tick() => {}
            }
        }
        run.summary.abandoned = run.in_flight as u64;
        if run.in_flight > 0 {
            tracing::warn!(
                events = run.in_flight,
                "shutdown deadline passed with events in flight; they will be redone on the next run"
            );
        }
        Ok(())
    }

    async fn pump<S: Source>(
        &self,
        source: &mut S,
        senders: &[Queue],
        workers: &mut Workers,
        done: &mut Completions,
        run: &mut Run<'_>,
        shutdown: impl Future,
    ) -> Result<(), EngineError> {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut completed = Vec::new();
        let mut look = tokio::time::interval(LOOK_EVERY);
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let interval = Duration::from_millis(self.core.settings.commit_interval_ms);
        let capacity = senders.len() * self.core.settings.queue.max(1);
        let mut source_open = true;
        let wall = self.core.options.timers == TimerClock::Wall;
        let mut tick_at = tokio::time::Instant::now() + WALL_TICK;
        loop {
            if run.ticks.ending.is_some()
                && run.in_flight == 0
                && !self.fire_the_end(senders, run, &mut shutdown).await?
            {
                run.summary.interrupted = true;
                return Ok(());
            }
            if run.ticks.has_queued() && !self.send_ticks(senders, run, &mut shutdown).await? {
                run.summary.interrupted = true;
                return Ok(());
            }
            if !source_open && run.in_flight == 0 && run.ticks.idle() {
                return Ok(());
            }
            let deadline = tokio::time::Instant::from_std(run.group.started + interval);
            let pending = !run.group.is_empty();
            tokio::select! {
                biased;
                _ = &mut shutdown => {
                    run.summary.interrupted = true;
                    return Ok(());
                }
                n = done.recv_many(&mut completed), if run.in_flight > 0 => {
                    if n == 0 {
                        // Every worker has ended with events in flight.
                        return Err(workers.failure().await);
                    }
                    self.complete_events(&mut completed, run)?;
                }
                // Workers run until their queues close after the pump; one that
                // ends now has failed, and its events would never complete.
                Some(exit) = workers.next_exit() => {
                    let reason = exit
                        .unwrap_or_else(|| "it returned while the run was reading".to_owned());
                    return Err(EngineError::WorkerFailed(reason));
                }
                // Commit a group that waits on a slow source, so its events are not redone after a crash.
                _ = tokio::time::sleep_until(deadline), if pending => self.commit_group(run)?,
                // The wall clock fires what is due while the source is caught up.
                _ = tokio::time::sleep_until(tick_at), if wall && source_open => {
                    tick_at = tokio::time::Instant::now() + WALL_TICK;
                    let now = bson::DateTime::now().timestamp_millis();
                    if let Some(up_to) = run.ticks.wall_up_to(now) {
                        run.ticks.queue_wall(senders.len(), up_to);
                    }
                }
                // Bounded: events in flight, and completed events waiting
                // behind an unfinished one (they cannot be released yet).
                batch = source.next_batch(), if source_open && run.in_flight < capacity && run.next_seq - run.released_up_to <= 2 * capacity as u64 => match batch? {
                    Some(batch) => {
                        let now = bson::DateTime::now().timestamp_millis();
                        let caught_up = run.ticks.heard(&batch, now);
                        if !self.dispatch(batch, senders, run, &mut shutdown).await? {
                            run.summary.interrupted = true;
                            return Ok(());
                        }
                        // Caught up (at start, or after a backlog): what is due fires now,
                        // not at the next tick.
                        if wall && caught_up && let Some(up_to) = run.ticks.wall_up_to(now) {
                            run.ticks.queue_wall(senders.len(), up_to);
                            tick_at = tokio::time::Instant::now() + WALL_TICK;
                        }
                    }
                    None => {
                        source_open = false;
                        // An event-time clock ends at the last event (or `until`).
                        if let TimerClock::EventTime { until } = self.core.options.timers {
                            run.ticks.ending = match until {
                                Until::All => Some(Ending::All),
                                other => other.up_to(run.last_event_ms).map(Ending::At),
                            };
                        }
                    }
                },
                // Completions put in the queue without a wake-up.
                _ = look.tick(), if run.in_flight > 0 => {}
            }
        }
    }

    pub(super) fn take_seq(&self, run: &mut Run<'_>) -> u64 {
        let seq = run.next_seq;
        run.next_seq += 1;
        seq
    }

    /// Completes what workers sent, in the order received; stops at a failure.
    fn complete_events(
        &self,
        completed: &mut Vec<Completed>,
        run: &mut Run<'_>,
    ) -> Result<(), EngineError> {
        for (seq, result) in completed.drain(..) {
            run.in_flight -= 1;
            let completion = result?;
            if run.ticks.completed(seq, completion.more_due) {
                self.release(seq, Slot::Tick(completion), run)?;
                continue;
            }
            self.complete_event(seq, completion, run)?;
        }
        Ok(())
    }

    fn complete_event(
        &self,
        seq: u64,
        completion: Completion,
        run: &mut Run<'_>,
    ) -> Result<(), EngineError> {
        let origin = run
            .origins
            .remove(&seq)
            .expect("every dispatched event has an origin");
        self.release(seq, Slot::Event(origin, completion), run)
    }

    /// Marks `seq` complete and applies everything now contiguous, in order.
    ///
    /// A group is not committed between an event and the notices that follow
    /// it (a drop and the stop it causes): the checkpoint past the event and
    /// the stop are committed together.
    pub(super) fn release(
        &self,
        seq: u64,
        slot: Slot,
        run: &mut Run<'_>,
    ) -> Result<(), EngineError> {
        let mut released = run
            .watermark
            .complete(seq, slot)
            .map_err(|_| EngineError::Incomplete("an item completed twice (a bug in herald); the run stops rather than lose its work"))?
            .into_iter()
            .peekable();
        while let Some((seq, slot)) = released.next() {
            run.released_up_to = seq;
            match slot {
                Slot::Event(origin, completion) => {
                    if let Some(time) = origin.position.cluster_time().or(origin.times.0) {
                        run.stood.insert(origin.stream.clone(), time);
                    }
                    self.apply(origin, completion, run)?
                }
                Slot::Tick(completion) => self.apply_completion(completion, run)?,
                Slot::End(stream, position) => {
                    if let Some(time) = position.cluster_time() {
                        run.stood.insert(stream.clone(), time);
                    }
                    run.group.positions.insert(stream, position);
                }
                Slot::Notice(stream, notice) => self.take_notice(&stream, &notice, run)?,
            }
            let notice_next = matches!(released.peek(), Some((_, Slot::Notice(..))));
            if !notice_next && self.group_is_due(&run.group) {
                self.commit_group(run)?;
            }
        }
        Ok(())
    }
}
