//! Notices printed readably to stdout: the demo's default channel.

use super::{BoxFuture, Channel, EffectError};
use bson::Bson;
use herald_core::Effect;
use std::io::Write;

/// Prints each notice as a short block: channel, rule, then one line per field.
#[derive(Debug, Default)]
pub struct StdoutChannel;

/// Renders a field value for people: strings, ids, dates and decimals bare; the rest as relaxed JSON.
fn show(value: &Bson) -> String {
    match value {
        Bson::String(s) => s.clone(),
        Bson::ObjectId(oid) => oid.to_hex(),
        Bson::DateTime(d) => d.try_to_rfc3339_string().unwrap_or_else(|_| d.to_string()),
        Bson::Decimal128(d) => d.to_string(),
        Bson::Timestamp(t) => format!("Timestamp({}, {})", t.time, t.increment),
        other => other.clone().into_relaxed_extjson().to_string(),
    }
}

impl StdoutChannel {
    /// The text printed for an effect.
    pub fn render(effect: &Effect) -> String {
        let target = effect.intent.target().unwrap_or("-");
        let mut text = format!(
            "▶ {} {} (rule {})\n",
            effect.intent.kind(),
            target,
            effect.rule
        );
        for (key, value) in effect.intent.args() {
            text.push_str(&format!("    {key}: {}\n", show(&value)));
        }
        text
    }
}

impl Channel for StdoutChannel {
    fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(async move {
            let mut out = std::io::stdout().lock();
            match out
                .write_all(Self::render(effect).as_bytes())
                .and_then(|()| out.flush())
            {
                Ok(()) => Ok(()),
                // A closed pipe (`herald replay ... | head`) is not worth retrying.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    Err(EffectError::permanent("stdout is closed"))
                }
                Err(e) => Err(EffectError::transient(format!(
                    "cannot write to stdout: {e}"
                ))),
            }
        })
    }
}
