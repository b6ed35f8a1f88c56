//! Firing a worker's due timers: before an event (those of its partition
//! due by its time) or on a tick, each through its rule's `on_timer`, with
//! its removal and ledger mark committed with the item.

use super::changes::Home;
use super::rule_run::Call;
use super::worker::{CommitOp, Completion, Env, run_and_record};
use crate::engine::{Core, EngineError};
use herald_store::Timer;

/// The most timers a tick fires; the run sends another for the rest.
pub(crate) const TIMERS_PER_TICK: usize = 1_000;

/// The most timers fired before one event (bounding what one completion
/// holds): beyond it, the rest fire with the partition's next items.
pub(crate) const TIMERS_BEFORE_EVENT: usize = 10_000;

/// Fires the `partitions`' timers due by `up_to`, earliest first, at most
/// `limit`; true if it stopped at the limit.
pub(super) async fn fire_due(
    core: &Core,
    env: &Env<'_>,
    seq: u64,
    partitions: &[usize],
    up_to: i64,
    limit: usize,
    completion: &mut Completion,
) -> Result<bool, EngineError> {
    let mut fired = 0;
    while fired < limit {
        let due = env.book.due(partitions, up_to, (limit - fired).min(256))?;
        if due.is_empty() {
            return Ok(false);
        }
        for timer in due {
            fire(core, env, seq, timer, completion).await;
            fired += 1;
        }
    }
    Ok(true)
}

/// Fires one timer: its rule's `on_timer`, its effects, its changes. Its
/// removal and ledger mark commit with the item, so it fires once.
pub(super) async fn fire(
    core: &Core,
    env: &Env<'_>,
    seq: u64,
    timer: Timer,
    completion: &mut Completion,
) {
    let Some(rule) = core.router.rule(&timer.rule) else {
        return; // the book hands out only the timers of loaded rules
    };
    if !env.book.is_current(&timer) {
        return; // cancelled or set again since it was handed out
    }
    let dry_run = core.options.dry_run;
    env.book
        .write(seq, (rule.name().clone(), timer.name.clone()), None);
    completion.timers_fired += 1;
    if !dry_run {
        completion.ops.push(CommitOp::FireTimer {
            rule: rule.name().clone(),
            name: timer.name.clone(),
            version: timer.version,
        });
    }
    let token = crate::timers::timer_token(&timer.name, timer.due_ms, timer.version);
    let call = crate::timers::call_of(&timer);
    let home = std::cell::LazyCell::new(|| Home::of_timer(&timer));
    let letter = || crate::timers::dead_letter_event(&timer);
    run_and_record(
        core,
        env,
        seq,
        rule,
        Call::Timer(&call, &token),
        &home,
        letter,
        completion,
    )
    .await;
}

/// Warns (once per rule) when a call cancels or replaces a timer another
/// document's event set: that timer fires in its own document's partition,
/// so which comes first, the cancel or the firing, is a race.
pub(super) fn warn_if_elsewhere(env: &Env<'_>, home: &Home, id: &crate::timers::book::TimerId) {
    match env.book.partition_of(id) {
        Ok(Some(partition)) if partition != home.partition() => {
            if env.book.first_cross_partition_change(&id.0) {
                tracing::warn!(
                    rule = %id.0,
                    timer = %id.1,
                    "a timer set by another document's event is cancelled or set again here; it fires in that document's partition, so this change races with its firing: name timers after their document and change them from its events (or check state in on_timer)"
                );
            }
        }
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "cannot read a timer"),
    }
}
