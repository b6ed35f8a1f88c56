//! `$regex`: MongoDB's PCRE2 patterns, translated for the `regex` crate.
//!
//! The server compiles patterns with PCRE2 in UTF mode without UCP, so `\d`,
//! `\w`, `\s` and `\b` are ASCII-only, `$` also matches before a final newline,
//! `\h`, `\v`, `\R`, `\Z`, `\Q…\E` and `(?#…)` have PCRE meanings, and in a
//! character class `[`, `&&`, `--` and `~~` are plain characters. The `regex`
//! crate reads all of those differently, so patterns are rewritten here
//! rather than passed through. What PCRE has and `regex` cannot do
//! (backreferences, lookaround, atomic groups, possessive quantifiers,
//! recursion) is refused when the filter is compiled.

mod class;
mod translate;

use bson::RawBsonRef;
use translate::translate;

/// A compiled `$regex`, with the source kept for equality with stored regular expressions.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    source: String,
    flags: String,
    re: regex::Regex,
}

impl Pattern {
    /// Compiles `pattern` with MongoDB's options (`i`, `m`, `s`, `x`, and `u`, which changes nothing).
    pub(crate) fn compile(pattern: &str, flags: &str) -> Result<Self, String> {
        if pattern.contains('\0') {
            return Err("a regular expression cannot contain a null byte".into());
        }
        let mut builder_flags = String::new();
        for flag in flags.chars() {
            match flag {
                'i' | 'm' | 's' | 'x' => builder_flags.push(flag),
                'u' => {}
                other => {
                    return Err(format!(
                        "invalid flag in regex options: {other}; MongoDB accepts i, m, s, x, u"
                    ));
                }
            }
        }
        let translated = translate(pattern, builder_flags.contains('x'))?;
        let full = if builder_flags.is_empty() {
            translated
        } else {
            format!("(?{builder_flags}){translated}")
        };
        let re =
            regex::Regex::new(&full).map_err(|e| format!("invalid regular expression: {e}"))?;
        Ok(Self {
            source: pattern.to_owned(),
            flags: flags.to_owned(),
            re,
        })
    }

    /// Strings and symbols match by pattern; a stored regular expression matches if it is this one.
    pub(crate) fn matches(&self, value: RawBsonRef<'_>) -> bool {
        match value {
            RawBsonRef::String(s) | RawBsonRef::Symbol(s) => self.re.is_match(s),
            RawBsonRef::RegularExpression(r) => r.pattern == self.source && r.options == self.flags,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
