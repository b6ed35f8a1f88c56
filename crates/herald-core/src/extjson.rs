//! MongoDB Extended JSON v2, canonical and relaxed.
//!
//! Parsing goes through `serde_json` (which knows line and column) and then
//! the `bson` crate's Extended JSON conversion, so both `{"$numberLong": "5"}`
//! and a bare `5` are accepted.

use bson::{Bson, Document};

/// Why a text is not an Extended JSON document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ExtJsonError {
    /// 1-based column in the line where the problem was found.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses one Extended JSON document (a whole line of a JSON Lines file).
///
/// ```
/// use herald_core::extjson::parse_document;
/// let doc = parse_document(r#"{"n": {"$numberLong": "5"}, "d": {"$date": "2024-01-02T03:04:05Z"}}"#).unwrap();
/// assert_eq!(doc.get_i64("n").unwrap(), 5);
/// assert!(doc.get_datetime("d").is_ok());
/// ```
pub fn parse_document(text: &str) -> Result<Document, ExtJsonError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        // The position is reported as a column of its own; drop serde's "at line 1 column N".
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        ExtJsonError {
            column: e.column().max(1),
            message: full.strip_suffix(&suffix).unwrap_or(&full).to_owned(),
        }
    })?;
    if !value.is_object() {
        return Err(ExtJsonError {
            column: 1 + text.len() - text.trim_start().len(),
            message: "expected a JSON object (one change event per line)".into(),
        });
    }
    match Bson::try_from(value) {
        Ok(Bson::Document(doc)) => Ok(doc),
        Ok(other) => Err(ExtJsonError {
            column: 1,
            message: format!(
                "the line is Extended JSON for a {:?}, not a document",
                other.element_type()
            ),
        }),
        Err(e) => Err(ExtJsonError {
            column: 1,
            message: format!("invalid Extended JSON: {e}"),
        }),
    }
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
mod tests {
    use super::*;
    use bson::{Binary, DateTime, Decimal128, Timestamp, doc, oid::ObjectId, spec::BinarySubtype};
    use std::str::FromStr;

    fn sample() -> Document {
        doc! {
            "oid": ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap(),
            "date": DateTime::from_millis(1_700_000_000_123),
            "dec": Decimal128::from_str("1234.50").unwrap(),
            "long": 9_007_199_254_740_993_i64,
            "int": 42,
            "double": 2.5,
            "ts": Timestamp { time: 1_700_000_000, increment: 7 },
            "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2, 3] },
            "nested": { "arr": [1, "two", null, true] },
        }
    }

    #[test]
    fn canonical_round_trip() {
        let doc = sample();
        let text = to_canonical(&doc).to_string();
        assert_eq!(parse_document(&text).unwrap(), doc);
    }

    #[test]
    fn relaxed_round_trip_keeps_types_that_relaxed_can_express() {
        let doc = sample();
        let text = to_relaxed(&doc).to_string();
        let back = parse_document(&text).unwrap();
        // Relaxed form writes small int64 and int32 as plain numbers: a bare
        // integer that fits 32 bits comes back as int32, a larger one as int64.
        assert_eq!(back.get_i64("long").unwrap(), 9_007_199_254_740_993);
        assert_eq!(back.get_i32("int").unwrap(), 42);
        for key in ["oid", "date", "dec", "double", "ts", "bin", "nested"] {
            assert_eq!(back.get(key), doc.get(key), "{key}");
        }
    }

    #[test]
    fn errors_have_columns() {
        let err = parse_document(r#"{"a": 1,, "b": 2}"#).unwrap_err();
        assert_eq!(err.column, 9);
        assert!(!err.message.contains("line 1"), "{}", err.message);
        let err = parse_document("  [1, 2]").unwrap_err();
        assert_eq!(err.column, 3);
        let err = parse_document(r#"{"a": {"$oid": "nothex"}}"#).unwrap_err();
        assert!(err.message.contains("Extended JSON"), "{}", err.message);
    }
}
