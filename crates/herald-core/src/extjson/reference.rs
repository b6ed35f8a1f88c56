//! A frozen copy of the one-pass parser as it was before the speed work
//! (test-only): the proptests in `equivalence.rs` hold the parser to it,
//! byte for byte and error for error. Do not edit; it is the definition.

use super::ExtJsonError;
use bson::{Bson, Decimal128, oid::ObjectId, spec::ElementType};
use std::str::FromStr;

/// Deeper nesting than this is refused (the server's own limit is 100 levels
/// for stored documents; a change event adds two).
const MAX_DEPTH: usize = 128;

/// Keys that make an object an Extended JSON value, not a document.
const WRAPPER_KEYS: [&str; 16] = [
    "$oid",
    "$symbol",
    "$regularExpression",
    "$numberInt",
    "$numberLong",
    "$numberDouble",
    "$numberDecimal",
    "$binary",
    "$uuid",
    "$code",
    "$timestamp",
    "$date",
    "$minKey",
    "$maxKey",
    "$dbPointer",
    "$undefined",
];

/// The wrapper key `key` is, if it is one.
fn wrapper_key(key: &str) -> Option<&'static str> {
    if !key.starts_with('$') {
        return None;
    }
    WRAPPER_KEYS.iter().copied().find(|k| *k == key)
}

/// Parses one JSON object into BSON bytes appended to `out`.
pub(super) fn parse_into(text: &str, out: &mut Vec<u8>) -> Result<(), ExtJsonError> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        out,
        key: String::new(),
    };
    parser.skip_ws();
    if parser.peek() != Some(b'{') {
        return Err(parser.error_here("expected a JSON object (one change event per line)"));
    }
    let start = parser.pos;
    if parser.document(0)? {
        return Err(parser.error_at(start, "the line is an Extended JSON value, not a document"));
    }
    parser.skip_ws();
    if parser.pos < parser.bytes.len() {
        return Err(parser.error_here("trailing characters after the JSON object"));
    }
    Ok(())
}

struct Parser<'t, 'o> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    out: &'o mut Vec<u8>,
    /// Scratch space for keys and string values with escapes.
    key: String,
}

/// What a wrapper's fast path found.
enum Fast {
    Done,
    /// Not one of the shapes decoded here: use the `bson` crate's conversion.
    Fallback,
}

impl Parser<'_, '_> {
    fn error_at(&self, pos: usize, message: impl Into<String>) -> ExtJsonError {
        ExtJsonError {
            column: pos + 1,
            message: message.into(),
        }
    }

    fn error_here(&self, message: impl Into<String>) -> ExtJsonError {
        self.error_at(self.pos, message)
    }

    fn unexpected(&self, expected: &str) -> ExtJsonError {
        match self.peek() {
            None => self.error_here(format!("EOF while parsing {expected}")),
            Some(_) => {
                let found = self.text[self.pos..].chars().next().unwrap_or(' ');
                self.error_here(format!("expected {expected}, found `{found}`"))
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), ExtJsonError> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(what))
        }
    }

    /// `{ ... }` as a BSON document (the `{` not yet consumed); true when a
    /// top-level key is an Extended JSON wrapper key.
    fn document(&mut self, depth: usize) -> Result<bool, ExtJsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error_here("nested too deeply"));
        }
        let start = self.out.len();
        let mut wrapper = false;
        self.out.extend_from_slice(&[0; 4]);
        self.pos += 1; // '{'
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                if self.peek() != Some(b'"') {
                    return Err(self.unexpected("a string key"));
                }
                let type_at = self.out.len();
                self.out.push(0);
                let key_start = self.out.len();
                self.string_to_out()?;
                let key = &self.out[key_start..];
                if key.contains(&0) {
                    return Err(self.error_here("a key must not contain a NUL character"));
                }
                wrapper |= key.first() == Some(&b'$')
                    && std::str::from_utf8(key).is_ok_and(|k| wrapper_key(k).is_some());
                self.out.push(0);
                self.expect(b':', "`:`")?;
                let element_type = self.value(depth + 1)?;
                self.out[type_at] = element_type as u8;
                if self.closes(b'}', "`,` or `}`")? {
                    break;
                }
            }
        }
        self.finish_document(start)?;
        Ok(wrapper)
    }

    /// After a member: true past the closing `close`, false past a `,`.
    fn closes(&mut self, close: u8, expected: &str) -> Result<bool, ExtJsonError> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(false)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(true)
            }
            _ => Err(self.unexpected(expected)),
        }
    }

    fn finish_document(&mut self, start: usize) -> Result<(), ExtJsonError> {
        self.out.push(0);
        let len = i32::try_from(self.out.len() - start)
            .map_err(|_| self.error_here("the document is too large for BSON"))?;
        self.out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        Ok(())
    }

    /// `[ ... ]` as a BSON array (the `[` not yet consumed).
    fn array(&mut self, depth: usize) -> Result<(), ExtJsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error_here("nested too deeply"));
        }
        let start = self.out.len();
        self.out.extend_from_slice(&[0; 4]);
        self.pos += 1; // '['
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return self.finish_document(start);
        }
        let mut index = 0usize;
        loop {
            let type_at = self.out.len();
            self.out.push(0);
            push_index_key(self.out, index);
            let element_type = self.value(depth + 1)?;
            self.out[type_at] = element_type as u8;
            index += 1;
            if self.closes(b']', "`,` or `]`")? {
                break;
            }
        }
        self.finish_document(start)
    }

    /// Any JSON value; writes its BSON body and returns its type.
    fn value(&mut self, depth: usize) -> Result<ElementType, ExtJsonError> {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => {
                self.array(depth)?;
                Ok(ElementType::Array)
            }
            Some(b'"') => {
                let len_at = self.out.len();
                self.out.extend_from_slice(&[0; 4]);
                let len = self.string_to_out()? + 1;
                self.out.push(0);
                let len = i32::try_from(len)
                    .map_err(|_| self.error_here("the string is too large for BSON"))?;
                self.out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
                Ok(ElementType::String)
            }
            Some(b't') => self.literal("true", &[1], ElementType::Boolean),
            Some(b'f') => self.literal("false", &[0], ElementType::Boolean),
            Some(b'n') => self.literal("null", &[], ElementType::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.unexpected("a value")),
        }
    }

    fn literal(
        &mut self,
        word: &str,
        body: &[u8],
        element_type: ElementType,
    ) -> Result<ElementType, ExtJsonError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            self.out.extend_from_slice(body);
            Ok(element_type)
        } else {
            Err(self.error_here("expected a value (`true`, `false` or `null`)"))
        }
    }

    /// A JSON number: int32 when it fits, else int64, else double (as the
    /// `bson` crate reads relaxed Extended JSON).
    fn number(&mut self) -> Result<ElementType, ExtJsonError> {
        let start = self.pos;
        let (text, integral) = self.number_text()?;
        // `-0` is the double -0.0 (as serde_json reads it), not the integer 0.
        if integral
            && text != "-0"
            && let Ok(i) = text.parse::<i64>()
        {
            return Ok(match i32::try_from(i) {
                Ok(small) => {
                    self.out.extend_from_slice(&small.to_le_bytes());
                    ElementType::Int32
                }
                Err(_) => {
                    self.out.extend_from_slice(&i.to_le_bytes());
                    ElementType::Int64
                }
            });
        }
        let d: f64 = text
            .parse()
            .map_err(|_| self.error_at(start, "invalid number"))?;
        if !d.is_finite() {
            return Err(self.error_at(start, "number out of range"));
        }
        self.out.extend_from_slice(&d.to_le_bytes());
        Ok(ElementType::Double)
    }

    /// Scans a number by the JSON grammar; returns its text and whether it is integral.
    fn number_text(&mut self) -> Result<(&str, bool), ExtJsonError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while let Some(b'0'..=b'9') = p.peek() {
                p.pos += 1;
            }
            p.pos - from
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        match digits(self) {
            0 => return Err(self.error_here("invalid number")),
            n if n > 1 && self.bytes[int_start] == b'0' => {
                return Err(self.error_at(int_start, "invalid number (leading zero)"));
            }
            _ => {}
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            integral = false;
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.error_here("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integral = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.error_here("invalid number"));
            }
        }
        Ok((&self.text[start..self.pos], integral))
    }

    /// Reads a JSON string (at its opening quote) into `self.key`, unescaped.
    fn string_to_scratch(&mut self) -> Result<(), ExtJsonError> {
        self.key.clear();
        self.pos += 1; // '"'
        loop {
            let run_start = self.pos;
            self.skip_plain();
            self.key.push_str(&self.text[run_start..self.pos]);
            if self.string_end()? {
                return Ok(());
            }
            let c = self.escape()?;
            self.key.push(c);
        }
    }

    /// Reads a JSON string (at its opening quote) onto the output, unescaped;
    /// returns its length in bytes.
    fn string_to_out(&mut self) -> Result<usize, ExtJsonError> {
        let start = self.out.len();
        self.pos += 1; // '"'
        loop {
            let run_start = self.pos;
            self.skip_plain();
            self.out.extend_from_slice(&self.bytes[run_start..self.pos]);
            if self.string_end()? {
                return Ok(self.out.len() - start);
            }
            let c = self.escape()?;
            self.out
                .extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
    }

    /// Moves over characters that need no unescaping.
    fn skip_plain(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if b == b'"' || b == b'\\' || b < 0x20 {
                break;
            }
            self.pos += 1;
        }
    }

    /// After a plain run: true past the closing quote, false past a backslash
    /// (an escape follows), an error at anything else.
    fn string_end(&mut self) -> Result<bool, ExtJsonError> {
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b'\\') => {
                self.pos += 1;
                Ok(false)
            }
            Some(_) => Err(self.error_here("control character in a string")),
            None => Err(self.error_here("EOF while parsing a string")),
        }
    }

    /// The character an escape stands for (just past its backslash).
    fn escape(&mut self) -> Result<char, ExtJsonError> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                let first = self.hex4()?;
                let c = match first {
                    0xD800..=0xDBFF => {
                        if !self.bytes[self.pos..].starts_with(b"\\u") {
                            return Err(self.error_here("lone leading surrogate in a string"));
                        }
                        self.pos += 2;
                        let second = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&second) {
                            return Err(self.error_here("invalid surrogate pair in a string"));
                        }
                        let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                        char::from_u32(code)
                    }
                    _ => char::from_u32(first),
                };
                return c.ok_or_else(|| self.error_here("invalid unicode escape"));
            }
            _ => return Err(self.error_here("invalid escape in a string")),
        };
        self.pos += 1;
        Ok(c)
    }

    fn hex4(&mut self) -> Result<u32, ExtJsonError> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.error_here("invalid unicode escape"))?;
        self.pos += 4;
        Ok(u32::from_str_radix(digits, 16).expect("four hex digits"))
    }

    /// An object: a document, or an Extended JSON value.
    fn object(&mut self, depth: usize) -> Result<ElementType, ExtJsonError> {
        let start_pos = self.pos;
        let start_out = self.out.len();
        if let Some(first) = self.first_wrapper_key()? {
            if let Some(element_type) = self.fast_wrapper(first)? {
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

    /// Peeks at an object's first key, without moving: the wrapper key it is, if any.
    fn first_wrapper_key(&mut self) -> Result<Option<&'static str>, ExtJsonError> {
        let save = self.pos;
        self.pos += 1; // '{'
        self.skip_ws();
        // Only a key spelled with a `$` first can be a wrapper's; `document`
        // still checks every key, escapes and all.
        let key = if self.bytes[self.pos..].starts_with(b"\"$") {
            self.string_to_scratch()?;
            wrapper_key(&self.key)
        } else {
            None
        };
        self.pos = save;
        Ok(key)
    }

    /// Decodes the common one-key wrappers; `None` when the shape is another one.
    fn fast_wrapper(&mut self, key: &str) -> Result<Option<ElementType>, ExtJsonError> {
        let save = self.pos;
        self.pos += 1; // '{'
        self.skip_ws();
        self.string_to_scratch()?; // the key we already know
        self.expect(b':', "`:`")?;
        self.skip_ws();
        let value_pos = self.pos;
        let result = match key {
            "$oid" => self.wrapped_string(|p, s| {
                let oid = ObjectId::parse_str(s).map_err(|e| p.invalid(value_pos, e))?;
                p.out.extend_from_slice(&oid.bytes());
                Ok(ElementType::ObjectId)
            })?,
            "$numberInt" => self.wrapped_string(|p, s| {
                let i: i32 = s.parse().map_err(|e| p.invalid(value_pos, e))?;
                p.out.extend_from_slice(&i.to_le_bytes());
                Ok(ElementType::Int32)
            })?,
            "$numberLong" => self.wrapped_string(|p, s| {
                let i: i64 = s.parse().map_err(|e| p.invalid(value_pos, e))?;
                p.out.extend_from_slice(&i.to_le_bytes());
                Ok(ElementType::Int64)
            })?,
            "$numberDouble" => self.wrapped_string(|p, s| {
                let d = match s {
                    "Infinity" => f64::INFINITY,
                    "-Infinity" => f64::NEG_INFINITY,
                    "NaN" => f64::NAN,
                    other => other.parse().map_err(|e| p.invalid(value_pos, e))?,
                };
                p.out.extend_from_slice(&d.to_le_bytes());
                Ok(ElementType::Double)
            })?,
            "$numberDecimal" => self.wrapped_string(|p, s| {
                let bytes = match crate::decimal::parse_plain(s) {
                    Some(bytes) => bytes,
                    None => Decimal128::from_str(s)
                        .map_err(|e| p.invalid(value_pos, e))?
                        .bytes(),
                };
                p.out.extend_from_slice(&bytes);
                Ok(ElementType::Decimal128)
            })?,
            "$date" => self.date(value_pos)?,
            "$timestamp" => self.timestamp()?,
            _ => Fast::Fallback,
        };
        match result {
            Fast::Done => {
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    let element_type = wrapper_type(key);
                    return Ok(Some(element_type));
                }
                self.pos = save;
                Ok(None)
            }
            Fast::Fallback => {
                self.pos = save;
                Ok(None)
            }
        }
    }

    fn invalid(&self, pos: usize, e: impl std::fmt::Display) -> ExtJsonError {
        self.error_at(pos, format!("invalid Extended JSON: {e}"))
    }

    /// A wrapper whose value is a string, decoded by `decode`.
    fn wrapped_string(
        &mut self,
        decode: impl FnOnce(&mut Self, &str) -> Result<ElementType, ExtJsonError>,
    ) -> Result<Fast, ExtJsonError> {
        if self.peek() != Some(b'"') {
            return Ok(Fast::Fallback);
        }
        self.string_to_scratch()?;
        let text = std::mem::take(&mut self.key);
        let result = decode(self, &text);
        self.key = text;
        result.map(|_| Fast::Done)
    }

    /// `$date`: an RFC 3339 string, `{"$numberLong": "..."}` or a bare integer.
    fn date(&mut self, value_pos: usize) -> Result<Fast, ExtJsonError> {
        let millis = match self.peek() {
            Some(b'"') => {
                self.string_to_scratch()?;
                match fast_utc_millis(&self.key) {
                    Some(millis) => millis,
                    None => bson::DateTime::parse_rfc3339_str(&self.key)
                        .map_err(|e| self.invalid(value_pos, e))?
                        .timestamp_millis(),
                }
            }
            Some(b'-' | b'0'..=b'9') => {
                let (text, integral) = self.number_text()?;
                match text.parse::<i64>() {
                    Ok(ms) if integral => ms,
                    _ => return Ok(Fast::Fallback),
                }
            }
            Some(b'{') => {
                let inner = self.pos;
                if self.first_wrapper_key()? != Some("$numberLong") {
                    return Ok(Fast::Fallback);
                }
                let mark = self.out.len();
                match self.fast_wrapper("$numberLong")? {
                    Some(_) => {
                        let bytes: [u8; 8] = self.out[mark..].try_into().expect("an int64 body");
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
            self.string_to_scratch()?;
            let slot = match self.key.as_str() {
                "t" if t.is_none() => &mut t,
                "i" if i.is_none() => &mut i,
                _ => return Ok(Fast::Fallback),
            };
            self.expect(b':', "`:`")?;
            self.skip_ws();
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Ok(Fast::Fallback);
            }
            let (text, integral) = self.number_text()?;
            match text.parse::<u32>() {
                Ok(v) if integral => *slot = Some(v),
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

fn wrapper_type(key: &str) -> ElementType {
    match key {
        "$oid" => ElementType::ObjectId,
        "$numberInt" => ElementType::Int32,
        "$numberLong" => ElementType::Int64,
        "$numberDouble" => ElementType::Double,
        "$numberDecimal" => ElementType::Decimal128,
        "$date" => ElementType::DateTime,
        _ => ElementType::Timestamp,
    }
}

fn push_index_key(out: &mut Vec<u8>, index: usize) {
    let mut digits = [0u8; 20];
    let mut n = index;
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.push(0);
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

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fraction]Z` from
/// 1970 on, the form MongoDB tools write; `None` for any other text (which
/// then goes through the `bson` crate's full RFC 3339 parser).
fn fast_utc_millis(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = &b[19..];
    let (fraction, zone) = match rest.first() {
        Some(b'.') => {
            let digits = rest[1..].iter().take_while(|d| d.is_ascii_digit()).count();
            (&rest[1..1 + digits], &rest[1 + digits..])
        }
        _ => (&rest[..0], rest),
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if zone != b"Z"
        || year < 1970
        || !(1..=12).contains(&month)
        || day < 1
        || day > month_days[month as usize - 1]
        || hour > 23
        || minute > 59
        || second > 59
        || (rest.first() == Some(&b'.') && fraction.is_empty())
        || fraction.len() > 9
    {
        return None;
    }
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let millis = fraction
        .iter()
        .chain(std::iter::repeat(&b'0'))
        .take(3)
        .fold(0i64, |n, &d| n * 10 + i64::from(d - b'0'));
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}
