//! Applying released completions to the open group, and committing groups.

use super::run::{Origin, Run};
use super::worker::{CommitOp, Completion, Outcome, Report};
use crate::engine::{Engine, EngineError};
use foldhash::{HashMap, HashMapExt};
use herald_core::Position;
use herald_ingest::StreamNotice;
use herald_store::{Checkpoint, Commit, Durability};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The uncommitted group.
pub(super) struct Group {
    pub(super) commit: Commit,
    pub(super) events: usize,
    pub(super) started: Instant,
    /// Per stream, the position to store: the newest released one.
    pub(super) positions: HashMap<Arc<str>, Position>,
}

impl Group {
    pub(super) fn is_empty(&self) -> bool {
        self.events == 0 && self.positions.is_empty() && self.commit.is_empty()
    }
}

impl Engine {
    /// Applies an event's completion, and moves its stream's position.
    pub(super) fn apply(
        &self,
        origin: Origin,
        completion: Completion,
        run: &mut Run<'_>,
    ) -> Result<(), EngineError> {
        run.summary.events += 1;
        self.apply_completion(completion, run)?;
        // After the event's rule series: a scrape that sees the event sees them.
        run.stream_meters
            .entry(origin.stream.clone())
            .or_insert_with_key(crate::metrics::StreamMeters::new)
            .events
            .increment(1);
        run.group.events += 1;
        run.times.insert(origin.stream.clone(), origin.times);
        run.observer.event_done(&origin.position);
        run.group.positions.insert(origin.stream, origin.position);
        Ok(())
    }

    /// Applies what an item did (an event's, or a tick's fired timers) to the
    /// summary, the observer and the open group.
    pub(super) fn apply_completion(
        &self,
        completion: Completion,
        run: &mut Run<'_>,
    ) -> Result<(), EngineError> {
        // Fired timers count toward the group's size, as events do.
        run.group.events += completion.timers_fired as usize;
        let summary = &mut run.summary;
        summary.matched += completion.matched;
        summary.effects += completion.effects;
        summary.state_writes += completion.state_writes;
        summary.deduplicated += completion.deduplicated;
        summary.dead_lettered += completion.dead_lettered;
        summary.timers_fired += completion.timers_fired;
        summary.timers_set += completion.timers_set;
        for report in &completion.reports {
            match report {
                Report::DryRun(effect) => run.observer.dry_run(effect),
                Report::DryRunIntent(rule, token, intent) => {
                    run.observer.dry_run_intent(rule, token, intent)
                }
                Report::HandlerFailed(rule, diagnostic) => {
                    run.observer.handler_failed(rule, diagnostic)
                }
                Report::EffectFailed(effect, error, attempts) => {
                    run.observer.effect_failed(effect, error, *attempts)
                }
            }
        }
        for tally in &completion.outcomes {
            run.meters
                .entry(tally.rule.clone())
                .or_insert_with_key(crate::metrics::RuleMeters::new)
                .record(tally);
            let (counts, dirty) = run.counts.entry(tally.rule.clone()).or_default();
            counts.matched += 1;
            match tally.outcome {
                Outcome::Succeeded => counts.succeeded += 1,
                Outcome::Failed => counts.failed += 1,
                Outcome::Deduplicated => counts.deduplicated += 1,
            }
            *dirty = true;
        }
        let commit = &mut run.group.commit;
        for op in completion.ops {
            match op {
                CommitOp::Done(mark) => commit.mark(mark),
                CommitOp::SetState { owner, key, value } => {
                    commit.set_state(&owner, &key, &value)?
                }
                CommitOp::DelState { owner, key } => commit.del_state(&owner, &key),
                CommitOp::SetTimer(timer) => commit.set_timer(&timer)?,
                CommitOp::CancelTimer { rule, name } => commit.cancel_timer(&rule, &name),
                CommitOp::FireTimer {
                    rule,
                    name,
                    version,
                } => commit.fire_timer(&rule, &name, version),
                CommitOp::DeadLetter(letter) => commit.add_dead_letter(&letter)?,
            }
        }
        Ok(())
    }

    pub(super) fn take_notice(
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
                if !self.core.options.dry_run {
                    let gap = herald_store::Gap {
                        stream: stream.to_owned(),
                        last: last.as_ref().map(ToString::to_string),
                        last_time: last_time.map(|t| [t.time, t.increment]),
                        resumed_at_ms: bson::DateTime::now().timestamp_millis(),
                        reason: reason.clone(),
                    };
                    run.group.commit.gap(self.core.store.next_id()?, &gap);
                }
            }
            StreamNotice::Stopped {
                targets,
                reason,
                failed,
            } => {
                self.record_stops(stream, targets, reason, *failed, run)?;
                if *failed {
                    tracing::error!(stream, reason, "stream stopped");
                    run.summary.streams_failed += 1;
                    run.summary
                        .stream_failures
                        .push(format!("{stream}: {reason}"));
                } else {
                    tracing::warn!(stream, reason, "stream stopped");
                }
            }
            StreamNotice::TargetStopped { target, reason } => {
                self.record_stops(stream, std::slice::from_ref(target), reason, false, run)?;
                tracing::warn!(stream, %target, reason, "target stopped: its rules receive no later event");
            }
            StreamNotice::SnapshotOverlap { count, reason } => {
                run.summary.snapshot_overlap += count;
                if !self.core.options.dry_run {
                    let info = serde_json::json!({
                        "changes": count,
                        "reason": reason,
                        "at_ms": bson::DateTime::now().timestamp_millis(),
                    });
                    let name = format!("{}{stream}", crate::SNAPSHOT_OVERLAP_INFO);
                    run.group.commit.set_info(&name, &info);
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
                run.stream_meters
                    .entry(Arc::from(stream))
                    .or_insert_with_key(crate::metrics::StreamMeters::new)
                    .restarts
                    .increment(1);
            }
        }
        Ok(())
    }

    /// Records stopped targets in the open group, so they stay stopped after
    /// a restart, with where their rules stood: after the event that stopped
    /// them (a policy stop follows its drop, rename or invalidate event), or,
    /// for an error, from where the stream had handed on up to.
    fn record_stops(
        &self,
        stream: &str,
        targets: &[herald_core::WatchTarget],
        reason: &str,
        failed: bool,
        run: &mut Run<'_>,
    ) -> Result<(), EngineError> {
        run.summary
            .stream_stops
            .extend(targets.iter().map(|t| format!("{t}: {reason}")));
        if self.core.options.dry_run || targets.is_empty() {
            return Ok(());
        }
        let stop = crate::stops::Stop {
            reason: reason.to_owned(),
            at_ms: bson::DateTime::now().timestamp_millis(),
            failed,
            stood: run.stood.get(stream).map(|t| {
                let time = [t.time, t.increment];
                if failed {
                    crate::stops::Stood::From(time)
                } else {
                    crate::stops::Stood::After(time)
                }
            }),
        };
        for target in targets {
            run.stops.insert(target.to_string(), stop.clone());
        }
        crate::stops::record(&mut run.group.commit, &run.stops);
        Ok(())
    }

    pub(super) fn new_group(&self) -> Group {
        Group {
            commit: self.core.store.begin(),
            events: 0,
            started: Instant::now(),
            positions: HashMap::new(),
        }
    }

    pub(super) fn group_is_due(&self, group: &Group) -> bool {
        let settings = &self.core.settings;
        !group.is_empty()
            && (settings.durability == Durability::Always
                || group.events >= settings.commit_every
                || group.started.elapsed() >= Duration::from_millis(settings.commit_interval_ms))
    }

    /// Commits the open group and starts a new one.
    ///
    /// A failed commit stops the run: the group's ledger marks, state writes
    /// and dead letters were not written, so no later group may move the
    /// checkpoint past them. The run returns [`EngineError::CommitFailed`] and
    /// commits nothing more.
    pub(super) fn commit_group(&self, run: &mut Run<'_>) -> Result<(), EngineError> {
        if run.commit_failed {
            return Err(EngineError::Incomplete(
                "a commit failed earlier in this run; nothing more may commit",
            ));
        }
        let mut done = std::mem::replace(&mut run.group, self.new_group());
        if self.core.options.dry_run {
            return Ok(());
        }
        for (stream, position) in done.positions {
            let (cluster_time, wall_time) = run.times.get(&stream).copied().unwrap_or((None, None));
            let mut checkpoint = Checkpoint::new(position);
            checkpoint.cluster_time = cluster_time.map(|t| [t.time, t.increment]);
            checkpoint.wall_time_ms = wall_time.map(|w| w.timestamp_millis());
            done.commit.checkpoint_at(&stream, &checkpoint);
        }
        for (rule, (counts, dirty)) in run.counts.iter_mut().filter(|(_, (_, dirty))| *dirty) {
            done.commit.rule_counts(rule, counts);
            *dirty = false;
        }
        let started = std::time::Instant::now();
        if let Err(e) = self.core.channels.sync_all() {
            run.commit_failed = true;
            tracing::error!(error = %e, "a channel could not flush; stopping the run");
            return Err(EngineError::SyncFailed(e.message));
        }
        if let Err(e) = self.core.store.commit(done.commit) {
            run.commit_failed = true;
            tracing::error!(error = %e, "group commit failed; stopping the run");
            return Err(EngineError::CommitFailed(e));
        }
        crate::metrics::commit_took(started.elapsed());
        run.state.committed(run.released_up_to);
        // After the commit: a fired timer is then gone from the store.
        run.book.committed(run.released_up_to);
        Ok(())
    }
}
