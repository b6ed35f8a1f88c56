//! `$toHashedIndexKey`: the key a hashed index stores for a value, as the
//! server computes it (`BSONElementHasher::hash64` in `hasher.cpp`, seed 0).
//!
//! The hash is MD5 over: the seed (an int32, little-endian), then the
//! element: its canonical type (an int32: the type order rank, so int,
//! long, double and decimal share 10), and its value: numbers as the int64
//! `safeNumberLongForHash` gives (doubles truncated, NaN 0, out of range
//! saturated, 2^63 wrapping to -2^63, decimals rounded half to even), other
//! scalars as their BSON value bytes; documents and arrays as each element
//! in turn (type, field name with its NUL, value) and then the end marker
//! (type 0, no name, no value); code with scope as its code, then its
//! scope's elements. The first 8 bytes of the digest, little-endian, are
//! the key. So `1`, `NumberLong(1)` and `1.0` hash alike, and `1.5` hashes
//! as `1`.

use super::compare::rank;
use super::number::decimal_to_i64;
use bson::{Bson, Document};
use md5::{Digest, Md5};

/// `BSONElementHasher::DEFAULT_HASH_SEED`.
const SEED: i32 = 0;

/// `2^63` as a double: the one double whose hash wraps to `i64::MIN`.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// The hashed-index key of a value (`None`, missing, hashes as null).
pub fn hash64(value: Option<&Bson>) -> i64 {
    let mut md5 = Md5::new();
    md5.update(SEED.to_le_bytes());
    element(&mut md5, value.unwrap_or(&Bson::Null));
    let digest = md5.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_le_bytes(first)
}

/// The int64 a number hashes as (`safeNumberLongForHash`).
fn number_for_hash(value: &Bson) -> Option<i64> {
    Some(match value {
        Bson::Int32(n) => i64::from(*n),
        Bson::Int64(n) => *n,
        Bson::Double(x) if *x == TWO_POW_63 => i64::MIN,
        Bson::Double(x) if x.is_nan() => 0,
        // `as` truncates toward zero and saturates, as safeNumberLong does.
        Bson::Double(x) => *x as i64,
        Bson::Decimal128(d) => decimal_to_i64(&d.bytes()),
        _ => return None,
    })
}

/// An element without a name: its canonical type, then its contents.
fn element(md5: &mut Md5, value: &Bson) {
    md5.update(rank(Some(value)).to_le_bytes());
    contents(md5, value);
}

/// A value after its type (and name): a number's int64, the elements of an
/// embedded document or array, or a scalar's BSON value bytes.
fn contents(md5: &mut Md5, value: &Bson) {
    if let Some(n) = number_for_hash(value) {
        md5.update(n.to_le_bytes());
        return;
    }
    match value {
        Bson::Document(doc) => fields(md5, doc),
        Bson::Array(items) => {
            let doc: Document = items
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v.clone()))
                .collect();
            fields(md5, &doc);
        }
        Bson::JavaScriptCodeWithScope(code) => {
            md5.update((code.code.len() as i32 + 1).to_le_bytes());
            md5.update(code.code.as_bytes());
            md5.update([0]);
            fields(md5, &code.scope);
        }
        other => md5.update(value_bytes(other)),
    }
}

/// Each field (type, name and its NUL, contents), then the end marker's
/// type (0; it has no name and no value).
fn fields(md5: &mut Md5, doc: &Document) {
    for (name, value) in doc {
        md5.update(rank(Some(value)).to_le_bytes());
        md5.update(name.as_bytes());
        md5.update([0]);
        contents(md5, value);
    }
    md5.update(0i32.to_le_bytes());
}

/// A scalar's value bytes as BSON encodes them (after the type and name).
fn value_bytes(value: &Bson) -> Vec<u8> {
    let mut bytes = Vec::new();
    let doc = bson::doc! { "": value.clone() };
    if doc.to_writer(&mut bytes).is_err() || bytes.len() < 4 + 2 + 1 {
        return Vec::new();
    }
    // int32 size, type byte, "" and its NUL, the value, the document's NUL.
    bytes[6..bytes.len() - 1].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{Decimal128, doc, oid::ObjectId};
    use std::str::FromStr;

    fn hash(value: Bson) -> i64 {
        hash64(Some(&value))
    }

    #[test]
    fn the_servers_own_values() {
        // hasher.cpp's startup test: BSON("check" << 42), seed 0.
        assert_eq!(hash(Bson::Int32(42)), -944302157085130861);
        // The $toHashedIndexKey documentation's example.
        assert_eq!(
            hash(Bson::String("string to hash".into())),
            763543691661428748
        );
    }

    #[test]
    fn numbers_hash_by_their_int64_value() {
        let one = hash(Bson::Int32(1));
        assert_eq!(hash(Bson::Int64(1)), one);
        assert_eq!(hash(Bson::Double(1.0)), one);
        assert_eq!(hash(Bson::Double(1.9)), one);
        assert_eq!(
            hash(Bson::Decimal128(Decimal128::from_str("1.0").unwrap())),
            one
        );
        assert_eq!(
            hash(Bson::Decimal128(Decimal128::from_str("0.5").unwrap())),
            hash(Bson::Int32(0))
        );
        assert_eq!(
            hash(Bson::Decimal128(Decimal128::from_str("1.5").unwrap())),
            hash(Bson::Int32(2))
        );
        assert_eq!(hash(Bson::Double(f64::NAN)), hash(Bson::Int32(0)));
        assert_eq!(hash(Bson::Double(-0.0)), hash(Bson::Int32(0)));
        assert_eq!(hash(Bson::Double(TWO_POW_63)), hash(Bson::Int64(i64::MIN)));
        assert_eq!(hash(Bson::Double(1e300)), hash(Bson::Int64(i64::MAX)));
        assert_ne!(one, hash(Bson::Int32(2)));
        assert_ne!(one, hash(Bson::String("1".into())));
    }

    #[test]
    fn missing_hashes_as_null_and_documents_by_their_fields() {
        assert_eq!(hash64(None), hash(Bson::Null));
        // Field values normalise like top-level numbers; names and order count.
        assert_eq!(
            hash(Bson::Document(doc! {"a": 1})),
            hash(Bson::Document(doc! {"a": 1.0}))
        );
        assert_ne!(
            hash(Bson::Document(doc! {"a": 1})),
            hash(Bson::Document(doc! {"b": 1}))
        );
        assert_ne!(
            hash(Bson::Document(doc! {"a": 1, "b": 2})),
            hash(Bson::Document(doc! {"b": 2, "a": 1}))
        );
    }

    /// Values computed apart from this code (Python's hashlib over the byte
    /// layout hasher.cpp hashes); null's is the key hashed indexes store for
    /// a missing field, which the server's jstests pin too.
    #[test]
    fn values_of_each_kind() {
        assert_eq!(hash(Bson::Null), 2338878944348059895);
        assert_eq!(hash(Bson::Boolean(true)), 6405873908747105701);
        let id = ObjectId::parse_str("5f1d7a0f9e8b7c6d5e4f3a2b").unwrap();
        assert_eq!(hash(Bson::ObjectId(id)), 2363312714893332538);
        assert_eq!(hash(Bson::Document(doc! {"a": 1})), -8705610352600103477);
        assert_eq!(
            hash(Bson::Array(vec![Bson::Int32(1), Bson::String("x".into())])),
            -742281735505931280
        );
    }
}
