//! Effect executors: what turns an intent into something done.
//!
//! A [`Channel`] executes effects; [`Channels`] maps intents to channels by
//! name. Executors must be idempotent in effect, not in call: herald may
//! call one twice for the same effect after a crash, always with the same
//! [`IdempotencyKey`](herald_core::IdempotencyKey), which they pass on
//! (`Idempotency-Key` header, `_id`, `key` field).

mod file;
mod log;
mod mongodb;
mod registry;
mod retry;
mod stdout;
mod webhook;

pub use self::mongodb::DocWriteChannel;
pub use file::FileChannel;
pub use log::{LogChannel, write_rule_log};
pub use registry::Channels;
pub use retry::{Backoff, Backoffs, execute_with_retry};
pub use stdout::StdoutChannel;
pub use webhook::{
    REPLY_EXCERPT_BYTES, SIGNATURE_HEADER, WebhookChannel, install_crypto_provider,
    webhook_signature,
};

use herald_core::Effect;
use std::future::Future;
use std::pin::Pin;

/// A boxed future, for object-safe async channels.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an effect failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EffectError {
    /// True if trying again may succeed (timeouts, 5xx, connection errors).
    pub retryable: bool,
    /// What went wrong.
    pub message: String,
}

impl EffectError {
    /// A failure worth retrying.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            message: message.into(),
        }
    }

    /// A failure that retrying will not fix (bad request, missing configuration).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            message: message.into(),
        }
    }
}

/// Something that executes effects: a notification channel, a webhook, a custom sink.
///
/// ```
/// use herald_core::Effect;
/// use herald_engine::effects::{BoxFuture, Channel, EffectError};
///
/// struct Sms;
/// impl Channel for Sms {
///     fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
///         Box::pin(async move {
///             println!("SMS {} {:?}", effect.key, effect.intent.args());
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait Channel: Send + Sync {
    /// Executes one effect.
    fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>>;

    /// Makes the effects sent so far durable (a file channel fsyncs). Called
    /// before each group commit: once a checkpoint moves past an event, its
    /// effects must survive a power loss. Blocking is allowed; an error stops
    /// the run before the commit. The default does nothing.
    fn sync(&self) -> Result<(), EffectError> {
        Ok(())
    }
}
