//! Where a source stands: what a checkpoint stores.

use serde::{Deserialize, Serialize};

/// A source's position after some event, from which it can resume.
///
/// ```
/// use herald_core::Position;
/// let p = Position::File { offset: 120, line: 2 };
/// assert_eq!(p.to_string(), "line 2 (byte 120)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Position {
    /// A file source: the byte offset just past the last consumed line, and that line's number.
    File {
        /// Byte offset of the next line to read.
        offset: u64,
        /// Number (1-based) of the last line consumed.
        line: u64,
    },
    /// A change stream: the resume token's canonical bytes ([`crate::ResumeToken::as_bytes`]).
    Token {
        /// The token's bytes.
        bytes: Vec<u8>,
    },
}

impl Position {
    /// The cluster time a change stream position stands at, if its token
    /// says (see [`crate::ResumeToken::cluster_time`]); `None` for files.
    pub fn cluster_time(&self) -> Option<bson::Timestamp> {
        match self {
            Self::Token { bytes } => crate::ResumeToken::from_bytes(bytes.clone())
                .ok()?
                .cluster_time(),
            Self::File { .. } => None,
        }
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File { offset, line } => write!(f, "line {line} (byte {offset})"),
            Self::Token { bytes } => match crate::ResumeToken::from_bytes(bytes.clone()) {
                Ok(token) => write!(f, "token {token}"),
                Err(_) => write!(f, "token <{} unreadable bytes>", bytes.len()),
            },
        }
    }
}
