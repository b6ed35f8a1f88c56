//! What a worker does with one event (the threads are in `pool`).
//!
//! A worker routes an event, runs the matching rules' handlers and executes
//! their effects, then hands back a [`Completion`]: what to commit and what
//! to report. Nothing is committed here; the run commits completions in
//! source order once every earlier event is complete.

use super::floor::{Floor, Floors, below_floor};
use super::rule_run::{Prior, RuleEnv, run_rule_guarded};
use crate::engine::{Core, EngineError};
use crate::state::StateView;
use bson::Bson;
use herald_core::{ChangeEvent, Effect, Intent, WatchTarget};
use herald_script::{CallLimits, Diagnostic};
use herald_store::DeadLetter;
use std::sync::Arc;

/// An event for a worker, with its place in source order.
pub(crate) struct WorkItem {
    pub(crate) seq: u64,
    pub(crate) event: Arc<ChangeEvent>,
    /// What the stream it came from watches (see [`herald_ingest::Batch::scope`]).
    pub(crate) scope: Option<Arc<WatchTarget>>,
    /// Targets stopped before it was read, whose rules it does not reach.
    pub(crate) stopped: Arc<Vec<WatchTarget>>,
}

/// A change to commit.
pub(crate) enum CommitOp {
    /// The (rule, event) pair is complete: its ledger fingerprint.
    Done(u128),
    SetState {
        rule: Arc<str>,
        key: String,
        value: Bson,
    },
    DelState {
        rule: Arc<str>,
        key: String,
    },
    /// A new dead letter (its id is given when the group commits).
    DeadLetter(Box<DeadLetter>),
}

/// Something to tell the observer, in source order.
pub(crate) enum Report {
    DryRun(Effect),
    /// In a dry run, an intent that is not an effect (`log`, state).
    DryRunIntent(Arc<str>, herald_core::ResumeToken, Intent),
    HandlerFailed(Arc<str>, Diagnostic),
    EffectFailed(Effect, String, u32),
}

/// How one rule fared on one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Succeeded,
    Failed,
    Deduplicated,
}

/// What handling one event produced.
#[derive(Default)]
pub(crate) struct Completion {
    pub(crate) outcomes: Vec<(Arc<str>, Outcome)>,
    pub(crate) ops: Vec<CommitOp>,
    pub(crate) reports: Vec<Report>,
    pub(crate) matched: u64,
    pub(crate) effects: u64,
    /// `set_state` and `del_state` calls applied (kept in memory in a dry run).
    pub(crate) state_writes: u64,
    pub(crate) deduplicated: u64,
    pub(crate) dead_lettered: u64,
}

/// Routes one event and runs every matching rule on it.
pub(crate) async fn process(
    core: &Core,
    state: &Arc<StateView>,
    floors: &Floors,
    limits: &CallLimits,
    item: &WorkItem,
) -> Result<Completion, EngineError> {
    let (seq, event) = (item.seq, &item.event);
    let mut completion = Completion::default();
    let token = event.token().as_bytes();
    let dry_run = core.options.dry_run;
    // Each distinct masked view of the event is built once, for all rules.
    let mut views = super::view::Views::new(event);
    for rule in core.router.candidates(event) {
        // A stopped target's rules, and events before a rule's floor (done in
        // an earlier run, or from before the rule was added), are not matches.
        if item.stopped.contains(&rule.spec().watch) || !takes(floors, rule.name(), event) {
            continue;
        }
        // From a stream, the rule sees (and filters) the event as it asked.
        let view = match item.scope {
            Some(_) => views.for_rule(rule),
            None => Arc::clone(event),
        };
        let event = &view;
        if !rule.accepts_in(event, item.scope.as_deref()) {
            continue;
        }
        completion.matched += 1;
        let mark = herald_store::ledger::fingerprint(rule.name(), token);
        if !core.options.from_start && core.store.is_marked(mark) {
            completion.deduplicated += 1;
            completion
                .outcomes
                .push((rule.name().clone(), Outcome::Deduplicated));
            continue;
        }
        match run_rule_guarded(
            core,
            rule,
            event,
            RuleEnv { state, limits },
            &mut completion,
            Prior::NONE,
        )
        .await
        {
            Ok(state_changes) => {
                completion
                    .outcomes
                    .push((rule.name().clone(), Outcome::Succeeded));
                // A dry run keeps state in memory only, so later events still see it.
                for (key, value) in state_changes
                    .into_iter()
                    .filter_map(Intent::into_state_write)
                {
                    completion.state_writes += 1;
                    state.write(seq, rule.name(), &key, value.clone());
                    if !dry_run {
                        completion.ops.push(match value {
                            Some(value) => CommitOp::SetState {
                                rule: rule.name().clone(),
                                key,
                                value,
                            },
                            None => CommitOp::DelState {
                                rule: rule.name().clone(),
                                key,
                            },
                        });
                    }
                }
            }
            // A dry run writes no dead letter, but counts the failure as a
            // real run would (the handler's diagnostic is already reported).
            Err(_) if dry_run => {
                completion.dead_lettered += 1;
                completion
                    .outcomes
                    .push((rule.name().clone(), Outcome::Failed));
            }
            Err(failure) => {
                let now = bson::DateTime::now();
                completion
                    .outcomes
                    .push((rule.name().clone(), Outcome::Failed));
                completion.dead_lettered += 1;
                completion
                    .ops
                    .push(CommitOp::DeadLetter(Box::new(DeadLetter {
                        // Numbered when its group commits.
                        id: 0,
                        rule: rule.name().to_string(),
                        token: token.to_vec(),
                        event: event.raw().to_owned(),
                        error: failure.message,
                        attempts: failure.attempts,
                        keys: herald_store::KeyScheme::EffectsOnly,
                        done: failure.done,
                        first_at: now,
                        at: now,
                    })));
            }
        }
        if !dry_run {
            // Done either way: completed, or owned by the dead-letter queue.
            completion.ops.push(CommitOp::Done(mark));
        }
    }
    Ok(completion)
}

/// Whether `rule` takes `event` as far as its floor goes: a change at or
/// after it; a snapshot's event only if the rule's floor is that snapshot
/// (the rules new at its target's first start: one added later, or whose
/// target had started, takes none). Without floors (replays of files)
/// every event.
fn takes(floors: &Floors, rule: &str, event: &herald_core::ChangeEvent) -> bool {
    // A change, or an event that says `snapshot` without a snapshot's
    // token (a stage set the field): held to the floor like any change.
    let Some(t) = event.snapshot_at() else {
        return !below_floor(floors, rule, event.cluster_time());
    };
    match floors.get(rule) {
        None => true,
        Some(Floor::Snapshot(at)) => *at == [t.time, t.increment],
        Some(_) => false,
    }
}
