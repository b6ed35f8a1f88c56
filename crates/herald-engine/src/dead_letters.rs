//! The dead-letter queue, worked from outside a run: retry or drop entries.

use crate::engine::{Engine, EngineError};
use crate::pipeline::changes::{self, Home};
use crate::pipeline::rule_run::{Call, Prior, RuleEnv, run_rule_guarded};
use crate::pipeline::worker::Completion;
use crate::state::StateView;
use herald_core::ChangeEvent;
use std::sync::Arc;

/// What retrying a dead letter did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// The rule ran and every effect completed; the entry is gone.
    Succeeded {
        /// Effects executed.
        effects: u64,
    },
    /// It failed again; the entry stays (same id, same first failure time),
    /// with the new error, the attempts added and the time of this failure.
    FailedAgain {
        /// The new error.
        error: String,
        /// Attempts in all, earlier ones included.
        attempts: u32,
    },
}

impl Engine {
    /// Re-runs a dead letter's rule on its stored event (or `on_timer` on its
    /// stored timer), with the same idempotency keys. On success the entry is removed, the (rule, event)
    /// marked done and the rule's counts moved from failed to succeeded,
    /// atomically; on failure the entry is updated in place.
    pub async fn retry_dead_letter(&self, id: u64) -> Result<RetryOutcome, EngineError> {
        let core = &self.core;
        let letter = core
            .store
            .dead_letter(id)?
            .ok_or(EngineError::NoSuchDeadLetter(id))?;
        let rule = self
            .rules()
            .iter()
            .find(|r| r.name().as_ref() == letter.rule)
            .ok_or_else(|| EngineError::UnknownRule(letter.rule.clone()))?;
        let timer = crate::timers::from_dead_letter(&letter.event);
        let event = match &timer {
            Some(_) => None,
            None => Some(Arc::new(
                ChangeEvent::from_raw(letter.event.clone())
                    .map_err(|e| EngineError::BadDeadLetter(id, e.to_string()))?,
            )),
        };
        let timer_call = timer.as_ref().map(crate::timers::call_of);
        let timer_token = timer
            .as_ref()
            .map(|t| crate::timers::timer_token(&t.name, t.due_ms, t.version));
        let (call, home) = match (&event, &timer, &timer_call, &timer_token) {
            (Some(event), ..) => (Call::Event(event), Home::of_event(event)),
            (None, Some(timer), Some(call), Some(token)) => {
                (Call::Timer(call, token), Home::of_timer(timer))
            }
            _ => unreachable!("a dead letter holds an event or a timer"),
        };
        let state = Arc::new(StateView::new(core.store.clone()));
        let mut completion = Completion::default();
        let mut commit = core.store.begin();
        // Effects that completed before the failure are not carried out again.
        let prior = Prior {
            keys: letter.keys,
            done: &letter.done,
        };
        let outcome = run_rule_guarded(
            core,
            rule,
            call,
            RuleEnv {
                state: &state,
                limits: &core.limits,
            },
            &mut completion,
            prior,
        )
        .await;
        // What the effects did must be durable before the store says so, either way.
        core.channels
            .sync_all()
            .map_err(|e| EngineError::SyncFailed(e.message))?;
        match outcome {
            Ok(intents) => {
                changes::commit(&mut commit, changes::of_call(rule, call, &home, intents))?;
                commit.mark_done(rule.name(), call.token().as_bytes());
                commit.remove_dead_letter(id);
                // The match counted as failed now succeeded: `herald status`
                // moves it, so matched = succeeded + failed + deduplicated.
                if let Some(mut counts) = core.store.rule_count(rule.name())?
                    && counts.failed > 0
                {
                    counts.failed -= 1;
                    counts.succeeded += 1;
                    commit.rule_counts(rule.name(), &counts);
                }
                core.store.commit(commit)?;
                Ok(RetryOutcome::Succeeded {
                    effects: completion.effects,
                })
            }
            Err(failure) => {
                let error = failure.message;
                let mut updated = letter;
                updated.error = error.clone();
                updated.attempts = updated.attempts.saturating_add(failure.attempts);
                updated.done = failure.done;
                updated.at = bson::DateTime::now();
                commit.dead_letter(&updated)?;
                core.store.commit(commit)?;
                Ok(RetryOutcome::FailedAgain {
                    error,
                    attempts: updated.attempts,
                })
            }
        }
    }

    /// Removes a dead letter without retrying it; false if there was none.
    pub fn drop_dead_letter(&self, id: u64) -> Result<bool, EngineError> {
        let store = &self.core.store;
        if store.dead_letter(id)?.is_none() {
            return Ok(false);
        }
        let mut commit = store.begin();
        commit.remove_dead_letter(id);
        store.commit(commit)?;
        Ok(true)
    }
}
