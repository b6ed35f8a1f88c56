//! Fuzzing the Extended JSON parser on stable Rust: whatever the line, parsing
//! ends (quickly) in a document or an error whose column is inside the line,
//! never a panic, and never builds a document out of proportion to the text.
//!
//! The default run is short, for CI; the long run (1,000,000 cases each) is
//! `cargo test -p herald-core --test extjson_fuzz -- --ignored`.

use herald_core::extjson::parse_raw_document;
use proptest::prelude::*;
use std::time::{Duration, Instant};

/// Cases per property in the default run.
const CI_CASES: u32 = 512;
/// Cases per property in the long run (`--ignored`).
const LONG_CASES: u32 = 1_000_000;
/// A hang guard, not a speed check: one parse (even a debug build of a
/// 300,000-deep line on a loaded machine) ends well within it.
const TIME_LIMIT: Duration = Duration::from_secs(30);

fn long() -> ProptestConfig {
    ProptestConfig {
        cases: LONG_CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Parses `text` and checks the outcome is in bounds.
fn parse_is_safe(text: &str) -> Result<(), TestCaseError> {
    let started = Instant::now();
    let parsed = parse_raw_document(text);
    prop_assert!(
        started.elapsed() < TIME_LIMIT,
        "took {:?}",
        started.elapsed()
    );
    match parsed {
        // Every BSON byte comes from some text: a short key or value grows by
        // its type byte, terminators and length prefix, never more than this.
        Ok(doc) => prop_assert!(
            doc.as_bytes().len() <= 16 * text.len() + 64,
            "{} bytes of BSON from {} of text",
            doc.as_bytes().len(),
            text.len()
        ),
        Err(e) => prop_assert!(
            (1..=text.len() + 1).contains(&e.column),
            "column {} in a line of {}: {}",
            e.column,
            text.len(),
            e.message
        ),
    }
    Ok(())
}

/// Extended JSON wrappers with well-formed and malformed payloads.
fn wrapper() -> impl Strategy<Value = String> {
    let payload = prop_oneof![
        Just("\"2024-01-02T03:04:05Z\"".to_owned()),
        Just("\"2024-13-45T99:99:99Z\"".to_owned()),
        Just("{\"$numberLong\": \"-62135596800001\"}".to_owned()),
        Just("\"65a1b2c3d4e5f60718293a4b\"".to_owned()),
        Just("{\"base64\": \"AAEC\", \"subType\": \"00\"}".to_owned()),
        Just("{\"base64\": \"=\", \"subType\": \"ff\"}".to_owned()),
        Just("{\"t\": 4294967296, \"i\": 1}".to_owned()),
        Just("{\"pattern\": \"a(\", \"options\": \"imx\"}".to_owned()),
        Just("\"9223372036854775808\"".to_owned()),
        Just("\"1E6145\"".to_owned()),
        Just("\"-Infinity\"".to_owned()),
        Just("1".to_owned()),
        Just("null".to_owned()),
        Just("[]".to_owned()),
        "\"[0-9a-fA-F.+eE-]{0,30}\"",
    ];
    let name = prop_oneof![
        Just("$date"),
        Just("$oid"),
        Just("$numberLong"),
        Just("$numberInt"),
        Just("$numberDouble"),
        Just("$numberDecimal"),
        Just("$binary"),
        Just("$uuid"),
        Just("$timestamp"),
        Just("$regularExpression"),
        Just("$minKey"),
        Just("$maxKey"),
        Just("$undefined"),
        Just("$symbol"),
        Just("$code"),
        Just("$scope"),
        Just("$dbPointer"),
        Just("$ref"),
    ];
    (name, payload).prop_map(|(name, payload)| format!("{{\"{name}\": {payload}}}"))
}

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("-0".to_owned()),
        Just("1e400".to_owned()),
        Just("\"\\ud800\"".to_owned()),
        Just("\"\\u0000\"".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| format!("{n:?}")),
        "\"[ -~]{0,12}\"",
        wrapper(),
    ]
}

/// JSON-shaped text: objects, arrays, wrappers, sometimes with a key repeated.
fn json() -> impl Strategy<Value = String> {
    scalar().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("(\\$?[a-z_.]{0,4})", inner), 0..6).prop_map(|fields| {
                let fields: Vec<String> = fields
                    .into_iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

/// A JSON document, then cut, spliced or corrupted at a random place.
fn mutated() -> impl Strategy<Value = String> {
    (
        json(),
        any::<prop::sample::Index>(),
        0u8..5,
        "[{}\\[\\]\":,\\\\$ -~]{0,3}",
    )
        .prop_map(|(text, at, how, insert)| {
            let text = format!("{{\"a\":{text}}}");
            let mut at = at.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            match how {
                0 => text[..at].to_owned(),
                1 => format!("{}{insert}{}", &text[..at], &text[at..]),
                2 => format!("{}{}", &text[..at], &text[(at + 1).min(text.len())..]),
                3 => format!("{text}{insert}"),
                _ => text,
            }
        })
}

/// Deeply nested lines, closed or not, of arrays or documents.
fn deep() -> impl Strategy<Value = String> {
    (0usize..300_000, any::<bool>(), any::<bool>()).prop_map(|(depth, arrays, closed)| {
        let (open, close) = if arrays { ("[", "]") } else { ("{\"a\":", "}") };
        let inner = if closed {
            close.repeat(depth)
        } else {
            String::new()
        };
        format!("{{\"x\":{}1{inner}}}", open.repeat(depth))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CI_CASES))]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        parse_is_safe(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn arbitrary_text(text in "\\PC{0,128}") {
        parse_is_safe(&text)?;
    }

    #[test]
    fn json_shaped_text(text in json()) {
        parse_is_safe(&format!("{{\"a\":{text}}}"))?;
    }

    #[test]
    fn mutated_documents(text in mutated()) {
        parse_is_safe(&text)?;
    }
}

proptest! {
    // Each case is up to 300,000 levels: fewer of them, still a spread of depths.
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn deep_nesting(text in deep()) {
        parse_is_safe(&text)?;
    }
}

proptest! {
    #![proptest_config(long())]

    #[test]
    #[ignore = "long fuzz run: cargo test -- --ignored"]
    fn arbitrary_bytes_long(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        parse_is_safe(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    #[ignore = "long fuzz run: cargo test -- --ignored"]
    fn arbitrary_text_long(text in "\\PC{0,128}") {
        parse_is_safe(&text)?;
    }

    #[test]
    #[ignore = "long fuzz run: cargo test -- --ignored"]
    fn json_shaped_text_long(text in json()) {
        parse_is_safe(&format!("{{\"a\":{text}}}"))?;
    }

    #[test]
    #[ignore = "long fuzz run: cargo test -- --ignored"]
    fn mutated_documents_long(text in mutated()) {
        parse_is_safe(&text)?;
    }
}

proptest! {
    #![proptest_config(long())]

    #[test]
    #[ignore = "long fuzz run: cargo test -- --ignored"]
    fn deep_nesting_long(text in deep()) {
        parse_is_safe(&text)?;
    }
}
