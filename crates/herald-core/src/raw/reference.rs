//! A frozen copy of the field lookup as it was before the speed work
//! (test-only): the proptests in `tests.rs` hold [`super::get_many`] to it,
//! result for result on any bytes. Do not edit; it is the definition.

use bson::raw::{RawBsonRef, RawDocument};
use bson::spec::ElementType;
use bson::{DateTime, Decimal128, Timestamp, oid::ObjectId};

pub(super) fn get_many<'a, const N: usize>(
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
