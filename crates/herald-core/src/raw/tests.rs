//! The walk against a frozen copy of the code before it (`reference`), and
//! against `bson`'s own lookup where keys are unique.

use super::walk::nul_at;
use super::{get, get_many, reference};
use bson::raw::{RawBsonRef, RawDocument};
use bson::{
    Binary, Bson, Document, JavaScriptCodeWithScope, RawBson, RawDocumentBuf, Regex, doc,
    spec::BinarySubtype,
};
use bson::{DateTime, Decimal128, Timestamp, oid::ObjectId};
use proptest::prelude::*;

fn every_type() -> Document {
    doc! {
        "double": 2.5, "string": "héllo", "doc": { "x": 1 }, "array": [1, "two"],
        "binary": Binary { subtype: BinarySubtype::Generic, bytes: vec![1, 2] },
        "undefined": Bson::Undefined, "oid": ObjectId::from_bytes([7; 12]), "bool": true,
        "date": DateTime::from_millis(-5), "null": Bson::Null,
        "regex": Regex { pattern: "a.c".into(), options: "i".into() },
        "code": Bson::JavaScriptCode("f()".into()),
        "symbol": Bson::Symbol("s".into()),
        "int32": -7, "ts": Timestamp { time: 9, increment: 3 }, "int64": 1_i64 << 40,
        "decimal": Bson::Decimal128(Decimal128::from_bytes([3; 16])),
        "min": Bson::MinKey, "max": Bson::MaxKey, "": "empty key",
    }
}

#[test]
fn finds_every_type_as_the_bson_crate_does() {
    let raw = RawDocumentBuf::from_document(&every_type()).unwrap();
    for (key, _) in &every_type() {
        assert_eq!(get(&raw, key), raw.get(key).unwrap(), "{key}");
    }
    let [int32, missing, string] = get_many(&raw, ["int32", "missing", "string"]);
    assert_eq!(int32, raw.get("int32").unwrap());
    assert_eq!(missing, None);
    assert_eq!(string, raw.get("string").unwrap());
    assert_eq!(get(&raw, "missing"), None);
    assert_eq!(get(&raw, "doub"), None);
}

/// Keys from a small alphabet (one letter not ASCII), so lookups hit, miss,
/// and meet keys that share a prefix; some near and past eight bytes.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![4 => "[abé]{0,3}", 1 => "[ab]{6,10}", 1 => "[aé]{4,5}"]
}

fn leaf() -> impl Strategy<Value = Bson> {
    prop_oneof![
        any::<f64>().prop_map(Bson::Double),
        "\\PC{0,12}".prop_map(Bson::String),
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..6)).prop_map(|(t, bytes)| {
            Bson::Binary(Binary {
                subtype: BinarySubtype::from(t),
                bytes,
            })
        }),
        Just(Bson::Undefined),
        any::<[u8; 12]>().prop_map(|b| Bson::ObjectId(ObjectId::from_bytes(b))),
        any::<bool>().prop_map(Bson::Boolean),
        any::<i64>().prop_map(|n| Bson::DateTime(DateTime::from_millis(n))),
        Just(Bson::Null),
        ("[a-z.*]{0,4}", "[imsx]{0,2}")
            .prop_map(|(pattern, options)| Bson::RegularExpression(Regex { pattern, options })),
        "[a-z()]{0,6}".prop_map(Bson::JavaScriptCode),
        ("[a-z]{0,4}", key()).prop_map(|(code, k)| {
            Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
                code,
                scope: doc! { k: 1 },
            })
        }),
        "[a-z]{0,4}".prop_map(Bson::Symbol),
        any::<i32>().prop_map(Bson::Int32),
        any::<(u32, u32)>()
            .prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
        any::<i64>().prop_map(Bson::Int64),
        any::<[u8; 16]>().prop_map(|b| Bson::Decimal128(Decimal128::from_bytes(b))),
        Just(Bson::MinKey),
        Just(Bson::MaxKey),
    ]
}

fn value() -> impl Strategy<Value = Bson> {
    leaf().prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Bson::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
        ]
    })
}

/// A raw document whose top level may repeat a key (as raw bytes can).
fn raw_document() -> impl Strategy<Value = RawDocumentBuf> {
    prop::collection::vec((key(), value()), 0..10).prop_map(|fields| {
        let mut raw = RawDocumentBuf::new();
        for (key, value) in fields {
            raw.append(key, RawBson::try_from(value).unwrap());
        }
        raw
    })
}

/// `bytes` with some bytes overwritten and the end cut off, then given a
/// true length and a closing NUL so that it still passes as a `RawDocument`.
fn damaged(bytes: &[u8], edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    for &(at, byte) in edits {
        let at = at % bytes.len();
        bytes[at] = byte;
    }
    bytes.truncate(cut.clamp(5, bytes.len().max(5)));
    bytes.resize(bytes.len().max(5), 0);
    let len = bytes.len();
    bytes[..4].copy_from_slice(&i32::try_from(len).unwrap().to_le_bytes());
    bytes[len - 1] = 0;
    bytes
}

/// A lookup's result with where it points, so that two results are equal
/// only if they read the same bytes (`NaN` included).
fn seen(value: Option<RawBsonRef<'_>>) -> Option<(String, usize)> {
    let value = value?;
    let at = match value {
        RawBsonRef::String(s) => s.as_ptr() as usize,
        RawBsonRef::Document(d) => d.as_bytes().as_ptr() as usize,
        RawBsonRef::Array(a) => a.as_bytes().as_ptr() as usize,
        RawBsonRef::Binary(b) => b.bytes.as_ptr() as usize,
        _ => 0,
    };
    Some((format!("{value:?}"), at))
}

fn seen_all<const N: usize>(values: [Option<RawBsonRef<'_>>; N]) -> Vec<Option<(String, usize)>> {
    values.into_iter().map(seen).collect()
}

/// Every lookup of `keys` (one at a time and three at once, always distinct
/// keys) gives what the frozen reference gives.
fn agrees(doc: &RawDocument, keys: &[String]) -> Result<(), TestCaseError> {
    for key in keys {
        let [expected] = reference::get_many(doc, [key.as_str()]);
        prop_assert_eq!(seen(get(doc, key)), seen(expected), "key {:?}", key);
    }
    let three_sets = [
        ["a", "b", "ab"],
        ["", "é", "ba"],
        ["aa", "bb", "éa"],
        ["abababab", "aaaaaaa", "bbbbbbbbb"],
    ];
    for three in three_sets {
        prop_assert_eq!(
            seen_all(get_many(doc, three)),
            seen_all(reference::get_many(doc, three)),
            "keys {:?}",
            three
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// On well-formed documents every lookup matches the reference and,
    /// where the document has no repeated key, the `bson` crate.
    #[test]
    fn intact_documents_agree(raw in raw_document(), keys in prop::collection::vec(key(), 1..6)) {
        agrees(&raw, &keys)?;
        let unique = raw.iter().map(|e| e.unwrap().0.to_owned()).collect::<std::collections::HashSet<_>>();
        if unique.len() == raw.iter().count() {
            for key in &keys {
                prop_assert_eq!(seen(get(&raw, key)), seen(raw.get(key).unwrap()));
            }
        }
    }

    /// Overwritten and cut bytes: the walk stops, decodes and falls back to
    /// the `bson` crate exactly where the reference does.
    #[test]
    fn damaged_documents_agree(
        raw in raw_document(),
        edits in prop::collection::vec((any::<usize>(), prop_oneof![any::<u8>(), 0u8..0x14, Just(0xff)]), 0..4),
        cut in any::<usize>(),
        keys in prop::collection::vec(key(), 1..6),
    ) {
        let bytes = damaged(raw.as_bytes(), &edits, cut);
        let doc = RawDocument::from_bytes(&bytes).unwrap();
        agrees(doc, &keys)?;
    }

    /// Bytes that were never a document, behind a valid header.
    #[test]
    fn arbitrary_bytes_agree(
        body in prop::collection::vec(prop_oneof![any::<u8>(), 0u8..0x14, Just(b'a'), Just(0)], 0..64),
        keys in prop::collection::vec(key(), 1..6),
    ) {
        let mut bytes = vec![0; 4];
        bytes.extend(body);
        bytes.push(0);
        let bytes = damaged(&bytes, &[], usize::MAX);
        agrees(RawDocument::from_bytes(&bytes).unwrap(), &keys)?;
    }

    #[test]
    fn nul_at_finds_the_first_nul(bytes in prop::collection::vec(prop_oneof![any::<u8>(), Just(0)], 0..40)) {
        prop_assert_eq!(nul_at(&bytes), bytes.iter().position(|&b| b == 0));
    }

    /// An event remembers where its `documentKey` is; what it gives back is
    /// what a lookup would find.
    #[test]
    fn an_event_finds_its_document_key(raw in raw_document(), edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..2)) {
        let mut event = bson::rawdoc! { "_id": { "_data": "01" }, "operationType": "update" };
        for element in &raw {
            let (key, value) = element.unwrap();
            let key = if key == "a" { "documentKey" } else { key };
            event.append(key, value.to_raw_bson());
        }
        let bytes = damaged(event.as_bytes(), &edits, usize::MAX);
        let event = RawDocumentBuf::from_bytes(bytes).unwrap();
        let [found] = super::reference::get_many(&event, ["documentKey"]);
        let expected = found.and_then(|v| v.as_document()).map(|d| d.as_bytes().to_vec());
        let parsed = crate::ChangeEvent::from_raw(event);
        prop_assume!(parsed.is_ok(), "an edit broke the event's header");
        prop_assert_eq!(parsed.unwrap().document_key().map(|d| d.as_bytes().to_vec()), expected);
    }
}
