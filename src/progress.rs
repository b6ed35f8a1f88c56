//! Progress bars on stderr (replays, snapshots), when stderr is a terminal.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// A bar over the file's bytes; hidden when stderr is not a terminal.
pub fn for_file(bytes: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() || crate::logging::format() != crate::cli::LogFormat::Pretty
    {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(bytes);
    let style =
        ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {wide_bar} {per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// A counter of `what` with its rate; hidden when stderr is not a terminal.
pub fn for_count(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() || crate::logging::format() != crate::cli::LogFormat::Pretty
    {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    let template = format!("{{spinner}} {{pos}} {what} ({{per_sec}})");
    bar.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar
}
