//! MongoDB Extended JSON v2, canonical and relaxed.
//!
//! Reading goes straight from text to raw BSON ([`parse_raw_document`]); a
//! bare `5` is an int32, a bare `5000000000` an int64, `{"$numberLong": "5"}`
//! an int64, exactly as the `bson` crate reads Extended JSON.
//!
//! Layout:
//! - `parser.rs`: the parser's state and the JSON grammar (objects, arrays, literals);
//! - `strings.rs`: strings, scanned a word at a time, and their escapes;
//! - `number.rs`: numbers, valued as they are scanned;
//! - `wrappers.rs`: objects that are Extended JSON values (`$oid`, `$date`, ...);
//! - `date.rs`: the fast reading of UTC dates.

mod date;
mod number;
mod parser;
mod strings;
mod wrappers;

use bson::{Bson, Document, RawDocumentBuf};

/// Why a text is not an Extended JSON document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ExtJsonError {
    /// 1-based column (byte offset + 1) in the line where the problem was found.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses one Extended JSON document (a whole line of a JSON Lines file) into raw BSON.
///
/// ```
/// use herald_core::extjson::parse_raw_document;
/// let raw = parse_raw_document(r#"{"n": {"$numberLong": "5"}, "small": 5}"#).unwrap();
/// assert_eq!(raw.get_i64("n").unwrap(), 5);
/// assert_eq!(raw.get_i32("small").unwrap(), 5);
/// ```
pub fn parse_raw_document(text: &str) -> Result<RawDocumentBuf, ExtJsonError> {
    let mut bytes = Vec::with_capacity(text.len());
    parser::parse_into(text, &mut bytes)?;
    RawDocumentBuf::from_bytes(bytes).map_err(|e| ExtJsonError {
        column: 1,
        message: format!("invalid BSON produced: {e}"),
    })
}

/// Parses one Extended JSON document into a [`Document`].
///
/// ```
/// use herald_core::extjson::parse_document;
/// let doc = parse_document(r#"{"n": {"$numberLong": "5"}, "d": {"$date": "2024-01-02T03:04:05Z"}}"#).unwrap();
/// assert_eq!(doc.get_i64("n").unwrap(), 5);
/// assert!(doc.get_datetime("d").is_ok());
/// ```
pub fn parse_document(text: &str) -> Result<Document, ExtJsonError> {
    let raw = parse_raw_document(text)?;
    Document::try_from(raw.as_ref()).map_err(|e| ExtJsonError {
        column: 1,
        message: format!("invalid BSON produced: {e}"),
    })
}

/// Renders a document as relaxed Extended JSON (numbers and dates readable).
///
/// ```
/// use bson::doc;
/// let json = herald_core::extjson::to_relaxed(&doc! { "n": 5_i64 });
/// assert_eq!(json.to_string(), r#"{"n":5}"#);
/// ```
pub fn to_relaxed(doc: &Document) -> serde_json::Value {
    Bson::Document(doc.clone()).into_relaxed_extjson()
}

/// Renders a document as canonical Extended JSON (every type explicit).
pub fn to_canonical(doc: &Document) -> serde_json::Value {
    Bson::Document(doc.clone()).into_canonical_extjson()
}

#[cfg(test)]
mod equivalence;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
