//! Rendering rule diagnostics with the offending source line (miette).

use crate::logging::say;
use herald_script::Diagnostic;
use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource, Report,
};
use std::io::IsTerminal;

/// Prints a diagnostic to stderr: `error: file:line:col: message`, then the line with a marker.
pub fn print(diagnostic: &Diagnostic) {
    say::error(diagnostic, fields(diagnostic));
    snippet(diagnostic);
}

/// Prints a warning like [`print`] prints an error.
pub fn warn(diagnostic: &Diagnostic) {
    say::warn(diagnostic, fields(diagnostic));
    snippet(diagnostic);
}

/// Where a diagnostic is, as JSON log fields.
fn fields(diagnostic: &Diagnostic) -> serde_json::Value {
    serde_json::json!({
        "file": diagnostic.file.display().to_string(),
        "line": diagnostic.line,
        "column": diagnostic.column,
        "reason": diagnostic.message,
    })
}

/// The source line with a marker, for people (JSON logs carry the position).
fn snippet(diagnostic: &Diagnostic) {
    if crate::logging::format() != crate::cli::LogFormat::Pretty {
        return;
    }
    let (Some(source), Some(offset)) = (&diagnostic.source, diagnostic.offset()) else {
        return;
    };
    // The message is on the line above; the report adds only the source snippet.
    let report: Report = MietteDiagnostic::new(format!("in {}", diagnostic.file.display()))
        .with_label(LabeledSpan::at_offset(offset, "here"))
        .into();
    let report = report.with_source_code(NamedSource::new(
        diagnostic.file.display().to_string(),
        source.to_string(),
    ));
    let theme = if std::io::stderr().is_terminal() {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let mut text = String::new();
    if GraphicalReportHandler::new_themed(theme)
        .render_report(&mut text, report.as_ref())
        .is_ok()
    {
        say::detail(text);
    }
}
