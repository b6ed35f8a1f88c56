//! Errors that point into a rule file.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// An error at a place in a rule (or fixture) file.
///
/// Displayed as `file:line:col: message`, the form editors and CI logs link.
///
/// ```
/// use herald_script::Diagnostic;
/// let d = Diagnostic::new("rules/a.rhai", 3, 7, "unknown operation type \"inserted\"");
/// assert_eq!(d.to_string(), "rules/a.rhai:3:7: unknown operation type \"inserted\"");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// 1-based line; 0 when the error has no position.
    pub line: usize,
    /// 1-based column; 0 when the error has no position.
    pub column: usize,
    /// What is wrong and what to do.
    pub message: String,
    /// The file's text, for rendering the offending line.
    pub source: Option<Arc<str>>,
}

impl Diagnostic {
    /// A diagnostic without source text.
    pub fn new(
        file: impl Into<PathBuf>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            line,
            column,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the file's text.
    pub fn with_source(mut self, source: Arc<str>) -> Self {
        self.source = Some(source);
        self
    }

    /// Byte offset of (line, column) in the source, for span-based renderers.
    pub fn offset(&self) -> Option<usize> {
        let source = self.source.as_deref()?;
        if self.line == 0 {
            return None;
        }
        let line_start = source
            .split_inclusive('\n')
            .take(self.line - 1)
            .map(str::len)
            .sum::<usize>();
        let line_text = source[line_start..].split('\n').next().unwrap_or("");
        let column = line_text
            .char_indices()
            .nth(self.column.saturating_sub(1))
            .map_or(line_text.len(), |(i, _)| i);
        Some(line_start + column)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.column,
                self.message
            )
        }
    }
}

impl std::error::Error for Diagnostic {}

/// Builds a diagnostic from a Rhai position.
pub(crate) fn at_position(
    file: &std::path::Path,
    source: &Arc<str>,
    pos: rhai::Position,
    message: impl Into<String>,
) -> Diagnostic {
    Diagnostic::new(
        file,
        pos.line().unwrap_or(0),
        pos.position().unwrap_or(0),
        message,
    )
    .with_source(source.clone())
}

/// The 1-based (line, column) of a byte offset.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Finds `const NAME` (and, with `key`, the line of `key:` after it) as 1-based (line, column).
pub(crate) fn locate(source: &str, name: &str, key: Option<&str>) -> (usize, usize) {
    let decl = source.find(&format!("const {name}")).unwrap_or(0);
    let offset = key
        .and_then(|k| {
            let rest = &source[decl..];
            rest.match_indices(k).find(|(i, _)| {
                let before_ok = rest[..*i]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !c.is_alphanumeric() && c != '_');
                let after = rest[i + k.len()..].trim_start();
                before_ok && (after.starts_with(':') || after.starts_with("\":"))
            })
        })
        .map_or(decl, |(i, _)| decl + i);
    line_column(source, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_lines_and_columns() {
        let d = Diagnostic::new("f", 2, 3, "x").with_source("ab\ncdef\n".into());
        assert_eq!(d.offset(), Some(5));
        let d = Diagnostic::new("f", 0, 0, "x").with_source("ab".into());
        assert_eq!(d.offset(), None);
    }
}
