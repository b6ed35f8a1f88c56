//! BSON values as Rhai values, and back.
//!
//! | BSON | Rhai |
//! |---|---|
//! | string, symbol | string |
//! | int32, int64 | integer |
//! | double | float |
//! | decimal128 | decimal (exact arithmetic), or its string if out of range |
//! | bool, null | bool, `()` |
//! | document, array | object map, array |
//! | ObjectId | `ObjectId`: `to_string()`, `==`, `.timestamp` |
//! | date | `DateTime`: `to_string()` (RFC 3339), comparisons, `.millis` |
//! | timestamp | `Timestamp`: `.t`, `.i`, comparisons |
//! | binary | blob |
//!
//! Back to BSON, integers that fit 32 bits become int32 (as most drivers do),
//! larger ones int64.

use bson::raw::{RawArray, RawBsonRef, RawDocument};
use bson::{Binary, Bson, Decimal128, Document, oid::ObjectId, spec::BinarySubtype};
use rhai::{Array, Blob, Dynamic, Engine, EvalAltResult, ImmutableString, Map};
use rust_decimal::Decimal;
use std::cmp::Ordering;
use std::str::FromStr;

/// A BSON ObjectId inside Rhai.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RhaiObjectId(pub ObjectId);

/// A BSON date inside Rhai (milliseconds since the Unix epoch, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RhaiDateTime(pub bson::DateTime);

/// A BSON timestamp (`clusterTime`) inside Rhai.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RhaiTimestamp(pub bson::Timestamp);

impl RhaiTimestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.0.time, self.0.increment).cmp(&(other.0.time, other.0.increment))
    }
}

fn date_string(d: &RhaiDateTime) -> String {
    d.0.try_to_rfc3339_string()
        .unwrap_or_else(|_| format!("Date({})", d.0.timestamp_millis()))
}

/// Registers the BSON types and their functions on a Rhai engine.
pub fn register_types(engine: &mut Engine) {
    engine
        .register_type_with_name::<RhaiObjectId>("ObjectId")
        .register_fn("to_string", |o: &mut RhaiObjectId| o.0.to_hex())
        .register_fn("to_debug", |o: &mut RhaiObjectId| {
            format!("ObjectId(\"{}\")", o.0.to_hex())
        })
        .register_fn("==", |a: RhaiObjectId, b: RhaiObjectId| a == b)
        .register_fn("!=", |a: RhaiObjectId, b: RhaiObjectId| a != b)
        .register_fn("==", |a: RhaiObjectId, b: ImmutableString| {
            a.0.to_hex() == b.as_str()
        })
        .register_fn("==", |a: ImmutableString, b: RhaiObjectId| {
            b.0.to_hex() == a.as_str()
        })
        .register_get("timestamp", |o: &mut RhaiObjectId| {
            RhaiDateTime(o.0.timestamp())
        })
        .register_fn(
            "object_id",
            |hex: &str| -> Result<RhaiObjectId, Box<rhai::EvalAltResult>> {
                ObjectId::parse_str(hex)
                    .map(RhaiObjectId)
                    .map_err(|e| format!("object_id({hex:?}): {e}").into())
            },
        );

    engine
        .register_type_with_name::<RhaiDateTime>("DateTime")
        .register_fn("to_string", |d: &mut RhaiDateTime| date_string(d))
        .register_fn("to_debug", |d: &mut RhaiDateTime| {
            format!("DateTime({})", date_string(d))
        })
        .register_get("millis", |d: &mut RhaiDateTime| d.0.timestamp_millis())
        .register_fn("==", |a: RhaiDateTime, b: RhaiDateTime| a == b)
        .register_fn("!=", |a: RhaiDateTime, b: RhaiDateTime| a != b)
        .register_fn("<", |a: RhaiDateTime, b: RhaiDateTime| a < b)
        .register_fn("<=", |a: RhaiDateTime, b: RhaiDateTime| a <= b)
        .register_fn(">", |a: RhaiDateTime, b: RhaiDateTime| a > b)
        .register_fn(">=", |a: RhaiDateTime, b: RhaiDateTime| a >= b)
        .register_fn("-", |a: RhaiDateTime, b: RhaiDateTime| {
            a.0.timestamp_millis() - b.0.timestamp_millis()
        })
        .register_fn("add_millis", |a: RhaiDateTime, ms: i64| {
            RhaiDateTime(bson::DateTime::from_millis(
                a.0.timestamp_millis().saturating_add(ms),
            ))
        })
        .register_fn(
            "date",
            |text: &str| -> Result<RhaiDateTime, Box<rhai::EvalAltResult>> {
                bson::DateTime::parse_rfc3339_str(text)
                    .map(RhaiDateTime)
                    .map_err(|e| format!("date({text:?}): {e}").into())
            },
        )
        .register_fn("date_from_millis", |ms: i64| {
            RhaiDateTime(bson::DateTime::from_millis(ms))
        });

    register_decimal_float(engine);

    engine
        .register_type_with_name::<RhaiTimestamp>("Timestamp")
        .register_fn("to_string", |t: &mut RhaiTimestamp| {
            format!("Timestamp({}, {})", t.0.time, t.0.increment)
        })
        .register_fn("to_debug", |t: &mut RhaiTimestamp| {
            format!("Timestamp({}, {})", t.0.time, t.0.increment)
        })
        .register_get("t", |t: &mut RhaiTimestamp| i64::from(t.0.time))
        .register_get("i", |t: &mut RhaiTimestamp| i64::from(t.0.increment))
        .register_fn("==", |a: RhaiTimestamp, b: RhaiTimestamp| a == b)
        .register_fn("!=", |a: RhaiTimestamp, b: RhaiTimestamp| a != b)
        .register_fn("<", |a: RhaiTimestamp, b: RhaiTimestamp| a.cmp(&b).is_lt())
        .register_fn(">", |a: RhaiTimestamp, b: RhaiTimestamp| a.cmp(&b).is_gt());
}

/// Rhai has decimal⇄integer operators but none between decimals and floats;
/// BSON documents mix them freely: they compare through f64, and compute as
/// decimals (`+ - * / %`, `min`, `max`). `**` and float functions need a
/// float: `to_float()`.
fn register_decimal_float(engine: &mut Engine) {
    use rust_decimal::prelude::ToPrimitive;
    fn f(d: Decimal) -> f64 {
        d.to_f64().unwrap_or(f64::NAN)
    }
    macro_rules! both_ways {
        ($($op:literal => $e:expr),*) => {$(
            engine.register_fn($op, |a: Decimal, b: f64| $e(f(a), b));
            engine.register_fn($op, |a: f64, b: Decimal| $e(a, f(b)));
        )*};
    }
    both_ways!(
        "<" => |a: f64, b: f64| a < b,
        "<=" => |a: f64, b: f64| a <= b,
        ">" => |a: f64, b: f64| a > b,
        ">=" => |a: f64, b: f64| a >= b,
        "==" => |a: f64, b: f64| a == b,
        "!=" => |a: f64, b: f64| a != b
    );
    // Arithmetic keeps decimals exact: the float becomes the decimal it is
    // written as (`0.1` is 0.1), so `amount + 0.2` stays a decimal.
    type Checked = fn(Decimal, Decimal) -> Option<Decimal>;
    for (op, checked) in [
        ("+", Decimal::checked_add as Checked),
        ("-", Decimal::checked_sub),
        ("*", Decimal::checked_mul),
        ("/", Decimal::checked_div),
        ("%", Decimal::checked_rem),
        ("min", |a: Decimal, b: Decimal| Some(a.min(b))),
        ("max", |a: Decimal, b: Decimal| Some(a.max(b))),
    ] {
        engine.register_fn(
            op,
            move |a: Decimal, b: f64| -> Result<Decimal, Box<EvalAltResult>> {
                checked(a, float_as_decimal(b)?).ok_or_else(|| decimal_overflow(op))
            },
        );
        engine.register_fn(
            op,
            move |a: f64, b: Decimal| -> Result<Decimal, Box<EvalAltResult>> {
                checked(float_as_decimal(a)?, b).ok_or_else(|| decimal_overflow(op))
            },
        );
    }
}

/// The decimal a float is written as (its shortest round-trip text); an
/// error for what a decimal cannot hold (NaN, infinities, beyond ±7.9e28,
/// or so small it would round to zero).
fn float_as_decimal(x: f64) -> Result<Decimal, Box<EvalAltResult>> {
    if !x.is_finite() {
        return Err(format!("{x} cannot be used in decimal arithmetic").into());
    }
    let text = x.to_string();
    let decimal = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("{text} is out of a decimal's range (±7.9e28); convert the decimal with to_float() to mix them"))?;
    if decimal.is_zero() && x != 0.0 {
        return Err(format!(
            "{text} is too small for a decimal (28 digits after the point); convert the decimal with to_float() to mix them"
        )
        .into());
    }
    Ok(decimal)
}

fn decimal_overflow(op: &str) -> Box<EvalAltResult> {
    format!("decimal arithmetic `{op}` overflowed or divided by zero").into()
}

/// Converts a raw BSON value to a Rhai value.
pub fn raw_to_dynamic(value: RawBsonRef<'_>) -> Dynamic {
    match value {
        RawBsonRef::String(s) | RawBsonRef::Symbol(s) => s.into(),
        RawBsonRef::Int32(n) => Dynamic::from_int(n.into()),
        RawBsonRef::Int64(n) => Dynamic::from_int(n),
        RawBsonRef::Double(x) => Dynamic::from_float(x),
        RawBsonRef::Decimal128(d) => decimal_to_dynamic(&d),
        RawBsonRef::Boolean(b) => Dynamic::from_bool(b),
        RawBsonRef::Null | RawBsonRef::Undefined => Dynamic::UNIT,
        RawBsonRef::Document(doc) => Dynamic::from_map(raw_document_to_map(doc)),
        RawBsonRef::Array(arr) => Dynamic::from_array(raw_array_to_vec(arr)),
        RawBsonRef::ObjectId(oid) => Dynamic::from(RhaiObjectId(oid)),
        RawBsonRef::DateTime(d) => Dynamic::from(RhaiDateTime(d)),
        RawBsonRef::Timestamp(t) => Dynamic::from(RhaiTimestamp(t)),
        RawBsonRef::Binary(b) => Dynamic::from_blob(b.bytes.to_vec()),
        RawBsonRef::RegularExpression(re) => format!("/{}/{}", re.pattern, re.options).into(),
        RawBsonRef::JavaScriptCode(code) => code.into(),
        RawBsonRef::JavaScriptCodeWithScope(c) => c.code.into(),
        RawBsonRef::MinKey => "MinKey".into(),
        RawBsonRef::MaxKey => "MaxKey".into(),
        RawBsonRef::DbPointer(_) => "DBPointer".into(),
    }
}

fn decimal_to_dynamic(d: &Decimal128) -> Dynamic {
    // The usual amounts convert without going through text.
    if let Some((negative, coefficient, exponent)) = herald_core::decimal::parts(&d.bytes())
        && (-28..=0).contains(&exponent)
        && coefficient > 0
        && let Ok(mut signed) = i128::try_from(coefficient)
    {
        if negative {
            signed = -signed;
        }
        if let Ok(dec) = Decimal::try_from_i128_with_scale(signed, exponent.unsigned_abs()) {
            return Dynamic::from_decimal(dec);
        }
    }
    let text = d.to_string();
    match Decimal::from_str(&text).or_else(|_| Decimal::from_scientific(&text)) {
        Ok(dec) => Dynamic::from_decimal(dec),
        Err(_) => text.into(),
    }
}

/// Converts a raw document to a Rhai object map.
pub fn raw_document_to_map(doc: &RawDocument) -> Map {
    doc.iter()
        .flatten()
        .map(|(k, v)| (k.into(), raw_to_dynamic(v)))
        .collect()
}

fn raw_array_to_vec(arr: &RawArray) -> Array {
    arr.into_iter().flatten().map(raw_to_dynamic).collect()
}

/// Converts an owned BSON value to a Rhai value.
pub fn bson_to_dynamic(value: &Bson) -> Dynamic {
    match bson::RawBson::try_from(value.clone()) {
        Ok(raw) => raw_to_dynamic(raw.as_raw_bson_ref()),
        Err(_) => Dynamic::UNIT,
    }
}

/// A Rhai value that has no BSON form (a function pointer, a range, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a {type_name} cannot be stored or sent (at {path}); use maps, arrays, strings, numbers, booleans or dates"
)]
pub struct ConversionError {
    /// Where in the value, e.g. `message.items[2]`.
    pub path: String,
    /// The Rhai type found there.
    pub type_name: String,
}

impl ConversionError {
    /// The same error seen from a value that holds the failing one at `prefix`.
    fn within(mut self, prefix: String) -> Self {
        self.path = if self.path.is_empty() {
            prefix
        } else if self.path.starts_with('[') {
            format!("{prefix}{}", self.path)
        } else {
            format!("{prefix}.{}", self.path)
        };
        self
    }
}

/// Converts a Rhai value to BSON.
pub fn dynamic_to_bson(value: &Dynamic, path: &str) -> Result<Bson, ConversionError> {
    if value.is_unit() {
        return Ok(Bson::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Bson::Boolean(b));
    }
    if let Ok(n) = value.as_int() {
        return Ok(i32::try_from(n).map_or(Bson::Int64(n), Bson::Int32));
    }
    if let Ok(x) = value.as_float() {
        return Ok(Bson::Double(x));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Bson::String(c.to_string()));
    }
    if let Some(s) = value.read_lock::<ImmutableString>() {
        // Copied straight out: no clone of the shared string first.
        return Ok(Bson::String(s.as_str().to_owned()));
    }
    if let Some(dec) = value.read_lock::<Decimal>().map(|d| *d) {
        return decimal_to_bson(dec)
            .map(Bson::Decimal128)
            .map_err(|_| ConversionError {
                path: path.to_owned(),
                type_name: "decimal".into(),
            });
    }
    if let Some(view) = value.read_lock::<crate::event_view::EventView>() {
        return Document::try_from(view.document())
            .map(Bson::Document)
            .map_err(|_| ConversionError {
                path: path.to_owned(),
                type_name: "malformed document".into(),
            });
    }
    if value.is_map() {
        let map = value.read_lock::<Map>().expect("checked is_map");
        return map_to_document(&map, path).map(Bson::Document);
    }
    if value.is_array() {
        let array = value.read_lock::<Array>().expect("checked is_array");
        return array
            .iter()
            .enumerate()
            .map(|(i, v)| dynamic_to_bson(v, "").map_err(|e| e.within(format!("{path}[{i}]"))))
            .collect::<Result<Vec<_>, _>>()
            .map(Bson::Array);
    }
    if value.is_blob() {
        let blob = value.read_lock::<Blob>().expect("checked is_blob");
        return Ok(Bson::Binary(Binary {
            subtype: BinarySubtype::Generic,
            bytes: blob.to_vec(),
        }));
    }
    if let Some(oid) = value.read_lock::<RhaiObjectId>() {
        return Ok(Bson::ObjectId(oid.0));
    }
    if let Some(date) = value.read_lock::<RhaiDateTime>() {
        return Ok(Bson::DateTime(date.0));
    }
    if let Some(ts) = value.read_lock::<RhaiTimestamp>() {
        return Ok(Bson::Timestamp(ts.0));
    }
    Err(ConversionError {
        path: path.to_owned(),
        type_name: value.type_name().to_owned(),
    })
}

/// A decimal as BSON: what its text (`Decimal128::from_str(&dec.to_string())`)
/// would give, without the text. A non-zero decimal is written in plain
/// digits (at most 29), which encode as its mantissa and scale; zero (whose
/// sign the text may drop) goes through the text.
fn decimal_to_bson(dec: Decimal) -> Result<Decimal128, bson::decimal128::ParseError> {
    let mantissa = dec.mantissa();
    if mantissa != 0
        && let Some(bytes) = herald_core::decimal::encode(
            mantissa < 0,
            mantissa.unsigned_abs(),
            -(dec.scale() as i32),
        )
    {
        return Ok(Decimal128::from_bytes(bytes));
    }
    Decimal128::from_str(&dec.to_string())
}

/// Converts a Rhai object map to a BSON document (keys in the map's order).
pub fn map_to_document(map: &Map, path: &str) -> Result<Document, ConversionError> {
    let mut doc = Document::new();
    for (key, value) in map {
        // The path is only spelled out when a value cannot be converted.
        let converted = dynamic_to_bson(value, "").map_err(|e| {
            e.within(if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            })
        })?;
        doc.insert(key.as_str(), converted);
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{RawBson, doc};

    #[test]
    fn values_survive_a_round_trip() {
        let original = doc! {
            "s": "text", "i": 7, "big": 1_i64 << 40, "f": 2.5, "b": true, "n": Bson::Null,
            "oid": ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap(),
            "d": bson::DateTime::from_millis(1_700_000_000_000),
            "ts": bson::Timestamp { time: 5, increment: 1 },
            "dec": Decimal128::from_str("1234.50").unwrap(),
            "nested": { "arr": [1, "x", { "y": false }] },
        };
        let raw = RawBson::Document(bson::RawDocumentBuf::from_document(&original).unwrap());
        let dynamic = raw_to_dynamic(raw.as_raw_bson_ref());
        let back = dynamic_to_bson(&dynamic, "").unwrap();
        let Bson::Document(back) = back else { panic!() };
        // Maps sort their keys, so compare field by field.
        for (k, v) in &original {
            assert_eq!(back.get(k), Some(v), "{k}");
        }
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        /// Decimals reach Rhai with the same value and scale as through their text.
        #[test]
        fn decimals_convert_as_their_text_does(text in "-?[0-9]{1,20}(\\.[0-9]{1,14})?") {
            let d = Decimal128::from_str(&text).unwrap();
            let fast = decimal_to_dynamic(&d);
            let slow = Decimal::from_str(&d.to_string())
                .or_else(|_| Decimal::from_scientific(&d.to_string()));
            match slow {
                Ok(expected) => {
                    let got = fast.as_decimal().unwrap();
                    proptest::prop_assert_eq!(got, expected);
                    proptest::prop_assert_eq!(got.scale(), expected.scale());
                    proptest::prop_assert_eq!(got.is_sign_negative(), expected.is_sign_negative());
                }
                Err(_) => proptest::prop_assert!(fast.is_string()),
            }
        }

        /// Decimals leave Rhai as the same BSON as through their text.
        #[test]
        fn decimals_leave_as_their_text_does(
            mantissa in proptest::prop_oneof![
                -1000i128..1000,
                proptest::num::i64::ANY.prop_map(i128::from),
                -(1i128 << 96) + 1..(1i128 << 96),
            ],
            scale in 0u32..=28,
        ) {
            let dec = Decimal::from_i128_with_scale(mantissa, scale);
            let expected = Decimal128::from_str(&dec.to_string()).unwrap();
            proptest::prop_assert_eq!(decimal_to_bson(dec).unwrap().bytes(), expected.bytes());
        }
    }

    #[test]
    fn function_pointers_do_not_convert() {
        let f = Dynamic::from(rhai::FnPtr::new("f").unwrap());
        let mut map = Map::new();
        map.insert("cb".into(), f);
        let err = map_to_document(&map, "message").unwrap_err();
        assert_eq!(err.path, "message.cb");

        let mut inner = Map::new();
        inner.insert("f".into(), Dynamic::from(rhai::FnPtr::new("f").unwrap()));
        let items: Array = vec![Dynamic::from_int(1), Dynamic::from_map(inner)];
        let mut map = Map::new();
        map.insert("items".into(), Dynamic::from_array(items));
        let err = map_to_document(&map, "message").unwrap_err();
        assert_eq!(err.path, "message.items[1].f");
    }
}
