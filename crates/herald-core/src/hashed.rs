//! MongoDB's hashed index key of a value: what a `hashed` index stores and
//! what `$toHashedIndexKey` (7.0+) returns, computed here as the server does,
//! so herald places a document in the same partition the server's `$match`
//! does (see [`crate::partition`]).
//!
//! The server hashes with MD5, seed 0: the seed (4 bytes, little-endian),
//! then for the value its canonical type (4 bytes), and its bytes as BSON
//! encodes them; numbers of every type as one 64-bit integer (as
//! `safeNumberLong`: doubles truncated toward zero, decimals rounded half to
//! even, NaN as 0, clamped at the ends), so `1`, `NumberLong(1)` and `1.0`
//! hash alike; documents and arrays as each element (canonical type, field
//! name with its NUL, value) and then the end marker (type 0); code with
//! scope as its code (with its NUL) and then its scope's elements. The key
//! is the digest's first 8 bytes, little-endian.

use bson::spec::ElementType;
use bson::{Bson, RawBsonRef, RawDocument};
use md5::{Digest, Md5};

/// The hashed index key of `value`, as `$toHashedIndexKey` gives it.
///
/// ```
/// use bson::{Bson, doc};
/// use herald_core::hashed::hashed_index_key;
/// // The server's own check value: the hash of 42.
/// assert_eq!(hashed_index_key(&Bson::Int32(42)), -944302157085130861);
/// assert_eq!(hashed_index_key(&Bson::Int64(42)), hashed_index_key(&Bson::Double(42.9)));
/// ```
pub fn hashed_index_key(value: &Bson) -> i64 {
    // Through raw BSON, so both kinds of value hash by one code path.
    let wrapped = bson::doc! { "v": value.clone() };
    let raw = bson::RawDocumentBuf::from_document(&wrapped).expect("a value always encodes");
    match raw.get("v") {
        Ok(Some(value)) => hashed_index_key_raw(value),
        _ => unreachable!("the value was just written"),
    }
}

/// [`hashed_index_key`] of a raw value (a `documentKey` read from an event).
///
/// ```
/// use bson::{RawDocumentBuf, doc};
/// use herald_core::hashed::{hashed_index_key, hashed_index_key_raw};
/// let key = RawDocumentBuf::from_document(&doc! {"_id": 7}).unwrap();
/// assert_eq!(
///     hashed_index_key_raw(bson::RawBsonRef::Document(&key)),
///     hashed_index_key(&bson::Bson::Document(doc! {"_id": 7})),
/// );
/// ```
pub fn hashed_index_key_raw(value: RawBsonRef<'_>) -> i64 {
    let mut md5 = Md5::new();
    md5.update(0_i32.to_le_bytes()); // the seed
    element(&mut md5, None, value);
    let digest = md5.finalize();
    i64::from_le_bytes(digest[..8].try_into().expect("MD5 gives 16 bytes"))
}

/// Hashes one element: its canonical type, its field name (inside documents
/// and arrays), its value.
fn element(md5: &mut Md5, name: Option<&str>, value: RawBsonRef<'_>) {
    md5.update(canonical_type(value.element_type()).to_le_bytes());
    if let Some(name) = name {
        md5.update(name.as_bytes());
        md5.update([0]);
    }
    match value {
        RawBsonRef::Double(d) => md5.update(double_as_long(d).to_le_bytes()),
        RawBsonRef::Int32(i) => md5.update(i64::from(i).to_le_bytes()),
        RawBsonRef::Int64(i) => md5.update(i.to_le_bytes()),
        RawBsonRef::Decimal128(d) => md5.update(decimal_as_long(&d.bytes()).to_le_bytes()),
        RawBsonRef::Document(doc) => elements(md5, doc),
        RawBsonRef::Array(array) => {
            for (index, item) in array.into_iter().enumerate() {
                let Ok(item) = item else { break };
                element(md5, Some(&index.to_string()), item);
            }
            md5.update(0_i32.to_le_bytes());
        }
        RawBsonRef::JavaScriptCodeWithScope(code) => {
            md5.update(code.code.as_bytes());
            md5.update([0]);
            elements(md5, code.scope);
        }
        other => md5.update(value_bytes(other)),
    }
}

/// A value's bytes as BSON encodes them (after the type and field name).
fn value_bytes(value: RawBsonRef<'_>) -> Vec<u8> {
    let mut holder = bson::RawDocumentBuf::new();
    holder.append("v", value.to_raw_bson());
    let bytes = holder.into_bytes();
    // The document's length, the element's type and name "v\0"; its end.
    bytes[4 + 1 + 2..bytes.len() - 1].to_vec()
}

/// A document's (or array's) elements, then the end marker.
fn elements(md5: &mut Md5, doc: &RawDocument) {
    for item in doc {
        // A raw document that does not decode hashes as far as it does.
        let Ok((name, value)) = item else { break };
        element(md5, Some(name), value);
    }
    md5.update(0_i32.to_le_bytes());
}

/// The server's canonical type order, which hashes (not the BSON type byte).
fn canonical_type(kind: ElementType) -> i32 {
    match kind {
        ElementType::MinKey => -1,
        ElementType::MaxKey => 127,
        ElementType::Undefined => 0,
        ElementType::Null => 5,
        ElementType::Double | ElementType::Int32 | ElementType::Int64 | ElementType::Decimal128 => {
            10
        }
        ElementType::String | ElementType::Symbol => 15,
        ElementType::EmbeddedDocument => 20,
        ElementType::Array => 25,
        ElementType::Binary => 30,
        ElementType::ObjectId => 35,
        ElementType::Boolean => 40,
        ElementType::DateTime => 45,
        ElementType::Timestamp => 47,
        ElementType::RegularExpression => 50,
        ElementType::DbPointer => 55,
        ElementType::JavaScriptCode => 60,
        ElementType::JavaScriptCodeWithScope => 65,
    }
}

/// A double as the server's hash takes it: truncated, NaN as 0, clamped,
/// and exactly 2^63 as -2^63 (an old overflow the server keeps).
fn double_as_long(d: f64) -> i64 {
    const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;
    if d.is_nan() {
        0
    } else if d == TWO_TO_63 {
        i64::MIN
    } else {
        // `as` truncates toward zero and saturates at both ends.
        d as i64
    }
}

/// A decimal128 as the server's `safeNumberLong` takes it: NaN as 0,
/// clamped beyond the int64 range, others rounded half to even
/// (`Decimal128::toLong`'s default rounding).
fn decimal_as_long(bytes: &[u8; 16]) -> i64 {
    let Some((negative, coefficient, exponent)) = crate::decimal::parts(bytes) else {
        // NaN, an infinity, or a non-canonical encoding (whose value is 0).
        let text = bson::Decimal128::from_bytes(*bytes).to_string();
        return match text.as_str() {
            "Infinity" => i64::MAX,
            "-Infinity" => i64::MIN,
            _ => 0,
        };
    };
    let magnitude = if coefficient == 0 {
        Some(0)
    } else if exponent >= 0 {
        10_u128
            .checked_pow(exponent.unsigned_abs())
            .and_then(|scale| coefficient.checked_mul(scale))
    } else if exponent < -38 {
        // The coefficient is below 10^34: the value is below a tenth.
        Some(0)
    } else {
        let scale = 10_u128.pow(exponent.unsigned_abs());
        let (whole, rest) = (coefficient / scale, coefficient % scale);
        Some(match (2 * rest).cmp(&scale) {
            std::cmp::Ordering::Greater => whole + 1,
            std::cmp::Ordering::Equal => whole + (whole & 1),
            std::cmp::Ordering::Less => whole,
        })
    };
    let limit = if negative {
        1_u128 << 63
    } else {
        (1_u128 << 63) - 1
    };
    match magnitude {
        Some(m) if m <= limit && negative => (-(m as i128)) as i64,
        Some(m) if m <= limit => m as i64,
        _ if negative => i64::MIN,
        _ => i64::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn the_servers_published_values() {
        // hasher.cpp's startup check, and the $toHashedIndexKey manual page's example.
        assert_eq!(hashed_index_key(&Bson::Int32(42)), -944_302_157_085_130_861);
        assert_eq!(
            hashed_index_key(&Bson::String("string to hash".into())),
            763_543_691_661_428_748
        );
    }

    #[test]
    fn numbers_of_every_type_hash_alike() {
        let one = hashed_index_key(&Bson::Int32(1));
        assert_eq!(hashed_index_key(&Bson::Int64(1)), one);
        assert_eq!(hashed_index_key(&Bson::Double(1.0)), one);
        assert_eq!(hashed_index_key(&Bson::Double(1.7)), one);
        assert_eq!(
            hashed_index_key(&Bson::Decimal128("1".parse().unwrap())),
            one
        );
        assert_ne!(hashed_index_key(&Bson::Int32(2)), one);
        assert_eq!(
            hashed_index_key(&Bson::Double(f64::NAN)),
            hashed_index_key(&Bson::Int32(0))
        );
        assert_eq!(
            hashed_index_key(&Bson::Double(9_223_372_036_854_775_808.0)),
            hashed_index_key(&Bson::Int64(i64::MIN))
        );
        assert_eq!(
            hashed_index_key(&Bson::Double(-0.0)),
            hashed_index_key(&Bson::Int32(0))
        );
        assert_eq!(
            hashed_index_key(&Bson::Double(1e300)),
            hashed_index_key(&Bson::Int64(i64::MAX))
        );
        assert_ne!(hashed_index_key(&Bson::String("1".into())), one);
    }

    #[test]
    fn decimals_round_half_to_even_and_clamp() {
        let key = |text: &str| hashed_index_key(&Bson::Decimal128(text.parse().unwrap()));
        let int = |n: i64| hashed_index_key(&Bson::Int64(n));
        assert_eq!(key("1.0"), int(1));
        assert_eq!(key("0.5"), int(0));
        assert_eq!(key("1.5"), int(2));
        assert_eq!(key("2.5"), int(2));
        assert_eq!(key("-2.51"), int(-3));
        assert_eq!(key("1E+3"), int(1000));
        assert_eq!(key("123456789012345678"), int(123_456_789_012_345_678));
        assert_eq!(key("-9223372036854775808"), int(i64::MIN));
        assert_eq!(key("1E+30"), int(i64::MAX));
        assert_eq!(key("-1E+30"), int(i64::MIN));
        assert_eq!(key("0E+6000"), int(0));
        assert_eq!(key("1E-40"), int(0));
        assert_eq!(key("NaN"), int(0));
        assert_eq!(key("Infinity"), int(i64::MAX));
        assert_eq!(key("-Infinity"), int(i64::MIN));
    }

    /// Values computed apart from this code (Python's hashlib over the byte
    /// layout hasher.cpp hashes); null's is the key hashed indexes store for
    /// a missing field, which the server's jstests pin too.
    #[test]
    fn values_of_each_kind() {
        assert_eq!(hashed_index_key(&Bson::Null), 2_338_878_944_348_059_895);
        assert_eq!(
            hashed_index_key(&Bson::Boolean(true)),
            6_405_873_908_747_105_701
        );
        let id = bson::oid::ObjectId::parse_str("5f1d7a0f9e8b7c6d5e4f3a2b").unwrap();
        assert_eq!(
            hashed_index_key(&Bson::ObjectId(id)),
            2_363_312_714_893_332_538
        );
        assert_eq!(
            hashed_index_key(&Bson::Document(doc! {"a": 1})),
            -8_705_610_352_600_103_477
        );
        assert_eq!(
            hashed_index_key(&Bson::Array(vec![Bson::Int32(1), Bson::String("x".into())])),
            -742_281_735_505_931_280
        );
    }

    #[test]
    fn documents_hash_their_field_names_and_order() {
        let a = hashed_index_key(&Bson::Document(doc! {"_id": 1}));
        assert_ne!(a, hashed_index_key(&Bson::Document(doc! {"id": 1})));
        assert_ne!(a, hashed_index_key(&Bson::Int32(1)));
        assert_eq!(a, hashed_index_key(&Bson::Document(doc! {"_id": 1.0})));
        assert_ne!(
            hashed_index_key(&Bson::Document(doc! {"a": 1, "b": 2})),
            hashed_index_key(&Bson::Document(doc! {"b": 2, "a": 1}))
        );
    }
}
