//! Extended JSON text straight to raw BSON bytes: the parser's state and
//! the JSON grammar (objects, arrays, literals).
//!
//! One pass over the text writes the BSON as it goes: no JSON value tree,
//! no `Document`, no re-encoding. Strings are in `strings.rs`, numbers in
//! `number.rs`, the Extended JSON wrappers in `wrappers.rs`.

use super::ExtJsonError;
use bson::spec::ElementType;

/// Deeper nesting than this is refused (the server's own limit is 100 levels
/// for stored documents; a change event adds two).
const MAX_DEPTH: usize = 128;

/// Parses one JSON object into BSON bytes appended to `out`.
pub(super) fn parse_into(text: &str, out: &mut Vec<u8>) -> Result<(), ExtJsonError> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        out,
        scratch: String::new(),
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

/// One line being read: the text, where the reading is, and the BSON so far.
pub(super) struct Parser<'t, 'o> {
    /// The whole line.
    pub(super) text: &'t str,
    /// The same, as bytes (the grammar is read byte by byte).
    pub(super) bytes: &'t [u8],
    /// Byte offset of the next unread byte.
    pub(super) pos: usize,
    /// The BSON written so far.
    pub(super) out: &'o mut Vec<u8>,
    /// Unescaped wrapper strings that held escapes (see `strings::Text`).
    pub(super) scratch: String,
}

impl Parser<'_, '_> {
    pub(super) fn error_at(&self, pos: usize, message: impl Into<String>) -> ExtJsonError {
        ExtJsonError {
            column: pos + 1,
            message: message.into(),
        }
    }

    pub(super) fn error_here(&self, message: impl Into<String>) -> ExtJsonError {
        self.error_at(self.pos, message)
    }

    pub(super) fn unexpected(&self, expected: &str) -> ExtJsonError {
        match self.peek() {
            None => self.error_here(format!("EOF while parsing {expected}")),
            Some(_) => {
                let found = self.text[self.pos..].chars().next().unwrap_or(' ');
                self.error_here(format!("expected {expected}, found `{found}`"))
            }
        }
    }

    #[inline]
    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    pub(super) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    pub(super) fn expect(&mut self, byte: u8, what: &str) -> Result<(), ExtJsonError> {
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
    pub(super) fn document(&mut self, depth: usize) -> Result<bool, ExtJsonError> {
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
                let written = self.string_to_out()?;
                let key = &self.out[key_start..];
                // Only an escape (`\u0000`) can put a NUL in a key.
                if written.escaped && key.contains(&0) {
                    return Err(self.error_here("a key must not contain a NUL character"));
                }
                wrapper |= super::wrappers::is_wrapper_key(key);
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
    pub(super) fn value(&mut self, depth: usize) -> Result<ElementType, ExtJsonError> {
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
                let len = self.string_to_out()?.len + 1;
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
}

/// An array element's key: its index in decimal, then a NUL.
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
