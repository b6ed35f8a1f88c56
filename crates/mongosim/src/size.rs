//! BSON sizes, counted rather than serialised: a change stream checks the
//! size of every event it returns (for the 16 MiB batch limit and the
//! `$changeStreamSplitLargeEvent` threshold), and writing each one out only
//! to measure it cost as much as sending it.

use bson::spec::BinarySubtype;
use bson::{Bson, Document, doc};

/// The size of `doc` serialised as BSON, as `doc.to_writer` would write it.
///
/// ```
/// use bson::doc;
/// let event = doc! { "_id": { "_data": "8263" }, "n": 1, "ok": true };
/// let mut bytes = Vec::new();
/// event.to_writer(&mut bytes).unwrap();
/// assert_eq!(mongosim::size::document(&event), bytes.len());
/// ```
pub fn document(doc: &Document) -> usize {
    // Length, elements, terminating NUL.
    4 + doc.iter().map(|(k, v)| element(k, v)).sum::<usize>() + 1
}

/// The size of `key: value` as an element of a document: type byte, key
/// and its NUL, value.
fn element(key: &str, value: &Bson) -> usize {
    1 + key.len() + 1 + self::value(value)
}

/// The size of a string value: length, bytes, NUL.
fn string(s: &str) -> usize {
    4 + s.len() + 1
}

/// The size of `value` as the value part of an element.
fn value(value: &Bson) -> usize {
    match value {
        Bson::Double(_) | Bson::Int64(_) | Bson::DateTime(_) | Bson::Timestamp(_) => 8,
        Bson::Int32(_) => 4,
        Bson::Boolean(_) => 1,
        Bson::ObjectId(_) => 12,
        Bson::Decimal128(_) => 16,
        Bson::Null | Bson::Undefined | Bson::MaxKey | Bson::MinKey => 0,
        Bson::String(s) | Bson::JavaScriptCode(s) | Bson::Symbol(s) => string(s),
        Bson::Document(d) => document(d),
        Bson::Array(items) => {
            let elements: usize = items
                .iter()
                .enumerate()
                .map(|(i, item)| 1 + decimal_digits(i) + 1 + self::value(item))
                .sum();
            4 + elements + 1
        }
        Bson::Binary(b) => {
            // The old binary subtype repeats the length inside the payload.
            let old = if b.subtype == BinarySubtype::BinaryOld {
                4
            } else {
                0
            };
            4 + 1 + old + b.bytes.len()
        }
        Bson::RegularExpression(re) => re.pattern.len() + 1 + re.options.len() + 1,
        Bson::JavaScriptCodeWithScope(code) => 4 + string(&code.code) + document(&code.scope),
        // Its parts are private to the bson crate; rare enough to measure by writing.
        Bson::DbPointer(_) => {
            let mut bytes = Vec::new();
            // `{"": value}`: length, type byte, empty key's NUL, value, NUL.
            doc! { "": value.clone() }
                .to_writer(&mut bytes)
                .map_or(0, |()| bytes.len() - 7)
        }
    }
}

/// How many decimal digits `n` has (array keys are "0", "1", ...).
fn decimal_digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::oid::ObjectId;
    use bson::{Binary, Decimal128, JavaScriptCodeWithScope, Regex, Timestamp};
    use proptest::prelude::*;

    fn written(doc: &Document) -> usize {
        let mut bytes = Vec::new();
        doc.to_writer(&mut bytes).unwrap();
        bytes.len()
    }

    fn leaf() -> impl Strategy<Value = Bson> {
        prop_oneof![
            any::<f64>().prop_map(Bson::Double),
            ".{0,12}".prop_map(Bson::String),
            any::<bool>().prop_map(Bson::Boolean),
            Just(Bson::Null),
            Just(Bson::Undefined),
            Just(Bson::MaxKey),
            Just(Bson::MinKey),
            any::<i32>().prop_map(Bson::Int32),
            any::<i64>().prop_map(Bson::Int64),
            any::<(u32, u32)>()
                .prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
            any::<[u8; 12]>().prop_map(|b| Bson::ObjectId(ObjectId::from_bytes(b))),
            any::<i64>().prop_map(|ms| Bson::DateTime(bson::DateTime::from_millis(ms))),
            any::<[u8; 16]>().prop_map(|b| Bson::Decimal128(Decimal128::from_bytes(b))),
            (prop::collection::vec(any::<u8>(), 0..20), 0u8..6).prop_map(|(bytes, subtype)| {
                Bson::Binary(Binary {
                    subtype: BinarySubtype::from(subtype),
                    bytes,
                })
            }),
            ("[a-z]{0,8}", "[imsx]{0,3}").prop_map(|(p, o)| Bson::RegularExpression(Regex {
                pattern: p,
                options: o
            })),
            "[a-z ]{0,10}".prop_map(Bson::JavaScriptCode),
            "[a-z]{0,10}".prop_map(Bson::Symbol),
        ]
    }

    fn value_tree() -> impl Strategy<Value = Bson> {
        leaf().prop_recursive(4, 48, 12, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..12).prop_map(Bson::Array),
                prop::collection::vec(("[a-zA-Z_$.]{0,6}", inner.clone()), 0..6)
                    .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
                (
                    "[a-z]{0,8}",
                    prop::collection::vec(("[a-z]{1,4}", inner), 0..3)
                )
                    .prop_map(|(code, scope)| Bson::JavaScriptCodeWithScope(
                        JavaScriptCodeWithScope {
                            code,
                            scope: scope.into_iter().collect(),
                        }
                    )),
            ]
        })
    }

    proptest! {
        /// The counted size is the written size, for any document.
        #[test]
        fn counted_sizes_are_written_sizes(fields in prop::collection::vec(("[a-z_]{0,8}", value_tree()), 0..8)) {
            let doc: Document = fields.into_iter().collect();
            prop_assert_eq!(document(&doc), written(&doc));
        }
    }

    #[test]
    fn arrays_past_ten_and_a_hundred_elements_have_longer_keys() {
        for n in [0, 9, 10, 11, 99, 100, 101, 1_000] {
            let doc = doc! { "a": (0..n).map(Bson::Int32).collect::<Vec<_>>() };
            assert_eq!(document(&doc), written(&doc), "{n} elements");
        }
    }

    #[test]
    fn db_pointers_are_measured_too() {
        // A DBPointer can only come from BSON bytes: read one in.
        let mut bytes = Vec::new();
        let ns = b"db.coll\0";
        let mut element = vec![0x0C];
        element.extend_from_slice(b"p\0");
        element.extend_from_slice(&(ns.len() as i32).to_le_bytes());
        element.extend_from_slice(ns);
        element.extend_from_slice(&[7; 12]);
        bytes.extend_from_slice(&((4 + element.len() + 1) as i32).to_le_bytes());
        bytes.extend_from_slice(&element);
        bytes.push(0);
        let doc = Document::from_reader(&mut bytes.as_slice()).unwrap();
        assert!(matches!(doc.get("p"), Some(Bson::DbPointer(_))));
        assert_eq!(document(&doc), bytes.len());
    }
}
