//! Retrying effects with capped exponential backoff and jitter.

use super::{Channel, EffectError};
use crate::config::RetryConfig;
use herald_core::Effect;
use std::time::Duration;

/// How long to wait between attempts.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Wait before the second attempt.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

/// The backoff of each channel: the default, and overrides by channel or webhook name.
#[derive(Debug, Clone)]
pub struct Backoffs {
    default: Backoff,
    by_target: std::collections::HashMap<String, Backoff>,
}

impl From<&RetryConfig> for Backoffs {
    fn from(config: &RetryConfig) -> Self {
        let default = Backoff::from(config);
        let by_target = config
            .max_attempts_for
            .iter()
            .map(|(name, attempts)| {
                (
                    name.clone(),
                    Backoff {
                        max_attempts: (*attempts).max(1),
                        ..default
                    },
                )
            })
            .collect();
        Self { default, by_target }
    }
}

impl Backoffs {
    /// The backoff for effects addressed to `target` (a channel or webhook name).
    pub fn for_target(&self, target: Option<&str>) -> &Backoff {
        target
            .and_then(|t| self.by_target.get(t))
            .unwrap_or(&self.default)
    }
}

impl From<&RetryConfig> for Backoff {
    fn from(config: &RetryConfig) -> Self {
        Self {
            max_attempts: config.max_attempts.max(1),
            initial: Duration::from_millis(config.initial_backoff_ms),
            max: Duration::from_millis(config.max_backoff_ms),
        }
    }
}

impl Backoff {
    /// The wait after failed attempt number `attempt` (1-based): doubling, capped,
    /// then "equal jitter" (between half and all of it) so that many failing
    /// effects do not retry in lockstep.
    pub fn delay(&self, attempt: u32) -> Duration {
        herald_core::backoff::delay(self.initial, self.max, attempt)
    }
}

/// Runs an effect until it succeeds, fails permanently, or runs out of attempts.
///
/// Returns the number of attempts made, or the last error with that number.
pub async fn execute_with_retry(
    channel: &dyn Channel,
    effect: &Effect,
    backoff: &Backoff,
) -> Result<u32, (EffectError, u32)> {
    let mut attempt = 1;
    loop {
        match channel.send(effect).await {
            Ok(()) => return Ok(attempt),
            Err(e) if !e.retryable || attempt >= backoff.max_attempts => return Err((e, attempt)),
            Err(e) => {
                let wait = backoff.delay(attempt);
                tracing::warn!(rule = %effect.rule, key = %effect.key, attempt, wait_ms = wait.as_millis() as u64, error = %e, "effect failed; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::BoxFuture;
    use bson::{RawBson, doc};
    use herald_core::{Intent, ResumeToken};
    use std::sync::Mutex;

    struct Scripted(Mutex<Vec<Result<(), EffectError>>>);

    impl Channel for Scripted {
        fn send<'a>(&'a self, _effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
            let next = self.0.lock().unwrap().remove(0);
            Box::pin(async move { next })
        }
    }

    fn effect() -> Effect {
        let intent = Intent::Notify {
            channel: "c".into(),
            message: doc! {},
        };
        Effect::new("r".into(), ResumeToken::new(RawBson::Int32(1)), 0, intent)
    }

    fn backoff() -> Backoff {
        Backoff {
            max_attempts: 3,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(150),
        }
    }

    #[test]
    fn delays_double_are_capped_and_jittered() {
        let b = backoff();
        for _ in 0..100 {
            let first = b.delay(1);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let third = b.delay(3);
            assert!(
                third >= Duration::from_millis(75) && third <= Duration::from_millis(150),
                "{third:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_until_success() {
        let channel = Scripted(Mutex::new(vec![Err(EffectError::transient("503")), Ok(())]));
        assert_eq!(
            execute_with_retry(&channel, &effect(), &backoff()).await,
            Ok(2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_bounded() {
        let errors = (0..3)
            .map(|_| Err(EffectError::transient("down")))
            .collect();
        let channel = Scripted(Mutex::new(errors));
        let (err, attempts) = execute_with_retry(&channel, &effect(), &backoff())
            .await
            .unwrap_err();
        assert_eq!((err.message.as_str(), attempts), ("down", 3));
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let channel = Scripted(Mutex::new(vec![Err(EffectError::permanent("400")), Ok(())]));
        let (_, attempts) = execute_with_retry(&channel, &effect(), &backoff())
            .await
            .unwrap_err();
        assert_eq!(attempts, 1);
    }
}
