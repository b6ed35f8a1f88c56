//! PCRE meanings the translation keeps, and what it refuses.

use super::Pattern;

fn is_match(pattern: &str, flags: &str, text: &str) -> bool {
    Pattern::compile(pattern, flags)
        .unwrap_or_else(|e| panic!("{pattern}: {e}"))
        .re
        .is_match(text)
}

#[test]
fn class_escapes_are_ascii() {
    assert!(!is_match(r"^\w+$", "", "café"));
    assert!(is_match(r"^\w+$", "", "cafe_1"));
    assert!(!is_match(r"^\d$", "", "٣"));
    assert!(!is_match(r"\s", "", "\u{a0}"));
    assert!(is_match(r"\s", "", "\x0b"));
    assert!(!is_match(r"^[\w]+$", "", "é"));
    assert!(is_match(r"^[^\W]+$", "", "abc"));
    assert!(!is_match(r"\bé", "", "é"));
    assert!(!is_match(r"^\w$", "i", "\u{212a}"));
    assert!(is_match(r"^\W$", "", "é"));
}

#[test]
fn pcre_meanings() {
    assert!(is_match("abc$", "", "abc\n"));
    assert!(!is_match("abc$", "", "abc\n\n"));
    assert!(is_match(r"abc\Z", "", "abc\n"));
    assert!(is_match(r"^a\h+b$", "", "a\u{a0}b"));
    assert!(is_match(r"^\Qa.b\E$", "", "a.b"));
    assert!(!is_match(r"^\Qa.b\E$", "", "axb"));
    assert!(is_match("^[[]$", "", "["));
    assert!(is_match("^[a&&b]+$", "", "&&"));
    assert!(is_match("^[%--]+$", "", "+,-"));
    assert!(is_match("^[a-]+$", "", "a-"));
    assert!(is_match(r"^\x{1F600}\p{Greek}[\pL]$", "", "\u{1F600}λx"));
    assert!(is_match("^a{x}$", "", "a{x}"));
    assert!(is_match("^a{2}$", "", "aa"));
    assert!(is_match("^a(?#note)b$", "", "ab"));
    assert!(is_match(r"^\x41\012\cA$", "", "A\n\x01"));
    assert!(is_match("^[]a]+$", "", "]a"));
    assert!(is_match(r"^[\b]$", "", "\x08"));
}

#[test]
fn extended_mode_keeps_class_spaces() {
    assert!(is_match("^a b # comment [\n c$", "x", "abc"));
    assert!(is_match("^[a b]+$", "x", "a b"));
    assert!(is_match(r"^a\ b$", "x", "a b"));
    assert!(is_match("^(?x) a b$", "", "ab"));
    assert!(is_match("^a\u{a0}b$", "x", "a\u{a0}b"));
}

#[test]
fn refuses_what_regex_cannot_do() {
    for pattern in [
        r"(a)\1", "a(?=b)", "(?<=a)b", "(?>a)", "a*+", r"\G", "(?|a)", "(*UTF)a",
    ] {
        assert!(Pattern::compile(pattern, "").is_err(), "{pattern}");
    }
    assert!(Pattern::compile("a", "g").is_err());
    assert!(Pattern::compile("a\0", "").is_err());
    assert!(Pattern::compile("a", "u").is_ok());
}
