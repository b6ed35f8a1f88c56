//! The walk: elements skipped by their sizes, keys compared as bytes.

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
    // Every element lies before the document's closing NUL; `body` stops
    // there, so no element can reach it.
    let bytes = doc.as_bytes();
    let body = &bytes[..bytes.len().saturating_sub(1)];
    let mut left = N;
    let mut at = 4;
    while at < body.len() && left > 0 {
        let element_type = body[at];
        let key_start = at + 1;
        let Some(key_len) = nul_at(&body[key_start..]) else {
            break;
        };
        let value_start = key_start + key_len + 1;
        let Some(size) = value_size(element_type, &body[value_start..]) else {
            break;
        };
        let name = &body[key_start..key_start + key_len];
        for (slot, key) in found.iter_mut().zip(keys) {
            if slot.is_none() && name == key.as_bytes() {
                let value = &body[value_start..value_start + size];
                // The `bson` crate decodes the rare types (and judges a value
                // that `decode` refuses), walking the document its own way.
                *slot = decode(element_type, value).or_else(|| doc.get(key).ok().flatten());
                left -= 1;
            }
        }
        at = value_start + size;
    }
    found
}

/// The index of the first NUL in `bytes`, read eight bytes at a time (a key
/// usually ends in the first word).
pub(super) fn nul_at(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut at = 0;
    while let Some(word) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        // The lowest high bit set marks the first zero byte (a borrow can
        // only mark bytes above it).
        let zeros = word.wrapping_sub(ONES) & !word & HIGHS;
        if zeros != 0 {
            return Some(at + (zeros.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes[at..].iter().position(|&b| b == 0).map(|n| at + n)
}

fn read_i32(bytes: &[u8]) -> Option<i32> {
    Some(i32::from_le_bytes(bytes.get(..4)?.try_into().ok()?))
}

/// A length prefix that is not negative.
fn read_len(bytes: &[u8]) -> Option<usize> {
    usize::try_from(read_i32(bytes)?).ok()
}

fn cstring_len(bytes: &[u8]) -> Option<usize> {
    nul_at(bytes).map(|n| n + 1)
}

/// The byte length of a value of `element_type` at the start of `bytes`, or
/// `None` for an unknown type or a value longer than `bytes`. Inlined into
/// the walk: a call per element costs as much as the match itself.
#[inline(always)]
fn value_size(element_type: u8, bytes: &[u8]) -> Option<usize> {
    // The type bytes of `bson::spec::ElementType`, matched directly.
    let size = match element_type {
        // double, date, timestamp, int64
        0x01 | 0x09 | 0x11 | 0x12 => 8,
        // int32, ObjectId, boolean, decimal128
        0x10 => 4,
        0x07 => 12,
        0x08 => 1,
        0x13 => 16,
        // undefined, null, max key, min key
        0x06 | 0x0A | 0x7F | 0xFF => 0,
        // string, code, symbol: a length that does not count itself
        0x02 | 0x0D | 0x0E => 4 + read_len(bytes)?,
        // document, array, code with scope: a length that counts itself
        0x03 | 0x04 | 0x0F => read_len(bytes)?,
        // binary: its length, subtype and bytes; DBPointer: a string and an ObjectId
        0x05 => 4 + read_len(bytes)? + 1,
        0x0C => 4 + read_len(bytes)? + 12,
        0x0B => {
            // regular expression: pattern and options, two C strings
            let pattern = cstring_len(bytes)?;
            pattern + cstring_len(bytes.get(pattern..)?)?
        }
        _ => return None,
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
