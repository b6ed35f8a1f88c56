//! How aggregation compares and tests values (the server's `Value::compare`
//! and `Value::coerceToBool`).
//!
//! Unlike the query language, aggregation has a *missing* value (`None`
//! here): a field that is absent. Missing sorts with `undefined`, below
//! `null`, so `{$eq: ["$absent", null]}` is false.

use super::number;
use bson::{Bson, Document};
use std::cmp::Ordering;

/// The server's canonical type order (`canonicalizeBSONType`).
pub fn rank(value: Option<&Bson>) -> i32 {
    let Some(value) = value else { return 0 };
    match value {
        Bson::MinKey => -1,
        Bson::Undefined => 0,
        Bson::Null => 5,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => 10,
        Bson::String(_) | Bson::Symbol(_) => 15,
        Bson::Document(_) => 20,
        Bson::Array(_) => 25,
        Bson::Binary(_) => 30,
        Bson::ObjectId(_) => 35,
        Bson::Boolean(_) => 40,
        Bson::DateTime(_) => 45,
        Bson::Timestamp(_) => 47,
        Bson::RegularExpression(_) => 50,
        Bson::DbPointer(_) => 55,
        Bson::JavaScriptCode(_) => 60,
        Bson::JavaScriptCodeWithScope(_) => 65,
        Bson::MaxKey => 127,
    }
}

/// Compares two values (missing as `None`) in the server's order.
pub fn compare(a: Option<&Bson>, b: Option<&Bson>) -> Ordering {
    let by_rank = rank(a).cmp(&rank(b));
    if by_rank != Ordering::Equal {
        return by_rank;
    }
    let (Some(a), Some(b)) = (a, b) else {
        return Ordering::Equal;
    };
    if let Some(order) = number::compare(a, b) {
        return order;
    }
    match (a, b) {
        (Bson::String(x) | Bson::Symbol(x), Bson::String(y) | Bson::Symbol(y)) => {
            x.as_bytes().cmp(y.as_bytes())
        }
        (Bson::Document(x), Bson::Document(y)) => compare_documents(x, y),
        (Bson::Array(x), Bson::Array(y)) => x
            .iter()
            .zip(y)
            .map(|(l, r)| compare(Some(l), Some(r)))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| x.len().cmp(&y.len())),
        (Bson::Binary(x), Bson::Binary(y)) => x
            .bytes
            .len()
            .cmp(&y.bytes.len())
            .then_with(|| u8::from(x.subtype).cmp(&u8::from(y.subtype)))
            .then_with(|| x.bytes.cmp(&y.bytes)),
        (Bson::ObjectId(x), Bson::ObjectId(y)) => x.bytes().cmp(&y.bytes()),
        (Bson::Boolean(x), Bson::Boolean(y)) => x.cmp(y),
        (Bson::DateTime(x), Bson::DateTime(y)) => x.timestamp_millis().cmp(&y.timestamp_millis()),
        (Bson::Timestamp(x), Bson::Timestamp(y)) => {
            (x.time, x.increment).cmp(&(y.time, y.increment))
        }
        (Bson::RegularExpression(x), Bson::RegularExpression(y)) => x
            .pattern
            .as_bytes()
            .cmp(y.pattern.as_bytes())
            .then_with(|| x.options.as_bytes().cmp(y.options.as_bytes())),
        (Bson::DbPointer(_), Bson::DbPointer(_)) => {
            // The server compares the namespaces' lengths, then the ObjectIds.
            let (ns_a, id_a) = db_pointer(a);
            let (ns_b, id_b) = db_pointer(b);
            ns_a.len().cmp(&ns_b.len()).then_with(|| id_a.cmp(&id_b))
        }
        (Bson::JavaScriptCode(x), Bson::JavaScriptCode(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Bson::JavaScriptCodeWithScope(x), Bson::JavaScriptCodeWithScope(y)) => x
            .code
            .as_bytes()
            .cmp(y.code.as_bytes())
            .then_with(|| compare_documents(&x.scope, &y.scope)),
        // null, undefined, MinKey, MaxKey: one value per type.
        _ => Ordering::Equal,
    }
}

/// Field by field: type rank, then name, then value; a prefix sorts first.
fn compare_documents(a: &Document, b: &Document) -> Ordering {
    let mut left = a.iter();
    let mut right = b.iter();
    loop {
        let ((ka, va), (kb, vb)) = match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(l), Some(r)) => (l, r),
        };
        let order = rank(Some(va))
            .cmp(&rank(Some(vb)))
            .then_with(|| ka.as_bytes().cmp(kb.as_bytes()))
            .then_with(|| compare(Some(va), Some(vb)));
        if order.is_ne() {
            return order;
        }
    }
}

/// A DBPointer's namespace and ObjectId, read from its BSON encoding
/// (the `bson` crate keeps them private).
fn db_pointer(value: &Bson) -> (Vec<u8>, Vec<u8>) {
    let mut bytes = Vec::new();
    let doc = bson::doc! { "p": value.clone() };
    if doc.to_writer(&mut bytes).is_err() || bytes.len() < 4 + 3 + 4 + 12 + 1 {
        return (Vec::new(), Vec::new());
    }
    // int32 size, type byte, "p\0", int32 string size, namespace\0, 12-byte id, \0.
    let body = &bytes[7..bytes.len() - 1];
    let len = i32::from_le_bytes([body[0], body[1], body[2], body[3]]).max(1) as usize;
    let ns_end = (4 + len - 1).min(body.len());
    let id_start = (4 + len).min(body.len());
    (body[4..ns_end].to_vec(), body[id_start..].to_vec())
}

/// Aggregation truthiness: missing, null, undefined, false and zero of any
/// numeric type are false; everything else (`""`, `[]`, `{}`, NaN) is true.
pub fn truthy(value: Option<&Bson>) -> bool {
    match value {
        None | Some(Bson::Null | Bson::Undefined) => false,
        Some(Bson::Boolean(b)) => *b,
        Some(n @ (Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_))) => {
            !number::is_zero(n)
        }
        Some(_) => true,
    }
}

/// Missing, null or undefined (the server's `Value::nullish`).
pub fn nullish(value: Option<&Bson>) -> bool {
    matches!(value, None | Some(Bson::Null | Bson::Undefined))
}

/// The server's `typeName`, `missing` for an absent value.
pub fn type_name(value: Option<&Bson>) -> &'static str {
    value.map_or("missing", crate::indexes::display::type_name)
}
