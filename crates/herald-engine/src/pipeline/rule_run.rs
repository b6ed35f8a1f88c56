//! Running one rule on one event (or one due timer): the handler, then its
//! intents in order.
//!
//! Only intents that act outside herald are *effects* and are numbered:
//! `notify`, `webhook`, `insert_doc` and `upsert_doc`, in the order the
//! handler recorded them. An effect's idempotency key is `hash(rule id, event
//! token, effect number)` (a timer's token: [`crate::timers::timer_token`]),
//! so adding a `log(..)` or `set_state(..)` line to a rule does not change the
//! keys of its effects. `log` is written to herald's log at once; state and
//! timer changes are returned for the commit.

use crate::effects::execute_with_retry;
use crate::engine::Core;
use crate::state::StateView;
use herald_core::{ChangeEvent, Effect, Intent, ResumeToken};
use herald_script::{CallLimits, Rule, StateRead, TimerCall};
use herald_store::{DoneEffect, KeyScheme};
use std::sync::Arc;

use super::worker::{Completion, Report};

/// Why a rule failed on an event: what its dead letter records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleFailure {
    /// What went wrong (the handler's diagnostic, or the failing effect and its error).
    pub(crate) message: String,
    /// Attempts made of the failing step.
    pub(crate) attempts: u32,
    /// The effects completed, so a retry carries out only the rest.
    pub(crate) done: Vec<DoneEffect>,
}

/// What an earlier attempt of a (rule, event) did: how it numbered its
/// effects, and which of them completed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prior<'a> {
    pub(crate) keys: KeyScheme,
    pub(crate) done: &'a [DoneEffect],
}

impl Prior<'_> {
    /// A first attempt.
    pub(crate) const NONE: Prior<'static> = Prior {
        keys: KeyScheme::EffectsOnly,
        done: &[],
    };
}

/// What a rule is called for: an event (`handle`), or a due timer
/// (`on_timer`, its effects keyed by the timer's token).
#[derive(Clone, Copy)]
pub(crate) enum Call<'a> {
    Event(&'a Arc<ChangeEvent>),
    Timer(&'a TimerCall, &'a ResumeToken),
}

impl Call<'_> {
    /// The token its effects' keys are derived from.
    pub(crate) fn token(&self) -> &ResumeToken {
        match self {
            Call::Event(event) => event.token(),
            Call::Timer(_, token) => token,
        }
    }

    /// The call's clock: the event's time, or the timer's due time.
    pub(crate) fn now(&self) -> Option<bson::DateTime> {
        match self {
            Call::Event(event) => event.time(),
            Call::Timer(timer, _) => Some(timer.due),
        }
    }
}

/// What a handler call reads besides its event: the rule state as of its
/// place in the run, and the limits it runs under.
#[derive(Clone, Copy)]
pub(crate) struct RuleEnv<'a> {
    pub(crate) state: &'a Arc<StateView>,
    pub(crate) limits: &'a CallLimits,
}

/// [`run_rule`], with a panic (in a channel, or anywhere below) turned into
/// that (rule, event)'s failure: a dead letter with the panic message. A
/// panic must never leave an event in flight forever, which would stop the
/// checkpoint and hang the run.
pub(crate) async fn run_rule_guarded(
    core: &Core,
    rule: &Rule,
    call: Call<'_>,
    env: RuleEnv<'_>,
    completion: &mut Completion,
    prior: Prior<'_>,
) -> Result<Vec<Intent>, RuleFailure> {
    use futures_util::FutureExt;
    // Effects completed by this attempt; kept outside the call so a panic
    // does not lose what was already done.
    let mut completed: Vec<Effect> = Vec::new();
    let attempt = std::panic::AssertUnwindSafe(run_rule(
        core,
        rule,
        call,
        env,
        completion,
        prior,
        &mut completed,
    ));
    let result = match attempt.catch_unwind().await {
        Ok(result) => result,
        Err(payload) => {
            let message = format!("panicked: {}", panic_message(payload.as_ref()));
            tracing::error!(rule = %rule.name(), token = %call.token(), "{message}");
            Err((message, 1))
        }
    };
    // What was done is digested only when it must be remembered: on failure.
    result.map_err(|(message, attempts)| RuleFailure {
        message,
        attempts,
        done: prior
            .done
            .iter()
            .copied()
            .chain(completed.iter().map(|e| DoneEffect {
                number: e.index,
                digest: e.intent.digest(),
            }))
            .collect(),
    })
}

/// The text of a panic, when it has one.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Runs a handler and executes its effects, numbered as `prior.keys` says,
/// skipping those an earlier attempt completed and adding each it completes
/// to `completed`. Returns the state changes to apply, or the error and
/// attempts that send the (rule, event) to the dead-letter queue.
async fn run_rule(
    core: &Core,
    rule: &Rule,
    call: Call<'_>,
    env: RuleEnv<'_>,
    completion: &mut Completion,
    prior: Prior<'_>,
    completed: &mut Vec<Effect>,
) -> Result<Vec<Intent>, (String, u32)> {
    let reader: Arc<dyn StateRead> = env.state.clone();
    let started = std::time::Instant::now();
    let ran = match call {
        Call::Event(event) => {
            if let Some(why) = super::view::missing_image(rule, event) {
                return Err((why, 1));
            }
            rule.handle_with(event, reader, env.limits)
        }
        Call::Timer(timer, _) => rule.fire_timer(timer, reader, env.limits),
    };
    completion.handler_time += started.elapsed();
    let token = call.token();
    let intents = match ran {
        Ok(intents) => intents,
        Err(diagnostic) => {
            tracing::error!(rule = %rule.name(), %token, "{diagnostic}");
            let message = diagnostic.to_string();
            completion
                .reports
                .push(Report::HandlerFailed(rule.name().clone(), diagnostic));
            return Err((message, 1));
        }
    };
    let mut state_changes = Vec::new();
    let mut number = 0u32;
    for intent in intents {
        if prior.keys == KeyScheme::AllIntents && !intent.is_effect() {
            number += 1;
        }
        if !intent.is_effect() {
            if core.options.dry_run {
                completion.reports.push(Report::DryRunIntent(
                    rule.name().clone(),
                    token.clone(),
                    intent.clone(),
                ));
            }
            match intent {
                Intent::Log { level, message } if !core.options.dry_run => {
                    crate::effects::write_rule_log(rule.name(), token, level, &message);
                }
                Intent::Log { .. } => {}
                state_change => state_changes.push(state_change),
            }
            continue;
        }
        let effect = Effect::new(rule.name().clone(), token.clone(), number, intent);
        number += 1;
        if core.options.dry_run {
            completion.effects += 1;
            completion.reports.push(Report::DryRun(effect));
            continue;
        }
        if let Some(before) = prior.done.iter().find(|d| d.number == effect.index) {
            if before.digest == effect.intent.digest() {
                continue;
            }
            // The rule (or the state it read) changed since the first attempt:
            // skipping would lose this effect, sending it would reuse a key a
            // receiver has already seen with other content.
            let message = format!(
                "effect {} ({} {}) is not the one carried out before the failure (the rule or its state changed); drop the dead letter, or restore the rule",
                effect.index,
                effect.intent.kind(),
                effect.intent.target().unwrap_or("")
            );
            return Err((message, 1));
        }
        let result = match core.channels.for_intent(&effect.intent) {
            Ok(channel) => {
                execute_with_retry(
                    channel.as_ref(),
                    &effect,
                    core.backoff.for_target(effect.intent.target()),
                )
                .await
            }
            Err(e) => Err((e, 1)),
        };
        match result {
            Ok(attempts) => {
                completion.retries += u64::from(attempts - 1);
                completion.effects += 1;
                completed.push(effect);
            }
            Err((error, attempts)) => {
                completion.retries += u64::from(attempts.saturating_sub(1));
                tracing::error!(rule = %rule.name(), key = %effect.key, attempts, %error, "effect failed; the event goes to the dead-letter queue");
                let message = format!(
                    "{} {}: {}",
                    effect.intent.kind(),
                    effect.intent.target().unwrap_or(""),
                    error.message
                );
                completion
                    .reports
                    .push(Report::EffectFailed(effect, error.message, attempts));
                return Err((message, attempts));
            }
        }
    }
    Ok(state_changes)
}
