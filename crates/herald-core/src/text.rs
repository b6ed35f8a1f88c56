//! Files people write (rules, configuration) must be UTF-8 text; when one is
//! not, the error points at the first byte that is not, as a line and column,
//! like every other error in such a file.

/// Reads a UTF-8 text file.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("x.rhai");
/// std::fs::write(&path, b"ok\nab\xff").unwrap();
/// let err = herald_core::text::read_utf8(&path).unwrap_err();
/// assert_eq!(err.to_string(), "line 2, column 3: the file is not UTF-8 text (an invalid byte here); save it as UTF-8");
/// ```
pub fn read_utf8(path: &std::path::Path) -> Result<String, TextError> {
    let bytes = std::fs::read(path).map_err(TextError::Read)?;
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        // The valid prefix of the line, in characters.
        let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        TextError::NotUtf8 { line, column }
    })
}

/// Why a text file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// The file cannot be read.
    #[error("cannot read: {0}")]
    Read(std::io::Error),
    /// A byte that is not UTF-8, at this 1-based line and column.
    #[error(
        "line {line}, column {column}: the file is not UTF-8 text (an invalid byte here); save it as UTF-8"
    )]
    NotUtf8 {
        /// The line.
        line: usize,
        /// The column, in characters.
        column: usize,
    },
}
