//! Logs on stderr, so stdout carries only a command's output.

use crate::cli::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// The log filter without `RUST_LOG`: warnings and errors, plus what rules
/// ask for: notices sent to a `kind = "log"` channel (`herald::effect`) and
/// `log("info", ..)` lines (`herald::rule`), which are the rules' output.
pub const DEFAULT_FILTER: &str = "warn,herald::effect=info,herald::rule=info";

/// Installs the global subscriber: level from `RUST_LOG` (default [`DEFAULT_FILTER`]).
pub fn init(format: &LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Pretty => builder.compact().init(),
        LogFormat::Json => builder.json().init(),
    }
}
