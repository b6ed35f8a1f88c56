//! A progress bar on stderr while replaying, when stderr is a terminal.

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
