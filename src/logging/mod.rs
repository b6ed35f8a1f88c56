//! Everything herald writes on stderr: logs, banners, summaries, warnings
//! and errors, so stdout carries only a command's output.
//!
//! - [`init`] installs the `tracing` subscriber for the libraries' logs.
//! - [`say`] writes the command line's own lines (banners, summaries,
//!   errors) in the same format.
//! - [`json`] is the `--log-format json` layout both use: one JSON object per
//!   line, `{"timestamp", "level", "target", "fields": {"message", ...}}`,
//!   with numbers, booleans, arrays and objects as themselves.

pub mod json;
pub mod say;

use crate::cli::LogFormat;
use std::io::IsTerminal;
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// The log filter without `RUST_LOG`: warnings and errors, plus what rules
/// ask for: notices sent to a `kind = "log"` channel (`herald::effect`) and
/// `log("info", ..)` lines (`herald::rule`), which are the rules' output;
/// and the progress of snapshot reads (`herald::snapshot`).
pub const DEFAULT_FILTER: &str = "warn,herald::effect=info,herald::rule=info,herald::snapshot=info";

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// The format chosen by `--log-format` (pretty until [`init`] runs).
pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or(LogFormat::Pretty)
}

/// Installs the global subscriber (level from `RUST_LOG`, default
/// [`DEFAULT_FILTER`]) and, for JSON, a panic hook that reports panics as
/// JSON lines too.
pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder
            .with_ansi(std::io::stderr().is_terminal())
            .compact()
            .init(),
        LogFormat::Json => {
            builder.with_ansi(false).event_format(json::Lines).init();
            std::panic::set_hook(Box::new(|info| {
                // A handler's or channel's panic is caught, and its event
                // dead-lettered: the thread says where it happened.
                let location = info.location().map(ToString::to_string);
                let thread = std::thread::current().name().map(str::to_owned);
                say::error(
                    format!("panic: {}", json::panic_message(info)),
                    serde_json::json!({ "location": location, "thread": thread, "kind": "panic" }),
                );
            }));
        }
    }
}
