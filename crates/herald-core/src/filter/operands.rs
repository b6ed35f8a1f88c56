//! Reading operator operands (`$in: [...]`, `$size: 2`, `$type: [...]`), refusing what the server refuses.

use super::FilterError;
use super::decimal::Decimal;
use super::eval::InItem;
use super::pattern::Pattern;
use super::types::TypeSelector;
use bson::{Bson, Document, RawBson, Regex as BsonRegex};

pub(super) fn error(at: &str, message: impl Into<String>) -> FilterError {
    FilterError {
        at: if at.is_empty() {
            "<filter>".into()
        } else {
            at.to_owned()
        },
        message: message.into(),
    }
}

pub(super) fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

/// A document whose first key is an operator is an operator document, as in
/// the server; a DBRef (`{$ref, $id, ...}`) is a value.
pub(super) fn is_operator_document(doc: &Document) -> bool {
    let dbref = doc.contains_key("$ref") && doc.contains_key("$id");
    !dbref && doc.keys().next().is_some_and(|k| k.starts_with('$'))
}

/// The operand of `$eq`, `$gt`, ...: any value but `undefined`.
pub(super) fn comparand(value: &Bson, at: &str) -> Result<RawBson, FilterError> {
    if matches!(value, Bson::Undefined) {
        return Err(error(
            at,
            "cannot compare to undefined; compare to null instead",
        ));
    }
    RawBson::try_from(value.clone())
        .map_err(|e| error(at, format!("value cannot be encoded as BSON: {e}")))
}

/// A compiled regular expression; the message names what to fix.
pub(super) fn pattern(re: &BsonRegex, at: &str) -> Result<Box<Pattern>, FilterError> {
    Pattern::compile(&re.pattern, &re.options)
        .map(Box::new)
        .map_err(|message| error(at, message))
}

fn decimal(value: &Bson) -> Option<Decimal> {
    match value {
        Bson::Decimal128(d) => Some(Decimal::from_bytes(&d.bytes())),
        _ => None,
    }
}

/// BSON truthiness, as `$exists` reads its operand.
pub(super) fn truthy(value: &Bson) -> bool {
    match value {
        Bson::Boolean(b) => *b,
        Bson::Int32(n) => *n != 0,
        Bson::Int64(n) => *n != 0,
        Bson::Double(x) => *x != 0.0,
        Bson::Decimal128(_) => !decimal(value).is_some_and(Decimal::is_zero),
        Bson::Null | Bson::Undefined => false,
        _ => true,
    }
}

/// The items of `$in` / `$nin`.
pub(super) fn in_items(value: &Bson, at: &str, op: &str) -> Result<Vec<InItem>, FilterError> {
    let Bson::Array(items) = value else {
        return Err(error(at, format!("{op} needs an array")));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let here = join(at, &i.to_string());
            match item {
                Bson::RegularExpression(re) => Ok(InItem::Regex(pattern(re, &here)?)),
                // DBRefs are values; any other `$` document is refused, as on the server.
                Bson::Document(d) if is_operator_document(d) => {
                    Err(error(&here, format!("{op} cannot contain operators")))
                }
                other => Ok(InItem::Value(comparand(other, &here)?)),
            }
        })
        .collect()
}

/// An integral number as the server reads `$type` codes: whole doubles and decimals count.
fn integral(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(x) if x.fract() == 0.0 && x.abs() < 9.2e18 => Some(*x as i64),
        Bson::Decimal128(_) => {
            let d = decimal(value)?;
            let whole = d.trunc_to_i64()?;
            (d.compare(Decimal::from_i64(whole)).is_eq()).then_some(whole)
        }
        _ => None,
    }
}

/// The operand of `$type`: one alias or code, or a non-empty array of them.
pub(super) fn type_selectors(value: &Bson, at: &str) -> Result<Vec<TypeSelector>, FilterError> {
    let one = |v: &Bson| -> Result<TypeSelector, FilterError> {
        let selector = match v {
            Bson::String(alias) => TypeSelector::from_alias(alias),
            number => integral(number).and_then(TypeSelector::from_code),
        };
        selector.ok_or_else(|| {
            error(
                at,
                format!("unknown BSON type {v} for $type; use a type name such as \"string\", \"number\", \"date\""),
            )
        })
    };
    match value {
        Bson::Array(items) if items.is_empty() => Err(error(at, "$type needs at least one type")),
        Bson::Array(items) => items.iter().map(one).collect(),
        single => Ok(vec![one(single)?]),
    }
}

/// The operand of `$size`: a whole number that fits in 32 bits, not negative (a decimal is refused, as on the server).
pub(super) fn size(value: &Bson, at: &str) -> Result<usize, FilterError> {
    let n = match value {
        Bson::Int32(n) => i64::from(*n),
        Bson::Int64(n) => *n,
        Bson::Double(x) if x.fract() == 0.0 => *x as i64,
        Bson::Double(_) => return Err(error(at, "$size must be a whole number")),
        _ => return Err(error(at, "$size needs a number")),
    };
    if i32::try_from(n).is_err() {
        return Err(error(at, "$size must be representable as a 32-bit integer"));
    }
    usize::try_from(n).map_err(|_| {
        error(
            at,
            "$size may not be negative; use a non-negative whole number",
        )
    })
}

/// The operand of `$mod`: `[divisor, remainder]`, each truncated toward zero to a long.
pub(super) fn modulo(value: &Bson, at: &str) -> Result<(i64, i64), FilterError> {
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    let whole = |v: &Bson| match v {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(x) if x.is_finite() && (-TWO_POW_63..TWO_POW_63).contains(&x.trunc()) => {
            Some(x.trunc() as i64)
        }
        Bson::Decimal128(_) => decimal(v)?.trunc_to_i64(),
        _ => None,
    };
    match value {
        Bson::Array(pair) if pair.len() == 2 => match (whole(&pair[0]), whole(&pair[1])) {
            (Some(0), _) => Err(error(at, "$mod divisor cannot be 0")),
            (Some(d), Some(r)) => Ok((d, r)),
            _ => Err(error(
                at,
                "$mod needs two finite numbers that fit in a long: [divisor, remainder]",
            )),
        },
        _ => Err(error(at, "$mod needs an array [divisor, remainder]")),
    }
}
