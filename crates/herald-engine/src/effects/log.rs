//! Effects written to herald's log as structured events.

use super::{BoxFuture, Channel, EffectError};
use herald_core::{Effect, LogLevel, ResumeToken};

/// Writes a rule's `log(level, message)` to herald's log, target
/// `herald::rule`. Not an effect: it has no idempotency key, is not retried,
/// and is written again if the event is handled again.
pub fn write_rule_log(rule: &str, token: &ResumeToken, level: LogLevel, message: &str) {
    match level {
        LogLevel::Debug => tracing::debug!(target: "herald::rule", rule, %token, "{message}"),
        LogLevel::Info => tracing::info!(target: "herald::rule", rule, %token, "{message}"),
        LogLevel::Warn => tracing::warn!(target: "herald::rule", rule, %token, "{message}"),
        LogLevel::Error => tracing::error!(target: "herald::rule", rule, %token, "{message}"),
    }
}

/// Writes notices through `tracing`, target `herald::effect`, at `info`.
#[derive(Debug, Default)]
pub struct LogChannel;

impl Channel for LogChannel {
    fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(async move {
            let rule = effect.rule.as_ref();
            let key = effect.key.as_str();
            let intent = &effect.intent;
            let args = herald_core::extjson::to_relaxed(&intent.args()).to_string();
            tracing::info!(target: "herald::effect", rule, key, kind = intent.kind(), target = intent.target().unwrap_or(""), args = %args, "effect");
            Ok(())
        })
    }
}
