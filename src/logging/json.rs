//! The `--log-format json` layout: one object per line, fields typed.
//!
//! tracing-subscriber's own JSON format writes every field it cannot record
//! as a number, boolean or string as its debug text, so a list of targets
//! arrives as `"[\"a\", \"b\"]"`. This layout keeps numbers and booleans
//! and embeds the fields in [`JSON_FIELDS`] (values that are JSON text by
//! contract, such as an effect's `args`) as JSON, so a log pipeline gets
//! arrays and objects.

use serde_json::{Map, Value};
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Fields whose text is JSON by contract: an effect's `args`, a stream's
/// `targets` and `rules`.
pub const JSON_FIELDS: [&str; 3] = ["args", "targets", "rules"];

/// One line: `{"timestamp", "level", "target", "fields"}`.
pub fn line(level: &str, target: &str, fields: Value) -> Value {
    serde_json::json!({
        "timestamp": bson::DateTime::now().try_to_rfc3339_string().unwrap_or_default(),
        "level": level,
        "target": target,
        "fields": fields,
    })
}

/// The event formatter for `tracing_subscriber::fmt().event_format(..)`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Lines;

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let line = line(
            meta.level().as_str(),
            meta.target(),
            Value::Object(fields.0),
        );
        writeln!(writer, "{line}")
    }
}

/// Records an event's fields as JSON values.
#[derive(Default)]
struct Fields(Map<String, Value>);

impl Fields {
    fn text(&mut self, field: &Field, text: String) {
        let value = match JSON_FIELDS.contains(&field.name()) {
            true => serde_json::from_str(&text).unwrap_or(Value::String(text)),
            false => Value::String(text),
        };
        self.0.insert(field.name().to_owned(), value);
    }
}

impl Visit for Fields {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%x` fields arrive here too, with `Debug` printing their `Display`.
        self.text(field, format!("{value:?}"));
    }
}

/// A panic's message, whatever its payload.
pub fn panic_message(info: &std::panic::PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    /// Formats the events `emit` logs with [`Lines`], one JSON value each.
    fn lines(emit: impl FnOnce()) -> Vec<Value> {
        let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let layer = tracing_subscriber::fmt::layer()
            .event_format(Lines)
            .with_writer(move || Sink(sink.clone()));
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn fields_keep_their_types_and_json_fields_are_embedded() {
        let got = lines(|| {
            let targets = serde_json::json!(["shop.orders", "shop"]).to_string();
            tracing::warn!(target: "herald::effect", attempt = 3_u64, ok = true, ratio = 0.5,
                args = %r#"{"to":"ann","n":[1,2]}"#, targets = %targets,
                error = %"[not json by contract]", "effect failed");
        });
        assert_eq!(got.len(), 1);
        let line = &got[0];
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["target"], "herald::effect");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'), "{line}");
        assert_eq!(
            line["fields"],
            serde_json::json!({
                "message": "effect failed", "attempt": 3, "ok": true, "ratio": 0.5,
                "args": {"to": "ann", "n": [1, 2]}, "targets": ["shop.orders", "shop"],
                "error": "[not json by contract]",
            })
        );
    }
}
