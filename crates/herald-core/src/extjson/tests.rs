use super::*;
use bson::{Binary, DateTime, Decimal128, Timestamp, doc, oid::ObjectId, spec::BinarySubtype};
use std::str::FromStr;

fn sample() -> Document {
    doc! {
        "oid": ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap(),
        "date": DateTime::from_millis(1_700_000_000_123),
        "dec": Decimal128::from_str("1234.50").unwrap(),
        "long": 9_007_199_254_740_993_i64,
        "int": 42,
        "double": 2.5,
        "ts": Timestamp { time: 1_700_000_000, increment: 7 },
        "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2, 3] },
        "nested": { "arr": [1, "two", null, true] },
    }
}

#[test]
fn canonical_round_trip() {
    let doc = sample();
    let text = to_canonical(&doc).to_string();
    assert_eq!(parse_document(&text).unwrap(), doc);
}

#[test]
fn relaxed_round_trip_keeps_types_that_relaxed_can_express() {
    let doc = sample();
    let text = to_relaxed(&doc).to_string();
    let back = parse_document(&text).unwrap();
    // Relaxed form writes small int64 and int32 as plain numbers: a bare
    // integer that fits 32 bits comes back as int32, a larger one as int64.
    assert_eq!(back.get_i64("long").unwrap(), 9_007_199_254_740_993);
    assert_eq!(back.get_i32("int").unwrap(), 42);
    for key in ["oid", "date", "dec", "double", "ts", "bin", "nested"] {
        assert_eq!(back.get(key), doc.get(key), "{key}");
    }
}

#[test]
fn errors_have_columns() {
    let err = parse_document(r#"{"a": 1,, "b": 2}"#).unwrap_err();
    assert_eq!(err.column, 9);
    assert!(!err.message.contains("line 1"), "{}", err.message);
    let err = parse_document("  [1, 2]").unwrap_err();
    assert_eq!(err.column, 3);
    let err = parse_document(r#"{"a": {"$oid": "nothex"}}"#).unwrap_err();
    assert!(err.message.contains("Extended JSON"), "{}", err.message);
}

/// The conversion the parser must agree with: serde_json's tree, then the
/// `bson` crate's Extended JSON reading.
fn reference(text: &str) -> Option<Vec<u8>> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    match Bson::try_from(value).ok()? {
        Bson::Document(doc) => bson::to_vec(&doc).ok(),
        _ => None,
    }
}

fn parsed(text: &str) -> Option<Vec<u8>> {
    parse_raw_document(text).ok().map(|raw| raw.into_bytes())
}

#[test]
fn agrees_with_the_bson_crate_on_every_wrapper() {
    let cases = [
        r#"{"a": {"$oid": "65a1b2c3d4e5f60718293a4b"}}"#,
        r#"{"a": {"$date": "2024-01-02T03:04:05.678Z"}}"#,
        r#"{"a": {"$date": {"$numberLong": "-5"}}}"#,
        r#"{"a": {"$date": 1700000000000}}"#,
        r#"{"a": {"$date": "2024-01-02T03:04:05+02:00"}}"#,
        r#"{"a": {"$numberInt": "-7"}, "b": {"$numberLong": "9007199254740993"}}"#,
        r#"{"a": {"$numberDouble": "NaN"}, "b": {"$numberDouble": "-Infinity"}, "c": {"$numberDouble": "1.5e3"}}"#,
        r#"{"a": {"$numberDecimal": "1234.50"}, "b": {"$numberDecimal": "-Infinity"}}"#,
        r#"{"a": {"$timestamp": {"t": 4294967295, "i": 1}}, "b": {"$timestamp": {"i": 2, "t": 3}}}"#,
        r#"{"a": {"$binary": {"base64": "AQID", "subType": "04"}}}"#,
        r#"{"a": {"$uuid": "73ffd264-44b3-4c69-90e8-e7d1dfc035d4"}}"#,
        r#"{"a": {"$regularExpression": {"pattern": "^a.*", "options": "im"}}}"#,
        r#"{"a": {"$code": "x()"}, "b": {"$scope": {"y": 1}, "$code": "y"}}"#,
        r#"{"a": {"$symbol": "s"}, "b": {"$minKey": 1}, "c": {"$maxKey": 1}, "d": {"$undefined": true}}"#,
        r#"{"a": {"$dbPointer": {"$ref": "c", "$id": {"$oid": "65a1b2c3d4e5f60718293a4b"}}}}"#,
        r#"{"a": {"$set": {"x": 1}}, "$b": 2, "c": {"$regex": "a", "$options": "i"}}"#,
        r#"{"n": [1, -2147483649, 2147483647, 1.0, -0, 18446744073709551616, 0.1]}"#,
        r#"{"s": "tab\tquote\"slash\/ \u00e9 \ud83d\ude00", "e": {}, "l": [], "z": null, "t": true, "f": false}"#,
    ];
    for text in cases {
        assert_eq!(parsed(text), reference(text), "{text}");
        assert!(parsed(text).is_some(), "{text}");
    }
}

#[test]
fn refuses_what_the_bson_crate_refuses() {
    let cases = [
        r#"{"a": {"$oid": "nothex"}}"#,
        r#"{"a": {"$oid": "65a1b2c3d4e5f60718293a4b", "x": 1}}"#,
        r#"{"a": 1, "$oid": "65a1b2c3d4e5f60718293a4b"}"#,
        r#"{"a": {"x": 1, "$date": 5}}"#,
        r#"{"a": {"$numberInt": "2147483648"}}"#,
        r#"{"a": {"$numberLong": 5}}"#,
        r#"{"a": {"$date": "yesterday"}}"#,
        r#"{"a": {"$timestamp": {"t": -1, "i": 1}}}"#,
        r#"{"a": {"$timestamp": {"t": 1}}}"#,
        r#"{"$oid": "65a1b2c3d4e5f60718293a4b"}"#,
        r#"{"a": 01}"#,
        r#"{"a": 1e400}"#,
        r#"{"a": 1.}"#,
        r#"{"a": "\ud800"}"#,
        "{\"a\": \"c\u{1}tl\"}",
        r#"{"a": 1} x"#,
        r#"{"a\u0000b": 1}"#,
        "[1]",
        "",
    ];
    for text in cases {
        assert_eq!(parsed(text), None, "accepted {text}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let text = format!(
        r#"{{"a": {}1{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let err = parse_raw_document(&text).unwrap_err();
    assert!(err.message.contains("nested too deeply"), "{}", err.message);
}

mod props {
    use super::*;
    use bson::{Regex, spec::BinarySubtype};
    use proptest::prelude::*;

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z_][a-zA-Z0-9_.]{0,8}",
            "\\$[a-z]{1,6}",
            "[^\u{0}]{0,6}",
        ]
    }

    fn leaf() -> impl Strategy<Value = Bson> {
        prop_oneof![
            any::<i32>().prop_map(Bson::Int32),
            any::<i64>().prop_map(Bson::Int64),
            any::<f64>().prop_map(Bson::Double),
            any::<bool>().prop_map(Bson::Boolean),
            Just(Bson::Null),
            "[^\u{0}]{0,12}".prop_map(Bson::String),
            any::<[u8; 12]>().prop_map(|b| Bson::ObjectId(ObjectId::from_bytes(b))),
            any::<i64>().prop_map(|ms| Bson::DateTime(DateTime::from_millis(ms))),
            (any::<u32>(), any::<u32>())
                .prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
            any::<[u8; 16]>().prop_map(|b| Bson::Decimal128(Decimal128::from_bytes(b))),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(|bytes| {
                Bson::Binary(Binary {
                    subtype: BinarySubtype::Generic,
                    bytes,
                })
            }),
            ("[a-z]{0,4}", "[imsux]{0,3}").prop_map(|(p, o)| Bson::RegularExpression(Regex {
                pattern: p,
                options: o
            })),
            Just(Bson::MinKey),
            Just(Bson::MaxKey),
        ]
    }

    fn value() -> impl Strategy<Value = Bson> {
        leaf().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Bson::Array),
                proptest::collection::vec((key(), inner), 0..6)
                    .prop_map(|pairs| { Bson::Document(pairs.into_iter().collect()) }),
            ]
        })
    }

    fn document() -> impl Strategy<Value = Document> {
        proptest::collection::vec(("[a-z]{1,6}", value()), 0..6)
            .prop_map(|pairs| pairs.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Canonical and relaxed renderings of any document read back exactly
        /// as the `bson` crate reads them (including `$`-keys that are not wrappers).
        #[test]
        fn matches_the_reference(doc in document()) {
            for text in [to_canonical(&doc).to_string(), to_relaxed(&doc).to_string()] {
                prop_assert_eq!(parsed(&text), reference(&text), "{}", text);
            }
        }

        /// Arbitrary text never panics; whatever is accepted the reference accepts too.
        #[test]
        fn arbitrary_text_is_safe(text in "[{}\\[\\]\":,$a-z0-9 .\\-e\\\\]{0,64}") {
            if let Some(bytes) = parsed(&text) {
                prop_assert_eq!(Some(bytes), reference(&text), "{}", text);
            }
        }

        /// UTC dates read by the fast path mean what the full RFC 3339 parser reads.
        #[test]
        fn fast_dates_match_the_full_parser(
            y in 1970i64..2200, mo in 1i64..=12, d in 1i64..=31, h in 0i64..24, mi in 0i64..60,
            s in 0i64..60, frac in "(\\.[0-9]{1,9})?", zone in "(Z|\\+01:00|z)",
        ) {
            let text = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{zone}");
            let line = format!(r#"{{"d": {{"$date": "{text}"}}}}"#);
            prop_assert_eq!(parsed(&line), reference(&line), "{}", text);
        }

        /// Error columns point inside the line.
        #[test]
        fn error_columns_are_in_range(text in "\\{\"[a-z]{1,4}\": [0-9a-z\"{}\\[\\],:]{0,24}") {
            if let Err(e) = parse_raw_document(&text) {
                prop_assert!(e.column >= 1 && e.column <= text.len() + 1, "{} {}", e.column, text);
            }
        }
    }
}
