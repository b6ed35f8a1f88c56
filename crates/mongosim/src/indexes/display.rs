//! Values written the way the server writes them into error messages
//! (`BSONObj::toString`): `{ a: 1, b: "x" }`, `[ 1, 2 ]`, `1.0`, `ObjectId('…')`.

use bson::{Bson, Document};
use std::fmt::Write;

/// Strings whose size with their terminating NUL exceeds this are cut, as the server cuts them.
const MAX_STRING_SIZE: usize = 160;
/// How many bytes of a cut string are kept.
const KEPT: usize = 150;

/// The server's `typeName` of a value, for messages.
pub fn type_name(value: &Bson) -> &'static str {
    match value {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Binary(_) => "binData",
        Bson::Undefined => "undefined",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::DbPointer(_) => "dbPointer",
        Bson::JavaScriptCode(_) => "javascript",
        Bson::Symbol(_) => "symbol",
        Bson::JavaScriptCodeWithScope(_) => "javascriptWithScope",
        Bson::Int32(_) => "int",
        Bson::Timestamp(_) => "timestamp",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        Bson::MinKey => "minKey",
        Bson::MaxKey => "maxKey",
    }
}

/// A document, as `{ name: value, ... }` (`{}` when empty).
pub fn document(doc: &Document) -> String {
    let mut out = String::new();
    write_document(&mut out, doc);
    out
}

/// One value, without a field name.
pub fn value(value: &Bson) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_document(out: &mut String, doc: &Document) {
    if doc.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push_str("{ ");
    for (i, (key, value)) in doc.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(key);
        out.push_str(": ");
        write_value(out, value);
    }
    out.push_str(" }");
}

fn write_array(out: &mut String, items: &[Bson]) {
    if items.is_empty() {
        out.push_str("[]");
        return;
    }
    out.push_str("[ ");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_value(out, item);
    }
    out.push_str(" ]");
}

/// The longest prefix of `s` of at most `n` bytes that ends on a character boundary.
fn prefix(s: &str, n: usize) -> &str {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02X}");
        s
    })
}

fn write_value(out: &mut String, value: &Bson) {
    match value {
        Bson::Document(d) => write_document(out, d),
        Bson::Array(a) => write_array(out, a),
        Bson::DateTime(d) => {
            let _ = write!(out, "new Date({})", d.timestamp_millis());
        }
        Bson::RegularExpression(r) => {
            let _ = write!(out, "/{}/{}", r.pattern, r.options);
        }
        Bson::Double(x) => out.push_str(&double(*x)),
        Bson::Int64(n) => {
            let _ = write!(out, "{n}");
        }
        Bson::Int32(n) => {
            let _ = write!(out, "{n}");
        }
        Bson::Decimal128(d) => {
            let _ = write!(out, "{d}");
        }
        Bson::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Bson::Undefined => out.push_str("undefined"),
        Bson::Null => out.push_str("null"),
        Bson::MaxKey => out.push_str("MaxKey"),
        Bson::MinKey => out.push_str("MinKey"),
        Bson::JavaScriptCodeWithScope(c) => {
            let _ = write!(out, "CodeWScope( {}, {})", c.code, document(&c.scope));
        }
        Bson::JavaScriptCode(code) => {
            if code.len() >= 80 {
                out.push_str(prefix(code, 70));
                out.push_str("...");
            } else {
                out.push_str(code);
            }
        }
        Bson::String(s) | Bson::Symbol(s) => {
            out.push('"');
            if s.len() + 1 > MAX_STRING_SIZE {
                out.push_str(prefix(s, KEPT));
                out.push_str("...\"");
            } else {
                out.push_str(s);
                out.push('"');
            }
        }
        Bson::DbPointer(_) => out.push_str("DBRef(...)"),
        Bson::ObjectId(id) => {
            let _ = write!(out, "ObjectId('{id}')");
        }
        Bson::Binary(b) => {
            let subtype = u8::from(b.subtype);
            if b.bytes.len() > 80 {
                let _ = write!(out, "BinData({subtype}, {}...)", hex_upper(&b.bytes[..70]));
            } else {
                let _ = write!(out, "BinData({subtype}, {})", hex_upper(&b.bytes));
            }
        }
        Bson::Timestamp(ts) => {
            let _ = write!(out, "Timestamp({}, {})", ts.time, ts.increment);
        }
    }
}

/// A double as the server prints it: C's `%.16g`, then `.0` unless the text has
/// a `.`, an `E` or an `N` (so `1.0`, `0.5`, `1e+20.0`, `inf.0`, as the server does).
pub fn double(x: f64) -> String {
    let mut text = g16(x);
    if !text.contains(['.', 'E', 'N']) {
        text.push_str(".0");
    }
    text
}

/// C's `printf("%.16g", x)`.
fn g16(x: f64) -> String {
    general(x, 16)
}

/// C's `printf("%.{digits}g", x)` (`digits` significant digits, 1 to 17;
/// NaN with its sign, as glibc prints it).
pub(crate) fn general(x: f64, digits: i32) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_owned();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.to_owned();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let places = usize::try_from(digits - 1).expect("at least one digit");
    let scientific = format!("{x:.places$e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is a number");
    if !(-4..digits).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{}e{sign}{:02}",
            strip_zeros(mantissa),
            exponent.unsigned_abs()
        )
    } else {
        let decimals = usize::try_from(digits - 1 - exponent).expect("exponent below digits");
        strip_zeros(&format!("{x:.decimals$}")).to_owned()
    }
}

/// Drops trailing zeros after a decimal point, and the point if nothing follows it.
fn strip_zeros(s: &str) -> &str {
    if !s.contains('.') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, oid::ObjectId};

    #[test]
    fn doubles_print_as_the_server_prints_them() {
        let cases = [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (-2.25, "-2.25"),
            (0.1 + 0.2, "0.3"),
            (1e20, "1e+20.0"),
            (1.5e-7, "1.5e-07"),
            (123456789012345680.0, "1.234567890123457e+17"),
            (1e15, "1000000000000000.0"),
            (f64::INFINITY, "inf.0"),
        ];
        for (x, text) in cases {
            assert_eq!(double(x), text, "{x}");
        }
    }

    #[test]
    fn documents_print_as_the_server_prints_them() {
        let id = ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap();
        let d = doc! {
            "a": 1, "b": "x", "c": null, "d": [1, 2.0], "e": {}, "f": [],
            "g": { "h": true }, "i": 5_i64, "addr.city": "Paris", "_id": id,
        };
        assert_eq!(
            document(&d),
            "{ a: 1, b: \"x\", c: null, d: [ 1, 2.0 ], e: {}, f: [], g: { h: true }, i: 5, addr.city: \"Paris\", _id: ObjectId('65a1b2c3d4e5f60718293a4b') }"
        );
        let long = "x".repeat(200);
        assert_eq!(
            value(&Bson::String(long)),
            format!("\"{}...\"", "x".repeat(150))
        );
        assert_eq!(value(&Bson::String("y".repeat(159))).len(), 161);
    }
}
