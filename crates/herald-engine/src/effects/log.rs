//! Effects written to herald's log as structured events.

use super::{BoxFuture, Channel, EffectError};
use herald_core::{Effect, Intent, LogLevel};

/// Writes notices (and `log` intents) through `tracing`, target `herald::effect`.
#[derive(Debug, Default)]
pub struct LogChannel;

impl Channel for LogChannel {
    fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(async move {
            let rule = effect.rule.as_ref();
            let key = effect.key.as_str();
            match &effect.intent {
                Intent::Log { level, message } => match level {
                    LogLevel::Debug => {
                        tracing::debug!(target: "herald::rule", rule, key, "{message}")
                    }
                    LogLevel::Info => {
                        tracing::info!(target: "herald::rule", rule, key, "{message}")
                    }
                    LogLevel::Warn => {
                        tracing::warn!(target: "herald::rule", rule, key, "{message}")
                    }
                    LogLevel::Error => {
                        tracing::error!(target: "herald::rule", rule, key, "{message}")
                    }
                },
                other => {
                    let args = herald_core::extjson::to_relaxed(&other.args()).to_string();
                    tracing::info!(target: "herald::effect", rule, key, kind = other.kind(), target = other.target().unwrap_or(""), args = %args, "effect");
                }
            }
            Ok(())
        })
    }
}
