//! MongoDB's order of BSON values, across types.
//!
//! Values of different types compare by a canonical type rank (MinKey <
//! null < numbers < strings < documents < arrays < binary < ObjectId <
//! booleans < dates < timestamps < regexes < MaxKey); numbers of every width
//! compare by exact value, so `1`, `NumberLong(1)`, `1.0` and
//! `NumberDecimal("1.0")` are equal while `NumberLong(2^53 + 1)` is not `2^53` as a double.

use super::decimal::Decimal;
use bson::RawBsonRef;
use bson::raw::{RawArray, RawDocument};
use std::cmp::Ordering;

/// The canonical type rank of a value; values of equal rank are comparable.
pub fn type_rank(value: RawBsonRef<'_>) -> u8 {
    match value {
        RawBsonRef::MinKey => 0,
        RawBsonRef::Undefined => 1,
        RawBsonRef::Null => 2,
        RawBsonRef::Int32(_)
        | RawBsonRef::Int64(_)
        | RawBsonRef::Double(_)
        | RawBsonRef::Decimal128(_) => 3,
        RawBsonRef::String(_) | RawBsonRef::Symbol(_) => 4,
        RawBsonRef::Document(_) => 5,
        RawBsonRef::Array(_) => 6,
        RawBsonRef::Binary(_) => 7,
        RawBsonRef::ObjectId(_) => 8,
        RawBsonRef::Boolean(_) => 9,
        RawBsonRef::DateTime(_) => 10,
        RawBsonRef::Timestamp(_) => 11,
        RawBsonRef::RegularExpression(_) => 12,
        RawBsonRef::DbPointer(_) => 13,
        RawBsonRef::JavaScriptCode(_) => 14,
        RawBsonRef::JavaScriptCodeWithScope(_) => 15,
        RawBsonRef::MaxKey => 16,
    }
}

/// Compares two values in MongoDB's order.
pub fn compare(a: RawBsonRef<'_>, b: RawBsonRef<'_>) -> Ordering {
    let rank = type_rank(a).cmp(&type_rank(b));
    if rank != Ordering::Equal {
        return rank;
    }
    use RawBsonRef as V;
    match (a, b) {
        (V::String(x) | V::Symbol(x), V::String(y) | V::Symbol(y)) => {
            x.as_bytes().cmp(y.as_bytes())
        }
        (V::Document(x), V::Document(y)) => compare_documents(x, y),
        (V::Array(x), V::Array(y)) => compare_arrays(x, y),
        (V::Binary(x), V::Binary(y)) => x
            .bytes
            .len()
            .cmp(&y.bytes.len())
            .then_with(|| u8::from(x.subtype).cmp(&u8::from(y.subtype)))
            .then_with(|| x.bytes.cmp(y.bytes)),
        (V::ObjectId(x), V::ObjectId(y)) => x.bytes().cmp(&y.bytes()),
        (V::Boolean(x), V::Boolean(y)) => x.cmp(&y),
        (V::DateTime(x), V::DateTime(y)) => x.timestamp_millis().cmp(&y.timestamp_millis()),
        (V::Timestamp(x), V::Timestamp(y)) => (x.time, x.increment).cmp(&(y.time, y.increment)),
        (V::RegularExpression(x), V::RegularExpression(y)) => x
            .pattern
            .cmp(y.pattern)
            .then_with(|| x.options.cmp(y.options)),
        (V::JavaScriptCode(x), V::JavaScriptCode(y)) => x.cmp(y),
        (V::JavaScriptCodeWithScope(x), V::JavaScriptCodeWithScope(y)) => x
            .code
            .cmp(y.code)
            .then_with(|| compare_documents(x.scope, y.scope)),
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) => compare_numbers(x, y),
            // MinKey, MaxKey, null, undefined, DBPointer: one value per rank.
            _ => Ordering::Equal,
        },
    }
}

/// Element by element: type rank, then field name, then value; a prefix sorts first.
fn compare_documents(a: &RawDocument, b: &RawDocument) -> Ordering {
    let mut left = a.iter();
    let mut right = b.iter();
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(Ok((ka, va))), Some(Ok((kb, vb)))) => {
                let order = type_rank(va)
                    .cmp(&type_rank(vb))
                    .then_with(|| ka.as_bytes().cmp(kb.as_bytes()))
                    .then_with(|| compare(va, vb));
                if order != Ordering::Equal {
                    return order;
                }
            }
            // Malformed BSON cannot reach here: events are validated when parsed.
            _ => return Ordering::Equal,
        }
    }
}

fn compare_arrays(a: &RawArray, b: &RawArray) -> Ordering {
    let mut left = a.into_iter();
    let mut right = b.into_iter();
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(Ok(x)), Some(Ok(y))) => {
                let order = compare(x, y);
                if order != Ordering::Equal {
                    return order;
                }
            }
            _ => return Ordering::Equal,
        }
    }
}

/// A numeric value, kept in its own width so that comparisons are exact.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Number {
    Int(i64),
    Float(f64),
    Decimal(Decimal),
}

impl Number {
    pub(crate) fn is_nan(self) -> bool {
        match self {
            Self::Int(_) => false,
            Self::Float(x) => x.is_nan(),
            Self::Decimal(d) => d.is_nan(),
        }
    }
}

pub(crate) fn number(value: RawBsonRef<'_>) -> Option<Number> {
    Some(match value {
        RawBsonRef::Int32(n) => Number::Int(n.into()),
        RawBsonRef::Int64(n) => Number::Int(n),
        RawBsonRef::Double(x) => Number::Float(x),
        RawBsonRef::Decimal128(d) => Number::Decimal(Decimal::from_bytes(&d.bytes())),
        _ => return None,
    })
}

/// Compares numbers by exact value; NaN equals NaN and sorts below every other number, as in MongoDB.
pub(crate) fn compare_numbers(a: Number, b: Number) -> Ordering {
    use Number::{Decimal as D, Float, Int};
    match (a, b) {
        (Int(x), Int(y)) => x.cmp(&y),
        (Float(x), Float(y)) => compare_floats(x, y),
        (Int(x), Float(y)) => compare_int_float(x, y),
        (Float(x), Int(y)) => compare_int_float(y, x).reverse(),
        (D(x), D(y)) => x.compare(y),
        (D(x), Int(y)) => x.compare(Decimal::from_i64(y)),
        (Int(x), D(y)) => Decimal::from_i64(x).compare(y),
        (D(x), Float(y)) => x.compare_f64(y),
        (Float(x), D(y)) => y.compare_f64(x).reverse(),
    }
}

fn compare_floats(x: f64, y: f64) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        // -0.0 == 0.0 here, as in MongoDB.
        (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
    }
}

/// Exact comparison of an i64 with an f64 (casting either way can round).
fn compare_int_float(i: i64, f: f64) -> Ordering {
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() {
        return Ordering::Greater;
    }
    if f >= TWO_POW_63 {
        return Ordering::Less;
    }
    if f < -TWO_POW_63 {
        return Ordering::Greater;
    }
    let whole = f.trunc();
    // In range, so the cast is exact.
    match i.cmp(&(whole as i64)) {
        Ordering::Equal => compare_floats(0.0, f - whole),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{Bson, Decimal128, RawBson, doc};
    use std::str::FromStr;

    fn raw(b: Bson) -> RawBson {
        RawBson::try_from(b).unwrap()
    }

    fn cmp(a: Bson, b: Bson) -> Ordering {
        compare(raw(a).as_raw_bson_ref(), raw(b).as_raw_bson_ref())
    }

    #[test]
    fn numbers_compare_by_value_across_widths() {
        assert_eq!(cmp(Bson::Int32(1), Bson::Double(1.0)), Ordering::Equal);
        assert_eq!(cmp(Bson::Int64(1), Bson::Int32(1)), Ordering::Equal);
        assert_eq!(
            cmp(Bson::Int64(i64::MAX), Bson::Double(9.3e18)),
            Ordering::Less
        );
        assert_eq!(cmp(Bson::Int64(3), Bson::Double(2.5)), Ordering::Greater);
        assert_eq!(cmp(Bson::Int64(-3), Bson::Double(-2.5)), Ordering::Less);
        assert_eq!(
            cmp(Bson::Double(f64::NAN), Bson::Int32(i32::MIN)),
            Ordering::Less
        );
        let dec = Bson::Decimal128(Decimal128::from_str("1.5").unwrap());
        assert_eq!(cmp(dec.clone(), Bson::Double(1.5)), Ordering::Equal);
        assert_eq!(cmp(dec, Bson::Int32(2)), Ordering::Less);
        let tenth = Bson::Decimal128(Decimal128::from_str("0.1").unwrap());
        assert_eq!(
            cmp(tenth, Bson::Double(0.1)),
            Ordering::Less,
            "0.1 as a double is 0.1000000000000000055..."
        );
    }

    #[test]
    fn types_order_by_rank() {
        let ladder = [
            Bson::MinKey,
            Bson::Null,
            Bson::Int32(100),
            Bson::String("a".into()),
            Bson::Document(doc! {}),
            Bson::Array(vec![]),
            Bson::Boolean(false),
            Bson::DateTime(bson::DateTime::from_millis(0)),
            Bson::MaxKey,
        ];
        for pair in ladder.windows(2) {
            assert_eq!(
                cmp(pair[0].clone(), pair[1].clone()),
                Ordering::Less,
                "{pair:?}"
            );
        }
    }

    #[test]
    fn documents_compare_field_by_field() {
        let a = Bson::Document(doc! {"a": 1, "b": 2});
        let b = Bson::Document(doc! {"a": 1, "b": 3});
        let prefix = Bson::Document(doc! {"a": 1});
        assert_eq!(cmp(a.clone(), b), Ordering::Less);
        assert_eq!(cmp(prefix, a), Ordering::Less);
    }
}
