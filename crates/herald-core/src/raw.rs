//! Fast field lookup in raw BSON.
//!
//! `RawDocument::get` validates every key it passes (UTF-8) and builds each
//! value on the way. Finding one field only needs to compare key bytes and
//! skip values by their length, so that is what [`get`] does; only the field
//! found is decoded. Hot paths use it: routing filters and handler field reads.

use bson::raw::{RawBsonRef, RawDocument};
use bson::spec::ElementType;
use bson::{DateTime, Decimal128, Timestamp, oid::ObjectId};

/// The value of `key` in `doc`, or `None` if it is absent (or the document is malformed).
///
/// ```
/// use bson::{doc, RawDocumentBuf};
/// let raw = RawDocumentBuf::from_document(&doc! { "a": 1, "b": { "c": "x" } }).unwrap();
/// let b = herald_core::raw::get(&raw, "b").unwrap();
/// assert_eq!(b.as_document().unwrap().get_str("c").unwrap(), "x");
/// assert!(herald_core::raw::get(&raw, "z").is_none());
/// ```
pub fn get<'a>(doc: &'a RawDocument, key: &str) -> Option<RawBsonRef<'a>> {
    let [found] = get_many(doc, [key]);
    found
}

/// The values of several keys in one pass over `doc` (the first occurrence of each).
///
/// ```
/// use bson::{doc, RawDocumentBuf};
/// let raw = RawDocumentBuf::from_document(&doc! { "a": 1, "b": "x" }).unwrap();
/// let [a, z, b] = herald_core::raw::get_many(&raw, ["a", "z", "b"]);
/// assert_eq!((a.unwrap().as_i32(), z, b.unwrap().as_str()), (Some(1), None, Some("x")));
/// ```
pub fn get_many<'a, const N: usize>(
    doc: &'a RawDocument,
    keys: [&str; N],
) -> [Option<RawBsonRef<'a>>; N] {
    let mut found = [None; N];
    let bytes = doc.as_bytes();
    let Some(end) = bytes.len().checked_sub(1) else {
        return found;
    };
    let mut left = N;
    let mut at = 4;
    while at < end && left > 0 {
        let element_type = bytes[at];
        let key_start = at + 1;
        let Some(key_len) = bytes[key_start..end].iter().position(|&b| b == 0) else {
            break;
        };
        let value_start = key_start + key_len + 1;
        let Some(size) = bytes
            .get(value_start..end)
            .and_then(|rest| value_size(element_type, rest))
        else {
            break;
        };
        let name = &bytes[key_start..key_start + key_len];
        for (slot, key) in found.iter_mut().zip(keys) {
            if slot.is_none() && name == key.as_bytes() {
                let value = &bytes[value_start..value_start + size];
                *slot = decode(element_type, value).or_else(|| doc.get(key).ok().flatten());
                left -= 1;
            }
        }
        at = value_start + size;
    }
    found
}

fn read_i32(bytes: &[u8]) -> Option<i32> {
    Some(i32::from_le_bytes(bytes.get(..4)?.try_into().ok()?))
}

fn length_prefixed(bytes: &[u8], extra: usize) -> Option<usize> {
    let len = usize::try_from(read_i32(bytes)?).ok()?;
    Some(4 + len + extra)
}

fn cstring_len(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == 0).map(|n| n + 1)
}

/// The byte length of a value of `element_type` at the start of `bytes`.
fn value_size(element_type: u8, bytes: &[u8]) -> Option<usize> {
    let size = match ElementType::from(element_type)? {
        ElementType::Double
        | ElementType::DateTime
        | ElementType::Timestamp
        | ElementType::Int64 => 8,
        ElementType::String | ElementType::JavaScriptCode | ElementType::Symbol => {
            length_prefixed(bytes, 0)?
        }
        ElementType::EmbeddedDocument
        | ElementType::Array
        | ElementType::JavaScriptCodeWithScope => usize::try_from(read_i32(bytes)?).ok()?,
        ElementType::Binary => length_prefixed(bytes, 1)?,
        ElementType::Undefined | ElementType::Null | ElementType::MinKey | ElementType::MaxKey => 0,
        ElementType::ObjectId => 12,
        ElementType::Boolean => 1,
        ElementType::RegularExpression => {
            let pattern = cstring_len(bytes)?;
            pattern + cstring_len(bytes.get(pattern..)?)?
        }
        ElementType::DbPointer => length_prefixed(bytes, 12)?,
        ElementType::Int32 => 4,
        ElementType::Decimal128 => 16,
    };
    (size <= bytes.len()).then_some(size)
}

/// Decodes the common types here; `None` sends the rest to the `bson` crate.
fn decode(element_type: u8, value: &[u8]) -> Option<RawBsonRef<'_>> {
    Some(match ElementType::from(element_type)? {
        ElementType::Double => RawBsonRef::Double(f64::from_le_bytes(value.try_into().ok()?)),
        ElementType::String => {
            let text = value.get(4..value.len().checked_sub(1)?)?;
            RawBsonRef::String(std::str::from_utf8(text).ok()?)
        }
        ElementType::EmbeddedDocument => RawBsonRef::Document(RawDocument::from_bytes(value).ok()?),
        ElementType::ObjectId => RawBsonRef::ObjectId(ObjectId::from_bytes(value.try_into().ok()?)),
        ElementType::Boolean => match value[0] {
            0 => RawBsonRef::Boolean(false),
            1 => RawBsonRef::Boolean(true),
            _ => return None,
        },
        ElementType::DateTime => RawBsonRef::DateTime(DateTime::from_millis(i64::from_le_bytes(
            value.try_into().ok()?,
        ))),
        ElementType::Null => RawBsonRef::Null,
        ElementType::Int32 => RawBsonRef::Int32(i32::from_le_bytes(value.try_into().ok()?)),
        ElementType::Timestamp => RawBsonRef::Timestamp(Timestamp {
            increment: u32::from_le_bytes(value.get(..4)?.try_into().ok()?),
            time: u32::from_le_bytes(value.get(4..)?.try_into().ok()?),
        }),
        ElementType::Int64 => RawBsonRef::Int64(i64::from_le_bytes(value.try_into().ok()?)),
        ElementType::Decimal128 => {
            RawBsonRef::Decimal128(Decimal128::from_bytes(value.try_into().ok()?))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{Binary, Bson, Document, Regex, doc, spec::BinarySubtype};
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
        let raw = bson::RawDocumentBuf::from_document(&every_type()).unwrap();
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

    proptest! {
        /// Any prefix or corruption of a document never panics, and on an intact
        /// document every lookup agrees with the `bson` crate.
        #[test]
        fn agrees_with_the_bson_crate(cut in 0usize..400, flip in 0usize..400, key in "[a-z]{0,7}") {
            let raw = bson::RawDocumentBuf::from_document(&every_type()).unwrap();
            prop_assert_eq!(get(&raw, &key), raw.get(&key).unwrap());
            let mut bytes = raw.as_bytes().to_vec();
            if flip < bytes.len() {
                bytes[flip] ^= 0x5a;
            }
            bytes.truncate(cut.max(5));
            if let Ok(doc) = RawDocument::from_bytes(&bytes) {
                let _ = get(doc, &key);
            }
        }
    }
}
