//! Values written as the server's `Value::toString` writes them into
//! aggregation error messages: `"text"`, `{a: 1, b: [1, 2]}`, `MISSING`.

use bson::{Bson, Document};
use std::fmt::Write;

/// One value (`MISSING` when absent).
pub fn value(value: Option<&Bson>) -> String {
    let mut out = String::new();
    match value {
        None => out.push_str("MISSING"),
        Some(v) => write_value(&mut out, v),
    }
    out
}

/// A document, as `Document::toString`: `{a: 1, b: "x"}`, `{}` when empty.
pub fn document(doc: &Document) -> String {
    let mut out = String::new();
    write_document(&mut out, doc);
    out
}

fn write_document(out: &mut String, doc: &Document) {
    out.push('{');
    for (i, (key, v)) in doc.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(key);
        out.push_str(": ");
        write_value(out, v);
    }
    out.push('}');
}

fn write_value(out: &mut String, value: &Bson) {
    let _ = match value {
        Bson::MinKey => write!(out, "MinKey"),
        Bson::MaxKey => write!(out, "MaxKey"),
        Bson::ObjectId(id) => write!(out, "{id}"),
        Bson::String(s) => write!(out, "\"{s}\""),
        Bson::RegularExpression(r) => write!(out, "/{}/{}", r.pattern, r.options),
        Bson::Symbol(s) => write!(out, "Symbol(\"{s}\")"),
        Bson::JavaScriptCode(c) => write!(out, "Code(\"{c}\")"),
        Bson::Boolean(b) => write!(out, "{b}"),
        Bson::Decimal128(d) => write!(out, "{d}"),
        Bson::Double(x) => write!(out, "{}", g6(*x)),
        Bson::Int64(n) => write!(out, "{n}"),
        Bson::Int32(n) => write!(out, "{n}"),
        Bson::Null => write!(out, "null"),
        Bson::Undefined => write!(out, "undefined"),
        Bson::DateTime(d) => write!(out, "{}", iso_date(d.timestamp_millis())),
        Bson::Timestamp(ts) => write!(out, "Timestamp({}, {})", ts.time, ts.increment),
        Bson::Document(d) => {
            write_document(out, d);
            Ok(())
        }
        Bson::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
            Ok(())
        }
        Bson::JavaScriptCodeWithScope(c) => write!(
            out,
            "CodeWScope(\"{}\", {})",
            c.code,
            crate::indexes::display::document(&c.scope)
        ),
        Bson::Binary(b) => {
            let hex: String = b.bytes.iter().map(|x| format!("{x:02X}")).collect();
            write!(out, "BinData({}, \"{hex}\")", u8::from(b.subtype))
        }
        Bson::DbPointer(_) => write!(out, "DBRef(...)"),
    };
}

/// A double as C++ streams print it by default (`%g`: six significant digits).
pub fn g6(x: f64) -> String {
    // C++ streams print NaN without its sign.
    if x.is_nan() {
        return "nan".to_owned();
    }
    crate::indexes::display::general(x, 6)
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn iso_date(millis: i64) -> String {
    let days = millis.div_euclid(86_400_000);
    let ms = millis.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}
