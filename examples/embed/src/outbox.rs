//! The program's own notification channel: `notify("sms", ..)` lands here.
//!
//! A real channel would call an SMS provider; this one keeps each message,
//! so the program can print them and its test can count them.

use herald_core::Effect;
use herald_engine::effects::{BoxFuture, Channel, EffectError};
use std::sync::{Arc, Mutex};

/// One text message a rule asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Sms {
    /// Whom to send it to (the rule's `to`).
    pub to: String,
    /// What it says (the rule's `text`).
    pub text: String,
    /// The effect's idempotency key: the same for every attempt at this
    /// message, even after a crash, so a provider can drop a repeat.
    pub key: String,
}

/// Collects the messages it is sent; clones share one list.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    sent: Arc<Mutex<Vec<Sms>>>,
}

impl Outbox {
    /// The messages sent so far, in the order they arrived.
    pub fn sent(&self) -> Vec<Sms> {
        self.sent
            .lock()
            .expect("the outbox lock is never held across a panic")
            .clone()
    }
}

impl Channel for Outbox {
    fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(async move {
            let args = effect.intent.args();
            let field = |name| {
                args.get_str(name).map(str::to_owned).map_err(|_| {
                    // Retrying cannot add a field: the rule has to be fixed.
                    EffectError::permanent(format!(
                        "an sms needs a string `{name}`; pass it to notify(\"sms\", #{{ {name}: .. }})"
                    ))
                })
            };
            let sms = Sms {
                to: field("to")?,
                text: field("text")?,
                key: effect.key.to_string(),
            };
            self.sent
                .lock()
                .expect("the outbox lock is never held across a panic")
                .push(sms);
            Ok(())
        })
    }
}
