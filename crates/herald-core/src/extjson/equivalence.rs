//! The parser against its frozen reference (`reference.rs`): on generated
//! Extended JSON texts, valid and broken, both give the same BSON bytes or
//! the same error (message and column).

use super::{parser, reference};
use proptest::prelude::*;

/// Both parsers' results on `text`: the BSON on success, the error otherwise.
fn both(
    text: &str,
) -> (
    Result<Vec<u8>, super::ExtJsonError>,
    Result<Vec<u8>, super::ExtJsonError>,
) {
    let run = |parse: fn(&str, &mut Vec<u8>) -> Result<(), super::ExtJsonError>| {
        let mut out = Vec::new();
        parse(text, &mut out).map(|()| out)
    };
    (run(parser::parse_into), run(reference::parse_into))
}

/// Whitespace between tokens: mostly none, as tools write it.
fn ws() -> impl Strategy<Value = &'static str> {
    prop_oneof![6 => Just(""), 1 => Just(" "), 1 => Just("\n\t "), 1 => Just("\r")]
}

/// The inside of a JSON string: plain runs (short and long), escapes of
/// every kind, non-ASCII text.
fn string_body() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9 _.@-]{0,12}",
        1 => "[a-z]{8,40}",
        1 => prop::sample::select(vec![
            "\\n", "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\r", "\\t", "\\u00e9", "\\u0041",
            "\\ud83d\\ude00", "\\u0000", "\\u0024", "\\uD834\\uDD1E", "é", "😀", "ß水", "$",
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 0..4).prop_map(|pieces| pieces.concat())
}

fn string() -> impl Strategy<Value = String> {
    string_body().prop_map(|body| format!("\"{body}\""))
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i32>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        any::<f32>().prop_map(|n| format!("{n:e}")),
        prop::sample::select(vec![
            "0",
            "-0",
            "-0.0",
            "1.5",
            "1e3",
            "1E+2",
            "2e-5",
            "-2147483648",
            "-2147483649",
            "2147483648",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551616",
            "123456789012345678901234567890",
            "1e400",
            "4294967295",
            "4294967296",
        ])
        .prop_map(str::to_owned),
    ]
}

/// Texts that stand inside a wrapper's string: numbers, dates, hex, junk.
fn wrapped_text() -> impl Strategy<Value = String> {
    prop_oneof![
        number(),
        "[0-9a-fA-F]{24}",
        "[0-9a-f]{22,26}",
        "[+ -]?[0-9]{1,12}",
        "-?[0-9]{1,30}(\\.[0-9]{0,8})?",
        (
            1950i32..2200,
            1u8..=12,
            1u8..=31,
            0u8..25,
            0u8..61,
            0u8..61,
            "(\\.[0-9]{0,10})?",
            "(Z|z|\\+01:00|-05:30|)"
        )
            .prop_map(|(y, mo, d, h, mi, s, f, z)| format!(
                "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{f}{z}"
            )),
        prop::sample::select(vec![
            "Infinity",
            "-Infinity",
            "NaN",
            "-NaN",
            "nothex",
            "",
            "1.",
            ".5",
            "yesterday",
            "73ffd264-44b3-4c69-90e8-e7d1dfc035d4",
            "AQID",
        ])
        .prop_map(str::to_owned),
        string_body(),
    ]
}

/// Every wrapper kind, in well-formed and ill-formed shapes.
fn wrapper() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "$oid",
        "$numberInt",
        "$numberLong",
        "$numberDouble",
        "$numberDecimal",
        "$date",
        "$symbol",
        "$code",
        "$uuid",
    ]);
    let simple = (key.clone(), ws(), ws(), wrapped_text())
        .prop_map(|(k, a, b, t)| format!("{{{a}\"{k}\"{b}:{a}\"{t}\"{b}}}"));
    let bare = (key, number()).prop_map(|(k, n)| format!("{{\"{k}\": {n}}}"));
    let date_long = (wrapped_text(), ws())
        .prop_map(|(t, a)| format!("{{\"$date\":{a}{{{a}\"$numberLong\":{a}\"{t}\"{a}}}{a}}}"));
    let ts_part = prop_oneof![number(), Just("\"1\"".to_owned()), Just("1.0".to_owned())];
    let timestamp = (ts_part.clone(), ts_part, ws(), any::<bool>(), 0u8..4).prop_map(
        |(t, i, a, swap, shape)| {
            let (first, second) = if swap {
                (("i", &i), ("t", &t))
            } else {
                (("t", &t), ("i", &i))
            };
            let members = match shape {
                0 => format!(
                    "\"{}\":{a}{},{a}\"{}\":{}",
                    first.0, first.1, second.0, second.1
                ),
                1 => format!("\"{}\":{}", first.0, first.1),
                2 => format!("\"{}\":{},\"{}\":{}", first.0, first.1, first.0, first.1),
                _ => format!("\"t\":{t},\"i\":{i},\"x\":1"),
            };
            format!("{{\"$timestamp\":{a}{{{a}{members}{a}}}}}")
        },
    );
    let fixed = prop::sample::select(vec![
        r#"{"$binary": {"base64": "AQID", "subType": "04"}}"#,
        r#"{"$binary": "AQID", "$type": "00"}"#,
        r#"{"$uuid": "73ffd264-44b3-4c69-90e8-e7d1dfc035d4"}"#,
        r#"{"$regularExpression": {"pattern": "^a.*", "options": "im"}}"#,
        r#"{"$regex": "a", "$options": "i"}"#,
        r#"{"$scope": {"y": 1}, "$code": "y"}"#,
        r#"{"$minKey": 1}"#,
        r#"{"$maxKey": 1}"#,
        r#"{"$undefined": true}"#,
        r#"{"$dbPointer": {"$ref": "c", "$id": {"$oid": "65a1b2c3d4e5f60718293a4b"}}}"#,
        r#"{"$oid": "65a1b2c3d4e5f60718293a4b", "x": 1}"#,
        r#"{"x": 1, "$oid": "65a1b2c3d4e5f60718293a4b"}"#,
        r#"{"\u0024oid": "65a1b2c3d4e5f60718293a4b"}"#,
        r#"{"$date": {"$numberLong": "5", "x": 1}}"#,
        r#"{"$date": {"x": 1}}"#,
        r#"{"$date": 1.5}"#,
        r#"{"$date": "2024-01-02T03:04:05Z", "x": 1}"#,
        r#"{"$timestamp": 5}"#,
        r#"{"$set": {"x": 1}}"#,
        r#"{"$numberLong": "5"  }"#,
    ])
    .prop_map(str::to_owned);
    prop_oneof![4 => simple, 1 => bare, 1 => date_long, 2 => timestamp, 2 => fixed]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z_][a-zA-Z0-9_]{0,10}".prop_map(|k| format!("\"{k}\"")),
        1 => string(),
        1 => prop::sample::select(vec!["\"$oid\"", "\"$date\"", "\"$b\"", "\"$\"", "\"\""])
            .prop_map(str::to_owned),
    ]
}

/// Any value: leaves, wrappers, and documents and arrays of them.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        3 => string(),
        3 => number(),
        1 => prop::sample::select(vec!["true", "false", "null"]).prop_map(str::to_owned),
        3 => wrapper(),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..6), ws())
                .prop_map(|(items, a)| format!("[{a}{}{a}]", items.join(&format!("{a},{a}")))),
            (prop::collection::vec((key(), inner), 0..6), ws()).prop_map(|(members, a)| {
                let members: Vec<String> = members
                    .into_iter()
                    .map(|(k, v)| format!("{k}{a}:{a}{v}"))
                    .collect();
                format!("{{{a}{}{a}}}", members.join(&format!("{a},{a}")))
            }),
        ]
    })
}

/// A line: a document of members (sometimes wrapped in whitespace).
fn line() -> impl Strategy<Value = String> {
    (prop::collection::vec((key(), value()), 0..6), ws(), ws()).prop_map(|(members, a, edge)| {
        let members: Vec<String> = members
            .into_iter()
            .map(|(k, v)| format!("{k}{a}:{a}{v}"))
            .collect();
        format!("{edge}{{{a}{}{a}}}{edge}", members.join(","))
    })
}

/// `text` damaged at a char boundary near `at` (a fraction of its length):
/// cut short, a character replaced, inserted or removed.
fn damaged(text: &str, at: f64, how: u8, with: char) -> String {
    let mut cut = ((text.len() as f64) * at) as usize;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let (head, tail) = text.split_at(cut);
    let mut rest = tail.chars();
    match how {
        0 => head.to_owned(),
        1 => {
            rest.next();
            format!("{head}{with}{}", rest.as_str())
        }
        2 => format!("{head}{with}{tail}"),
        _ => {
            rest.next();
            format!("{head}{}", rest.as_str())
        }
    }
}

fn damage_char() -> impl Strategy<Value = char> {
    prop::sample::select(vec![
        '"', '\\', '{', '}', '[', ']', ':', ',', '$', '0', '9', '-', '.', 'e', 'x', ' ', '\u{1}',
        '\u{0}', 'é', 'u',
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Well-formed and ill-formed lines of every wrapper kind and nesting:
    /// the same BSON bytes, or the same error at the same column.
    #[test]
    fn generated_lines_read_as_the_reference_reads_them(text in line()) {
        let (new, old) = both(&text);
        prop_assert_eq!(new, old, "{}", text);
    }

    /// The same lines cut short or with one character replaced, added or removed.
    #[test]
    fn damaged_lines_fail_as_the_reference_fails(
        text in line(), at in 0.0f64..1.0, how in 0u8..4, with in damage_char(),
    ) {
        let text = damaged(&text, at, how, with);
        let (new, old) = both(&text);
        prop_assert_eq!(new, old, "{}", text);
    }

    /// A value on its own as a line (often an error: a wrapper, an array, a number).
    #[test]
    fn bare_values_read_as_the_reference_reads_them(text in value()) {
        let (new, old) = both(&text);
        prop_assert_eq!(new, old, "{}", text);
    }
}

/// Hand-picked edges: the word-at-a-time string scan at every offset, and
/// the integer limits.
#[test]
fn edges_read_as_the_reference_reads_them() {
    let mut cases = Vec::new();
    for len in 0..20 {
        let run = "a".repeat(len);
        for tail in ["\"", "\\n\"", "\u{1}\"", "", "é\"", "\\u0000\""] {
            cases.push(format!("{{\"k{run}{tail}: \"{run}{tail}}}"));
            cases.push(format!("{{\"k\": \"{run}{tail}}}"));
            cases.push(format!("{{\"k\": {{\"$oid\": \"{run}{tail}}}}}"));
        }
    }
    for n in [
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "-0",
        "0",
        "-",
        "--1",
        "1.e5",
        "1e",
        "00",
    ] {
        cases.push(format!("{{\"n\": {n}}}"));
        cases.push(format!("{{\"n\": {{\"$date\": {n}}}}}"));
        cases.push(format!(
            "{{\"n\": {{\"$timestamp\": {{\"t\": {n}, \"i\": 1}}}}}}"
        ));
    }
    for text in &cases {
        let (new, old) = both(text);
        assert_eq!(new, old, "{text}");
    }
}
