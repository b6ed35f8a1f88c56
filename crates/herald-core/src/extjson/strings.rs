//! JSON strings: scanning for the end, unescaping, and where the text goes.
//!
//! Most strings in change events hold no escapes, so the scan looks for the
//! next quote, backslash or control character eight bytes at a time and
//! copies (or borrows) the whole run at once.

use super::ExtJsonError;
use super::parser::Parser;

/// What [`Parser::string_to_out`] wrote.
pub(super) struct Written {
    /// Bytes written (the unescaped string, no NUL).
    pub(super) len: usize,
    /// Whether the string held an escape (only an escape can write a NUL).
    pub(super) escaped: bool,
}

/// Where a string read by [`Parser::string_text`] is.
#[derive(Clone, Copy)]
pub(super) enum Text {
    /// Unescaped as it stands: this byte range of the line.
    Span(usize, usize),
    /// It held escapes: unescaped into the parser's scratch string.
    Scratch,
}

/// Ones in each byte's low bit: the word-at-a-time tricks' unit.
const ONES: u64 = 0x0101_0101_0101_0101;
/// Each byte's high bit.
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// A mark in the high bit of the first byte of `word` (little-endian) that
/// is a quote, a backslash or a control character; marks above the first
/// may be false, so only the lowest counts. Zero when there is none.
#[inline]
fn special_bytes(word: u64) -> u64 {
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    // A byte below 0x20 borrows; a zero byte in `quote`/`backslash` does too.
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x;
    (below(quote, 1) | below(backslash, 1) | below(word, 0x20)) & HIGHS
}

impl Parser<'_, '_> {
    /// Reads a JSON string (at its opening quote) onto the output, unescaped.
    pub(super) fn string_to_out(&mut self) -> Result<Written, ExtJsonError> {
        let start = self.out.len();
        let mut escaped = false;
        self.pos += 1; // '"'
        loop {
            let run_start = self.pos;
            self.skip_plain();
            self.out.extend_from_slice(&self.bytes[run_start..self.pos]);
            if self.string_end()? {
                return Ok(Written {
                    len: self.out.len() - start,
                    escaped,
                });
            }
            escaped = true;
            let c = self.escape()?;
            self.out
                .extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
    }

    /// Reads a JSON string (at its opening quote) without writing it: a span
    /// of the line when it has no escapes, else unescaped into `scratch`.
    pub(super) fn string_text(&mut self) -> Result<Text, ExtJsonError> {
        self.pos += 1; // '"'
        let start = self.pos;
        self.skip_plain();
        if self.string_end()? {
            return Ok(Text::Span(start, self.pos - 1));
        }
        self.scratch.clear();
        self.scratch.push_str(&self.text[start..self.pos - 1]);
        loop {
            let c = self.escape()?;
            self.scratch.push(c);
            let run_start = self.pos;
            self.skip_plain();
            self.scratch.push_str(&self.text[run_start..self.pos]);
            if self.string_end()? {
                return Ok(Text::Scratch);
            }
        }
    }

    /// The string a [`Text`] stands for.
    pub(super) fn text_of(&self, text: Text) -> &str {
        match text {
            Text::Span(from, to) => &self.text[from..to],
            Text::Scratch => &self.scratch,
        }
    }

    /// Moves over characters that need no unescaping.
    #[inline]
    fn skip_plain(&mut self) {
        let bytes = self.bytes;
        let mut pos = self.pos;
        while let Some(chunk) = bytes.get(pos..).and_then(|rest| rest.first_chunk::<8>()) {
            let marks = special_bytes(u64::from_le_bytes(*chunk));
            if marks != 0 {
                self.pos = pos + (marks.trailing_zeros() / 8) as usize;
                return;
            }
            pos += 8;
        }
        while let Some(&b) = bytes.get(pos) {
            if b == b'"' || b == b'\\' || b < 0x20 {
                break;
            }
            pos += 1;
        }
        self.pos = pos;
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

    /// Four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u32, ExtJsonError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .ok_or_else(|| self.error_here("invalid unicode escape"))?;
        let value = digits.iter().fold(0u32, |n, &d| {
            // Hex digits only (checked above).
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                _ => d - b'A' + 10,
            };
            n * 16 + u32::from(v)
        });
        self.pos += 4;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::special_bytes;

    /// The word scan finds the same first special byte as a byte-by-byte scan.
    #[test]
    fn word_scan_finds_the_first_special_byte() {
        let special = |b: u8| b == b'"' || b == b'\\' || b < 0x20;
        for probe in 0u8..=255 {
            for at in 0..8 {
                for filler in [b'a', b'"', 0x1f, 0xff, b'\\', b' '] {
                    let mut word = [b'x'; 8];
                    word[at] = probe;
                    // Bytes after `at` may be anything; they must not hide the first.
                    for later in word.iter_mut().skip(at + 1) {
                        *later = filler;
                    }
                    let expected = word.iter().position(|&b| special(b));
                    let marks = special_bytes(u64::from_le_bytes(word));
                    let found = (marks != 0).then(|| (marks.trailing_zeros() / 8) as usize);
                    assert_eq!(found, expected, "{word:?}");
                }
            }
        }
    }
}
