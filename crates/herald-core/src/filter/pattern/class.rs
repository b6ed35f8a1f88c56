//! Character classes and literal characters, where PCRE and `regex` disagree most.
//!
//! In a PCRE class `[`, `&`, `-` (between ranges) and `~` are plain characters
//! and whitespace stays whitespace under `x`; `regex` reads nested classes, set
//! operations and skips whitespace. Every literal is therefore written as
//! `\x{..}`, which both read the same way.

use super::translate::class_escape;
use std::fmt::Write;

/// The index after a `\p` property name (`L` or `{Greek}`) starting at `i`.
pub(super) fn property_end(chars: &[char], i: usize) -> Result<usize, String> {
    match chars.get(i) {
        Some('{') => {
            let close = chars[i..]
                .iter()
                .position(|&c| c == '}')
                .ok_or("unterminated \\p{")?;
            Ok(i + close + 1)
        }
        Some(_) => Ok(i + 1),
        None => Err("\\p needs a property name".into()),
    }
}

pub(super) fn find_end_quote(chars: &[char], from: usize) -> usize {
    (from..chars.len().saturating_sub(1))
        .find(|&j| chars[j] == '\\' && chars[j + 1] == 'E')
        .unwrap_or(chars.len())
}

/// A single-character escape at `chars[i]` (just after `\`): its character and the index after it.
pub(super) fn escaped_char(chars: &[char], i: usize) -> Result<(char, usize), String> {
    let c = chars[i];
    let simple = match c {
        'a' => Some('\x07'),
        'e' => Some('\x1b'),
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        _ => None,
    };
    if let Some(ch) = simple {
        return Ok((ch, i + 1));
    }
    match c {
        '0' => {
            let digits = chars[i + 1..]
                .iter()
                .take(2)
                .take_while(|d| d.is_digit(8))
                .count();
            let text: String = chars[i..i + 1 + digits].iter().collect();
            let code = u32::from_str_radix(&text, 8).expect("octal digits");
            Ok((char::from_u32(code).expect("below 0o100"), i + 1 + digits))
        }
        'c' => {
            let target = chars
                .get(i + 1)
                .filter(|t| t.is_ascii())
                .ok_or("\\c needs an ASCII character")?;
            let code = (target.to_ascii_uppercase() as u8) ^ 0x40;
            Ok((char::from(code), i + 2))
        }
        'x' => {
            let (code, end) = if chars.get(i + 1) == Some(&'{') {
                let close = chars[i + 2..]
                    .iter()
                    .position(|&c| c == '}')
                    .ok_or("unterminated \\x{")?;
                (
                    chars[i + 2..i + 2 + close].iter().collect::<String>(),
                    i + 3 + close,
                )
            } else {
                let n = chars[i + 1..]
                    .iter()
                    .take(2)
                    .take_while(|d| d.is_ascii_hexdigit())
                    .count();
                (chars[i + 1..i + 1 + n].iter().collect(), i + 1 + n)
            };
            let code = if code.is_empty() {
                0
            } else {
                u32::from_str_radix(&code, 16).map_err(|e| e.to_string())?
            };
            Ok((char::from_u32(code).ok_or("\\x names no character")?, end))
        }
        c if c.is_ascii_alphanumeric() => {
            Err(format!("\\{c} is not an escape MongoDB (PCRE) knows"))
        }
        other => Ok((other, i + 1)),
    }
}

/// A character matched literally, escaped so neither `x` mode nor class syntax can touch it.
pub(super) fn push_literal(c: char, out: &mut String) {
    if c.is_ascii_alphanumeric() {
        out.push(c);
    } else {
        write!(out, "\\x{{{:X}}}", u32::from(c)).expect("a String takes writes");
    }
}

/// Translates a character class; `i` is just after `[`.
pub(super) fn class(chars: &[char], mut i: usize, out: &mut String) -> Result<usize, String> {
    out.push('[');
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    let mut first = true;
    // The last single character, which a following `-x` turns into a range.
    let mut last_char: Option<char> = None;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err("missing terminating ] for character class".into());
        };
        if c == ']' && !first {
            out.push(']');
            return Ok(i + 1);
        }
        first = false;
        if c == '[' && chars.get(i + 1) == Some(&':') {
            let close = (i + 2..chars.len().saturating_sub(1))
                .find(|&j| chars[j] == ':' && chars[j + 1] == ']');
            if let Some(close) = close {
                out.extend(&chars[i..close + 2]);
                i = close + 2;
                last_char = None;
                continue;
            }
        }
        if c == '-' && last_char.is_some() && chars.get(i + 1).is_some_and(|&n| n != ']') {
            let (end, after) = class_char(chars, i + 1)?;
            if let Some(end) = end {
                out.push('-');
                push_literal(end, out);
                i = after;
                last_char = None;
                continue;
            }
        }
        if c == '\\' {
            let escaped = chars
                .get(i + 1)
                .copied()
                .ok_or("missing terminating ] for character class")?;
            if let Some((body, negated)) = class_escape(escaped) {
                let caret = if negated { "^" } else { "" };
                write!(out, "[{caret}{body}]").expect("a String takes writes");
                i += 2;
                last_char = None;
                continue;
            }
            if escaped == 'p' || escaped == 'P' {
                let end = property_end(chars, i + 2)?;
                out.extend(&chars[i..end]);
                i = end;
                last_char = None;
                continue;
            }
            if escaped == 'Q' {
                let end = find_end_quote(chars, i + 2);
                for &literal in &chars[i + 2..end] {
                    push_literal(literal, out);
                }
                i = (end + 2).min(chars.len());
                last_char = None;
                continue;
            }
            if escaped == 'E' {
                i += 2;
                continue;
            }
        }
        let (single, after) = class_char(chars, i)?;
        let single = single.expect("a single character");
        push_literal(single, out);
        last_char = Some(single);
        i = after;
    }
}

/// One character in a class at `chars[i]`, escapes included (`\b` is a backspace there).
fn class_char(chars: &[char], i: usize) -> Result<(Option<char>, usize), String> {
    match chars[i] {
        '\\' => match chars.get(i + 1) {
            None => Err("missing terminating ] for character class".into()),
            Some('b') => Ok((Some('\x08'), i + 2)),
            Some(c) if class_escape(*c).is_some() || matches!(c, 'p' | 'P' | 'Q' | 'E') => {
                Ok((None, i))
            }
            Some(_) => escaped_char(chars, i + 1).map(|(c, end)| (Some(c), end)),
        },
        c => Ok((Some(c), i + 1)),
    }
}
