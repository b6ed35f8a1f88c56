//! What a worker does with one event, or a tick (the threads are in `pool`).
//!
//! A worker fires its timers due by the event's time, routes the event, runs
//! the matching rules' handlers and executes their effects, then hands back
//! a [`Completion`]: what to commit and what to report. A tick only fires
//! timers. Nothing is committed here; the run commits completions in source
//! order once every earlier item is complete.

use super::changes::{self, Change, Home};
use super::fire::{TIMERS_BEFORE_EVENT, TIMERS_PER_TICK, fire, fire_due, warn_if_elsewhere};
use super::floor::{Floors, takes};
use super::partition::{PARTITIONS, worker_of};
use super::rule_run::{Call, Prior, RuleEnv, run_rule_guarded};
use crate::engine::{Core, EngineError};
use crate::router::Candidates;
use crate::state::StateView;
use crate::timers::book::TimerBook;
use bson::Bson;
use herald_core::{ChangeEvent, Effect, Intent, WatchTarget};
use herald_script::{CallLimits, Diagnostic, Rule};
use herald_store::{DeadLetter, Timer};
use std::cell::LazyCell;
use std::sync::Arc;

/// An item for a worker, with its place in source order.
pub(crate) struct WorkItem {
    pub(crate) seq: u64,
    pub(crate) work: Work,
}

/// What a worker is handed.
pub(crate) enum Work {
    /// An event of the worker's documents.
    Event {
        event: Arc<ChangeEvent>,
        /// The rules it may reach ([`crate::router::Router::candidate_indexes`]),
        /// by index into the run's router: the dispatch and the workers
        /// share one `Core`, which a run never changes (`Engine::replace_rules`
        /// takes the engine `&mut`).
        candidates: Candidates,
        /// Its document's partition (worked out once, by the dispatch).
        partition: usize,
        /// What the stream it came from watches (see [`herald_ingest::Batch::scope`]).
        scope: Option<Arc<WatchTarget>>,
        /// Targets stopped before it was read, whose rules it does not reach.
        stopped: Arc<Vec<WatchTarget>>,
        /// Its partition's timers due by this time (ms) fire before it.
        fire_by: Option<i64>,
    },
    /// Fire the timers of the worker's partitions due by this time (ms).
    Tick { up_to: i64 },
    /// Fire this timer (handed out by the end of an event-time source).
    Fire(Box<Timer>),
}

/// A change to commit.
pub(crate) enum CommitOp {
    /// The (rule, event) pair (or fired timer) is complete: its ledger fingerprint.
    Done(u128),
    /// A state write in a state scope (a rule's, or a shared one).
    SetState {
        owner: Arc<str>,
        key: String,
        value: Bson,
    },
    DelState {
        owner: Arc<str>,
        key: String,
    },
    SetTimer(Box<Timer>),
    CancelTimer {
        rule: Arc<str>,
        name: String,
    },
    /// A fired timer's removal, unless it was set again meanwhile.
    FireTimer {
        rule: Arc<str>,
        name: String,
        version: u64,
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

/// What one rule's run on an item came to, for its counts and metrics.
pub(crate) struct RuleTally {
    pub(crate) rule: Arc<str>,
    pub(crate) outcome: Outcome,
    /// Effects carried out.
    pub(crate) effects: u64,
    /// Effect attempts after a failure.
    pub(crate) retries: u64,
    /// How long the handler call took (none if it did not run).
    pub(crate) handler: Option<std::time::Duration>,
}

/// What handling one event produced.
#[derive(Default)]
pub(crate) struct Completion {
    pub(crate) outcomes: Vec<RuleTally>,
    /// Effect attempts after a failure, over the item's calls.
    pub(crate) retries: u64,
    /// Time spent in handler calls, over the item's calls.
    pub(crate) handler_time: std::time::Duration,
    pub(crate) ops: Vec<CommitOp>,
    pub(crate) reports: Vec<Report>,
    pub(crate) matched: u64,
    pub(crate) effects: u64,
    /// `set_state` and `del_state` calls applied (kept in memory in a dry run).
    pub(crate) state_writes: u64,
    pub(crate) deduplicated: u64,
    pub(crate) dead_lettered: u64,
    /// Timers fired (their effects are counted in `effects`).
    pub(crate) timers_fired: u64,
    /// Timers set (`after`, `at`) by the calls of this item.
    pub(crate) timers_set: u64,
    /// A tick stopped at its limit: more of the worker's timers may be due
    /// by this time (the tick's, resolved), for another tick.
    pub(crate) more_due: Option<i64>,
}

/// What a worker's calls share besides the engine: the state and timers
/// they see, their limits, and which worker it is.
pub(crate) struct Env<'a> {
    pub(crate) state: &'a Arc<StateView>,
    pub(crate) book: &'a TimerBook,
    pub(crate) floors: &'a Floors,
    pub(crate) limits: &'a CallLimits,
    pub(crate) worker: usize,
    pub(crate) workers: usize,
}

/// Handles one item: an event (after the timers due by its time), or a tick.
pub(crate) async fn process(
    core: &Core,
    env: &Env<'_>,
    item: &WorkItem,
) -> Result<Completion, EngineError> {
    let mut completion = Completion::default();
    match &item.work {
        Work::Event {
            event,
            candidates,
            partition,
            scope,
            stopped,
            fire_by,
        } => {
            if let Some(up_to) = *fire_by {
                let more = fire_due(
                    core,
                    env,
                    item.seq,
                    &[*partition],
                    up_to,
                    TIMERS_BEFORE_EVENT,
                    &mut completion,
                )
                .await?;
                if more {
                    tracing::warn!(
                        limit = TIMERS_BEFORE_EVENT,
                        "more timers were due before one event than fire at once; the rest fire with the next items of its partition, after this event"
                    );
                }
            }
            handle_event(
                core,
                env,
                item.seq,
                event,
                candidates,
                scope.as_deref(),
                stopped,
                &mut completion,
            )
            .await?;
        }
        Work::Fire(timer) => fire(core, env, item.seq, (**timer).clone(), &mut completion).await,
        Work::Tick { up_to } => {
            let partitions: Vec<usize> = (0..PARTITIONS)
                .filter(|p| worker_of(*p, env.workers) == env.worker)
                .collect();
            // Across the worker's partitions, earliest first.
            let more = fire_due(
                core,
                env,
                item.seq,
                &partitions,
                *up_to,
                TIMERS_PER_TICK,
                &mut completion,
            )
            .await?;
            completion.more_due = more.then_some(*up_to);
        }
    }
    Ok(completion)
}

/// Runs one rule for one call unless the ledger has it done, and records
/// what to commit: its changes, or its dead letter, and its ledger mark.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_and_record<H: FnOnce() -> Home>(
    core: &Core,
    env: &Env<'_>,
    seq: u64,
    rule: &Rule,
    call: Call<'_>,
    home: &LazyCell<Home, H>,
    letter_event: impl FnOnce() -> bson::RawDocumentBuf,
    completion: &mut Completion,
) {
    let dry_run = core.options.dry_run;
    let token = call.token().as_bytes();
    let mark = herald_store::ledger::fingerprint(rule.name(), token);
    if !core.options.from_start && core.store.is_marked(mark) {
        completion.deduplicated += 1;
        completion.outcomes.push(RuleTally {
            rule: rule.name().clone(),
            outcome: Outcome::Deduplicated,
            effects: 0,
            retries: 0,
            handler: None,
        });
        return;
    }
    let before = (
        completion.effects,
        completion.retries,
        completion.handler_time,
    );
    let tally = |completion: &Completion, outcome| RuleTally {
        rule: rule.name().clone(),
        outcome,
        effects: completion.effects - before.0,
        retries: completion.retries - before.1,
        handler: Some(completion.handler_time - before.2),
    };
    let rule_env = RuleEnv {
        state: env.state,
        limits: env.limits,
    };
    match run_rule_guarded(core, rule, call, rule_env, completion, Prior::NONE).await {
        Ok(intents) => {
            completion
                .outcomes
                .push(tally(completion, Outcome::Succeeded));
            // A dry run keeps state and timers in memory only, so later calls still see them.
            if !intents.is_empty() {
                // The document's home is worked out only for a call that changes something.
                let home: &Home = home;
                for change in changes::of_call(rule, call, home, intents) {
                    record_change(env, seq, home, change, dry_run, completion);
                }
            }
        }
        // A dry run writes no dead letter, but counts the failure as a
        // real run would (the handler's diagnostic is already reported).
        Err(_) if dry_run => {
            completion.dead_lettered += 1;
            completion.outcomes.push(tally(completion, Outcome::Failed));
        }
        Err(failure) => {
            let now = bson::DateTime::now();
            completion.outcomes.push(tally(completion, Outcome::Failed));
            completion.dead_lettered += 1;
            completion
                .ops
                .push(CommitOp::DeadLetter(Box::new(DeadLetter {
                    // Numbered when its group commits.
                    id: 0,
                    rule: rule.name().to_string(),
                    token: token.to_vec(),
                    event: letter_event(),
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

/// Makes a change visible to later calls, and (unless a dry run) an op to commit.
fn record_change(
    env: &Env<'_>,
    seq: u64,
    home: &Home,
    change: Change,
    dry_run: bool,
    completion: &mut Completion,
) {
    match change {
        Change::State { owner, key, value } => {
            completion.state_writes += 1;
            env.state.write(seq, &owner, &key, value.clone());
            if !dry_run {
                completion.ops.push(match value {
                    Some(value) => CommitOp::SetState { owner, key, value },
                    None => CommitOp::DelState { owner, key },
                });
            }
        }
        Change::Timer { id, set } => {
            if set.is_some() {
                completion.timers_set += 1;
            }
            warn_if_elsewhere(env, home, &id);
            env.book.write(seq, id.clone(), set.clone());
            if !dry_run {
                completion.ops.push(match set {
                    Some(timer) => CommitOp::SetTimer(Box::new(timer)),
                    None => CommitOp::CancelTimer {
                        rule: id.0,
                        name: id.1,
                    },
                });
            }
        }
    }
}

/// Whether this instance runs the event's rules. Cluster mode: an event
/// without a document key reaches every partition, and its rules run once,
/// in the first; a server before 7.0 sent every partition's keyed events
/// too, and another's are not ours.
pub(super) fn runs_here(core: &Core, event: &ChangeEvent) -> bool {
    let Some(partition) = core.options.partition else {
        return true;
    };
    let key = event.document_key();
    !(key.is_none() || core.options.partition_in_herald) || partition.owns(key)
}

/// Runs every matching rule of `candidates` (the rules the dispatch found the
/// event may reach) on one event.
#[allow(clippy::too_many_arguments)]
async fn handle_event(
    core: &Core,
    env: &Env<'_>,
    seq: u64,
    event: &Arc<ChangeEvent>,
    candidates: &[u32],
    scope: Option<&WatchTarget>,
    stopped: &[WatchTarget],
    completion: &mut Completion,
) -> Result<(), EngineError> {
    if !runs_here(core, event) {
        return Ok(());
    }
    // Each distinct masked view of the event is built once, for all rules.
    let mut views = super::view::Views::new(event);
    let home = LazyCell::new(|| Home::of_event(event));
    for rule in candidates.iter().map(|&i| &core.router.rules()[i as usize]) {
        // A stopped target's rules, and events before a rule's floor (done in
        // an earlier run, or from before the rule was added), are not matches.
        if stopped.contains(&rule.spec().watch) || !takes(env.floors, rule.name(), event) {
            continue;
        }
        // From a stream, the rule sees (and filters) the event as it asked.
        let view = match scope {
            Some(_) => views.for_rule(rule),
            None => Arc::clone(event),
        };
        if !rule.accepts_in(&view, scope) {
            continue;
        }
        completion.matched += 1;
        let letter = || view.raw().to_owned();
        run_and_record(
            core,
            env,
            seq,
            rule,
            Call::Event(&view),
            &home,
            letter,
            completion,
        )
        .await;
    }
    Ok(())
}
