//! The rewrite itself: groups, flags, quantifiers and escapes outside classes.

use super::class::{class, escaped_char, find_end_quote, property_end, push_literal};
use std::fmt::Write;

pub(super) const WORD: &str = "0-9A-Za-z_";
pub(super) const SPACE: &str = r"\t\n\x0B\f\r\x20";
pub(super) const HSPACE: &str =
    r"\t\x20\xA0\x{1680}\x{180E}\x{2000}-\x{200A}\x{202F}\x{205F}\x{3000}";
pub(super) const VSPACE: &str = r"\n\x0B\f\r\x{85}\x{2028}\x{2029}";

/// The class body of a PCRE class escape (`d`, `w`, ...) and whether it is negated.
pub(super) fn class_escape(c: char) -> Option<(&'static str, bool)> {
    Some(match c {
        'd' | 'D' => ("0-9", c == 'D'),
        'w' | 'W' => (WORD, c == 'W'),
        's' | 'S' => (SPACE, c == 'S'),
        'h' | 'H' => (HSPACE, c == 'H'),
        'v' | 'V' => (VSPACE, c == 'V'),
        _ => return None,
    })
}

fn unsupported(what: &str) -> String {
    format!("{what} is valid in MongoDB (PCRE) but not supported in herald rule filters")
}

/// Rewrites a PCRE pattern as an equivalent `regex` crate pattern.
pub(super) fn translate(pattern: &str, extended: bool) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    // Whether `x` is on, for each open group: comments must be skipped whole.
    let mut scopes = vec![extended];
    let mut i = 0;
    // Whether the last token was a quantifier: a `+` after one makes it possessive.
    let mut quantified = false;
    while i < chars.len() {
        let c = chars[i];
        let x = *scopes.last().expect("the outermost scope");
        i += 1;
        if quantified && c == '+' {
            return Err(unsupported("a possessive quantifier"));
        }
        quantified = matches!(c, '*' | '+' | '?') && !(c == '?' && out.ends_with('('));
        match c {
            '\\' => i = escape(&chars, i, &mut out)?,
            '[' => i = class(&chars, i, &mut out)?,
            '$' => out.push_str(r"(?:$|\n\z)"),
            '#' if x => {
                let end = chars[i..]
                    .iter()
                    .position(|&c| c == '\n')
                    .map_or(chars.len(), |p| i + p + 1);
                out.extend(&chars[i - 1..end]);
                i = end;
            }
            '(' => i = group(&chars, i, &mut scopes, &mut out)?,
            ')' => {
                if scopes.len() > 1 {
                    scopes.pop();
                }
                out.push(')');
            }
            '{' => match quantifier_end(&chars, i) {
                Some(end) => {
                    out.push('{');
                    out.extend(&chars[i..end]);
                    i = end;
                    quantified = true;
                }
                None => out.push_str(r"\{"),
            },
            '}' => out.push_str(r"\}"),
            // `regex` skips all Unicode whitespace under `x`; PCRE only ASCII and a few more.
            other if x && other.is_whitespace() && !other.is_ascii() && !pcre_space(other) => {
                push_literal(other, &mut out);
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Non-ASCII characters PCRE2 skips as whitespace under `x` (Pattern_White_Space).
fn pcre_space(c: char) -> bool {
    matches!(
        c,
        '\u{85}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}'
    )
}

/// The index after `{n}`, `{n,}` or `{n,m}` starting just after `{`; `None` if it is a literal brace.
fn quantifier_end(chars: &[char], start: usize) -> Option<usize> {
    let close = start + chars[start..].iter().position(|&c| c == '}')?;
    let body: String = chars[start..close].iter().collect();
    let (low, high) = body.split_once(',').unwrap_or((&body, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(low) && (high.is_empty() || digits(high))).then_some(close + 1)
}

/// Translates `(`: groups, inline flags and comments. `i` is just after `(`.
fn group(
    chars: &[char],
    i: usize,
    scopes: &mut Vec<bool>,
    out: &mut String,
) -> Result<usize, String> {
    let x = *scopes.last().expect("the outermost scope");
    if chars.get(i) == Some(&'*') {
        return Err(unsupported("a (*VERB)"));
    }
    if chars.get(i) != Some(&'?') {
        scopes.push(x);
        out.push('(');
        return Ok(i);
    }
    let rest: String = chars[i + 1..].iter().take(3).collect();
    match chars.get(i + 1) {
        Some('#') => {
            let end = chars[i..]
                .iter()
                .position(|&c| c == ')')
                .ok_or("unterminated (?# comment")?;
            return Ok(i + end + 1);
        }
        Some('=' | '!') => return Err(unsupported("lookahead")),
        Some('<') if rest.starts_with("<=") || rest.starts_with("<!") => {
            return Err(unsupported("lookbehind"));
        }
        Some('>') => return Err(unsupported("an atomic group")),
        Some('|') => return Err(unsupported("a branch reset group")),
        Some('(') => return Err(unsupported("a conditional group")),
        Some('\'') => {
            let close = chars[i + 2..]
                .iter()
                .position(|&c| c == '\'')
                .ok_or("unterminated group name")?;
            let name: String = chars[i + 2..i + 2 + close].iter().collect();
            scopes.push(x);
            write!(out, "(?P<{name}>").expect("a String takes writes");
            return Ok(i + 3 + close);
        }
        Some('R' | '&' | '0'..='9' | '+' | 'C') => {
            return Err(unsupported("recursion or a callout"));
        }
        Some('P') if matches!(chars.get(i + 2), Some('=' | '>')) => {
            return Err(unsupported("a backreference"));
        }
        _ => {}
    }
    // Inline flags: `(?flags)` changes the enclosing scope, `(?flags:` opens one.
    let flags_end = chars[i + 1..]
        .iter()
        .position(|c| !(c.is_ascii_alphabetic() || *c == '-' || *c == '^'));
    let Some(len) = flags_end else {
        scopes.push(x);
        out.push('(');
        return Ok(i);
    };
    let end = i + 1 + len;
    if !matches!(chars.get(end), Some(')' | ':')) {
        scopes.push(x);
        out.push('(');
        return Ok(i);
    }
    let flags: String = chars[i + 1..end].iter().collect();
    if flags.contains('^') || flags.contains("xx") || flags.chars().any(|f| !"imsxU-".contains(f)) {
        return Err(unsupported(&format!("the inline flags (?{flags})")));
    }
    let (on, off) = flags.split_once('-').unwrap_or((&flags, ""));
    let new_x = if off.contains('x') {
        false
    } else {
        x || on.contains('x')
    };
    if chars[end] == ')' {
        *scopes.last_mut().expect("the outermost scope") = new_x;
    } else {
        scopes.push(new_x);
    }
    write!(out, "(?{flags}{}", chars[end]).expect("a String takes writes");
    Ok(end + 1)
}

/// Translates an escape outside a class; `i` is just after the backslash.
fn escape(chars: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let Some(&c) = chars.get(i) else {
        return Err("a pattern cannot end with \\".into());
    };
    let next = i + 1;
    if let Some((body, negated)) = class_escape(c) {
        // Case folding must not widen the ASCII sets (the Kelvin sign is no `\w`).
        let caret = if negated { "^" } else { "" };
        write!(out, "(?-i:[{caret}{body}])").expect("a String takes writes");
        return Ok(next);
    }
    match c {
        'b' => out.push_str(r"(?-u:\b)"),
        'B' => out.push_str(r"(?-u:\B)"),
        'R' => write!(out, r"(?:\r\n|[{VSPACE}])").expect("a String takes writes"),
        'N' => out.push_str(r"[^\n]"),
        'Z' => out.push_str(r"(?:\n?\z)"),
        'A' | 'z' => {
            out.push('\\');
            out.push(c);
        }
        'p' | 'P' => {
            let end = property_end(chars, next)?;
            out.push('\\');
            out.extend(&chars[i..end]);
            return Ok(end);
        }
        'Q' => {
            let end = find_end_quote(chars, next);
            for &literal in &chars[next..end] {
                push_literal(literal, out);
            }
            return Ok((end + 2).min(chars.len()));
        }
        'E' => {}
        '1'..='9' | 'g' | 'k' => return Err(unsupported("a backreference")),
        'G' | 'K' | 'X' | 'C' => return Err(unsupported(&format!("\\{c}"))),
        _ => {
            let (literal, end) = escaped_char(chars, i)?;
            push_literal(literal, out);
            return Ok(end);
        }
    }
    Ok(next)
}
