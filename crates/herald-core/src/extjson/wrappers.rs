//! Objects that are Extended JSON values (`{"$oid": ...}` and the rest).
//!
//! The common wrappers (`$oid`, `$date`, `$numberLong`, `$numberInt`,
//! `$numberDouble`, `$numberDecimal`, `$timestamp`) are decoded here; any
//! other object holding an Extended JSON key is handed to the `bson` crate's
//! own conversion, so every form means exactly what it means there.

use super::ExtJsonError;
use super::date::fast_utc_millis;
use super::parser::Parser;
use super::strings::Text;
use bson::{Bson, Decimal128, oid::ObjectId, spec::ElementType};
use std::str::FromStr;

/// The keys that make an object an Extended JSON value, not a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrapper {
    Oid,
    Symbol,
    RegularExpression,
    NumberInt,
    NumberLong,
    NumberDouble,
    NumberDecimal,
    Binary,
    Uuid,
    Code,
    Timestamp,
    Date,
    MinKey,
    MaxKey,
    DbPointer,
    Undefined,
}

impl Wrapper {
    /// The wrapper key `key` is, if it is one.
    #[inline]
    fn of(key: &[u8]) -> Option<Self> {
        if key.first() != Some(&b'$') {
            return None;
        }
        Some(match key {
            b"$oid" => Self::Oid,
            b"$symbol" => Self::Symbol,
            b"$regularExpression" => Self::RegularExpression,
            b"$numberInt" => Self::NumberInt,
            b"$numberLong" => Self::NumberLong,
            b"$numberDouble" => Self::NumberDouble,
            b"$numberDecimal" => Self::NumberDecimal,
            b"$binary" => Self::Binary,
            b"$uuid" => Self::Uuid,
            b"$code" => Self::Code,
            b"$timestamp" => Self::Timestamp,
            b"$date" => Self::Date,
            b"$minKey" => Self::MinKey,
            b"$maxKey" => Self::MaxKey,
            b"$dbPointer" => Self::DbPointer,
            b"$undefined" => Self::Undefined,
            _ => return None,
        })
    }
}

/// Whether `key` (unescaped) makes its object an Extended JSON value.
#[inline]
pub(super) fn is_wrapper_key(key: &[u8]) -> bool {
    Wrapper::of(key).is_some()
}

/// What a wrapper's fast path found.
enum Fast {
    Done,
    /// Not one of the shapes decoded here: use the `bson` crate's conversion.
    Fallback,
}

impl Parser<'_, '_> {
    /// An object: a document, or an Extended JSON value.
    pub(super) fn object(&mut self, depth: usize) -> Result<ElementType, ExtJsonError> {
        let start_pos = self.pos;
        let start_out = self.out.len();
        if let Some((first, after_key)) = self.first_wrapper_key()? {
            if let Some(element_type) = self.fast_wrapper(first, after_key)? {
                return Ok(element_type);
            }
            self.pos = start_pos;
            self.out.truncate(start_out);
            return self.fallback(depth);
        }
        // A later key can still make the object a wrapper (`{"a": 1, "$oid": ..}`
        // is an error, `{"$scope": .., "$code": ..}` is code with scope).
        if self.document(depth)? {
            self.pos = start_pos;
            self.out.truncate(start_out);
            return self.fallback(depth);
        }
        Ok(ElementType::EmbeddedDocument)
    }

    /// Peeks at an object's first key, without moving: the wrapper key it
    /// is, if any, and where that key's string ends.
    fn first_wrapper_key(&mut self) -> Result<Option<(Wrapper, usize)>, ExtJsonError> {
        let save = self.pos;
        self.pos += 1; // '{'
        self.skip_ws();
        // Only a key spelled with a `$` first can be a wrapper's; `document`
        // still checks every key, escapes and all.
        let key = if self.bytes[self.pos..].starts_with(b"\"$") {
            let text = self.string_text()?;
            Wrapper::of(self.text_of(text).as_bytes()).map(|w| (w, self.pos))
        } else {
            None
        };
        self.pos = save;
        Ok(key)
    }

    /// Decodes the common one-key wrappers (the object at `self.pos`, its
    /// key read up to `after_key`); `None` when the shape is another one.
    fn fast_wrapper(
        &mut self,
        key: Wrapper,
        after_key: usize,
    ) -> Result<Option<ElementType>, ExtJsonError> {
        let save = self.pos;
        self.pos = after_key;
        self.expect(b':', "`:`")?;
        self.skip_ws();
        let value_pos = self.pos;
        let (result, element_type) = match key {
            Wrapper::Oid => (
                self.wrapped_string(|p, s| {
                    let bytes = match oid_bytes(s) {
                        Some(bytes) => bytes,
                        None => ObjectId::parse_str(s)
                            .map_err(|e| p.invalid(value_pos, e))?
                            .bytes(),
                    };
                    p.out.extend_from_slice(&bytes);
                    Ok(())
                })?,
                ElementType::ObjectId,
            ),
            Wrapper::NumberInt => (
                self.wrapped_string(|p, s| {
                    let i: i32 = s.parse().map_err(|e| p.invalid(value_pos, e))?;
                    p.out.extend_from_slice(&i.to_le_bytes());
                    Ok(())
                })?,
                ElementType::Int32,
            ),
            Wrapper::NumberLong => (
                self.wrapped_string(|p, s| {
                    let i: i64 = s.parse().map_err(|e| p.invalid(value_pos, e))?;
                    p.out.extend_from_slice(&i.to_le_bytes());
                    Ok(())
                })?,
                ElementType::Int64,
            ),
            Wrapper::NumberDouble => (
                self.wrapped_string(|p, s| {
                    let d = match s {
                        "Infinity" => f64::INFINITY,
                        "-Infinity" => f64::NEG_INFINITY,
                        "NaN" => f64::NAN,
                        other => other.parse().map_err(|e| p.invalid(value_pos, e))?,
                    };
                    p.out.extend_from_slice(&d.to_le_bytes());
                    Ok(())
                })?,
                ElementType::Double,
            ),
            Wrapper::NumberDecimal => (
                self.wrapped_string(|p, s| {
                    let bytes = match crate::decimal::parse_plain(s) {
                        Some(bytes) => bytes,
                        None => Decimal128::from_str(s)
                            .map_err(|e| p.invalid(value_pos, e))?
                            .bytes(),
                    };
                    p.out.extend_from_slice(&bytes);
                    Ok(())
                })?,
                ElementType::Decimal128,
            ),
            Wrapper::Date => (self.date(value_pos)?, ElementType::DateTime),
            Wrapper::Timestamp => (self.timestamp()?, ElementType::Timestamp),
            _ => (Fast::Fallback, ElementType::Null),
        };
        if let Fast::Done = result {
            self.skip_ws();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(Some(element_type));
            }
        }
        self.pos = save;
        Ok(None)
    }

    fn invalid(&self, pos: usize, e: impl std::fmt::Display) -> ExtJsonError {
        self.error_at(pos, format!("invalid Extended JSON: {e}"))
    }

    /// A wrapper whose value is a string, decoded by `decode`.
    fn wrapped_string(
        &mut self,
        decode: impl FnOnce(&mut Self, &str) -> Result<(), ExtJsonError>,
    ) -> Result<Fast, ExtJsonError> {
        if self.peek() != Some(b'"') {
            return Ok(Fast::Fallback);
        }
        match self.string_text()? {
            Text::Span(from, to) => {
                let text = self.text;
                decode(self, &text[from..to])?;
            }
            Text::Scratch => {
                let text = std::mem::take(&mut self.scratch);
                let result = decode(self, &text);
                self.scratch = text;
                result?;
            }
        }
        Ok(Fast::Done)
    }

    /// `$date`: an RFC 3339 string, `{"$numberLong": "..."}` or a bare integer.
    fn date(&mut self, value_pos: usize) -> Result<Fast, ExtJsonError> {
        let millis = match self.peek() {
            Some(b'"') => {
                let text = self.string_text()?;
                let text = self.text_of(text);
                match fast_utc_millis(text) {
                    Some(millis) => millis,
                    None => bson::DateTime::parse_rfc3339_str(text)
                        .map_err(|e| self.invalid(value_pos, e))?
                        .timestamp_millis(),
                }
            }
            Some(b'-' | b'0'..=b'9') => match self.number_text()?.integer {
                Some(ms) => ms,
                None => return Ok(Fast::Fallback),
            },
            Some(b'{') => {
                let inner = self.pos;
                let Some((Wrapper::NumberLong, after_key)) = self.first_wrapper_key()? else {
                    return Ok(Fast::Fallback);
                };
                let mark = self.out.len();
                match self.fast_wrapper(Wrapper::NumberLong, after_key)? {
                    Some(_) => {
                        let mut bytes = [0u8; 8];
                        bytes.copy_from_slice(&self.out[mark..mark + 8]);
                        self.out.truncate(mark);
                        i64::from_le_bytes(bytes)
                    }
                    None => {
                        self.pos = inner;
                        return Ok(Fast::Fallback);
                    }
                }
            }
            _ => return Ok(Fast::Fallback),
        };
        self.out.extend_from_slice(&millis.to_le_bytes());
        Ok(Fast::Done)
    }

    /// `$timestamp`: `{"t": <u32>, "i": <u32>}` in either order.
    fn timestamp(&mut self) -> Result<Fast, ExtJsonError> {
        if self.peek() != Some(b'{') {
            return Ok(Fast::Fallback);
        }
        self.pos += 1;
        let (mut t, mut i) = (None, None);
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Ok(Fast::Fallback);
            }
            let key = self.string_text()?;
            let slot = match self.text_of(key) {
                "t" if t.is_none() => &mut t,
                "i" if i.is_none() => &mut i,
                _ => return Ok(Fast::Fallback),
            };
            self.expect(b':', "`:`")?;
            self.skip_ws();
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Ok(Fast::Fallback);
            }
            match self.number_text()?.integer.map(u32::try_from) {
                Some(Ok(v)) => *slot = Some(v),
                _ => return Ok(Fast::Fallback),
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Ok(Fast::Fallback),
            }
        }
        let (Some(t), Some(i)) = (t, i) else {
            return Ok(Fast::Fallback);
        };
        // BSON stores the increment first, then the seconds.
        self.out.extend_from_slice(&i.to_le_bytes());
        self.out.extend_from_slice(&t.to_le_bytes());
        Ok(Fast::Done)
    }

    /// Any other object with a wrapper key: the `bson` crate's conversion.
    fn fallback(&mut self, depth: usize) -> Result<ElementType, ExtJsonError> {
        let start = self.pos;
        self.skip_value(depth)?;
        let span = &self.text[start..self.pos];
        let value: serde_json::Value =
            serde_json::from_str(span).map_err(|e| self.error_at(start, e.to_string()))?;
        let bson = Bson::try_from(value).map_err(|e| self.invalid(start, e))?;
        append_value(self.out, &bson).map_err(|e| self.invalid(start, e))
    }

    /// Moves past one JSON value, checking its grammar but writing nothing.
    fn skip_value(&mut self, depth: usize) -> Result<(), ExtJsonError> {
        let mark = self.out.len();
        let result = self.value_without_wrappers(depth);
        self.out.truncate(mark);
        result
    }

    /// Like `value`, but objects are read as plain documents.
    fn value_without_wrappers(&mut self, depth: usize) -> Result<(), ExtJsonError> {
        self.skip_ws();
        if self.peek() == Some(b'{') {
            self.document(depth).map(|_| ())
        } else {
            self.value(depth).map(|_| ())
        }
    }
}

/// The 12 bytes of a 24-hex-digit object id; `None` for any other text
/// (which then goes through `ObjectId::parse_str`, for its error).
fn oid_bytes(text: &str) -> Option<[u8; 12]> {
    let digits: &[u8; 24] = text.as_bytes().try_into().ok()?;
    let nibble = |d: u8| match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        b'A'..=b'F' => Some(d - b'A' + 10),
        _ => None,
    };
    let mut bytes = [0u8; 12];
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(bytes)
}

/// Appends one value's BSON body (what follows the key) and returns its type.
fn append_value(out: &mut Vec<u8>, value: &Bson) -> Result<ElementType, bson::ser::Error> {
    let element_type = value.element_type();
    let doc = bson::doc! { "": value.clone() };
    let bytes = bson::to_vec(&doc)?;
    // 4-byte length, type, empty key's NUL, body, document's NUL.
    out.extend_from_slice(&bytes[6..bytes.len() - 1]);
    Ok(element_type)
}
