//! The command line's own lines on stderr: banners, summaries, warnings and
//! errors, as text for people or, with `--log-format json`, as JSON lines in
//! the layout of the logs (target `herald`), with the numbers of a summary
//! as typed fields.

use super::json;
use crate::cli::LogFormat;
use serde_json::Value;
use std::fmt::Display;

/// A banner, progress or summary line: `text` as is, or a JSON `INFO` line.
pub fn info(text: impl Display, fields: Value) {
    write("INFO", "", text, fields);
}

/// A warning: `warning: text`, or a JSON `WARN` line.
pub fn warn(text: impl Display, fields: Value) {
    write("WARN", "warning: ", text, fields);
}

/// An error: `error: text`, or a JSON `ERROR` line.
pub fn error(text: impl Display, fields: Value) {
    write("ERROR", "error: ", text, fields);
}

/// Lines that belong together (a source snippet under an error): written as
/// they are for people, left out of JSON, which carries their facts as fields.
pub fn detail(text: impl Display) {
    if super::format() == LogFormat::Pretty {
        eprintln!("{text}");
    }
}

fn write(level: &str, prefix: &str, text: impl Display, fields: Value) {
    match super::format() {
        LogFormat::Pretty => eprintln!("{prefix}{text}"),
        LogFormat::Json => {
            let mut all = serde_json::Map::new();
            all.insert("message".into(), text.to_string().into());
            if let Value::Object(fields) = fields {
                all.extend(fields);
            }
            eprintln!("{}", json::line(level, "herald", Value::Object(all)));
        }
    }
}
