//! Key patterns: `validateKeyPattern` for v:2 indexes, and the index type a
//! pattern names.

use super::display::type_name;
use crate::error::CommandError;
use bson::{Bson, Document, RawDocumentBuf};

/// Index types (`IndexNames`); the empty name is an ordinary B-tree index.
const PLUGINS: [&str; 9] = [
    "",
    "2d",
    "2dsphere",
    "2dsphere_bucket",
    "text",
    "hashed",
    "wildcard",
    "columnstore",
    "geoHaystack",
];

/// A numeric value as a double (key-pattern directions, versions, flags).
pub fn as_number(value: &Bson) -> Option<f64> {
    match value {
        Bson::Int32(n) => Some(f64::from(*n)),
        Bson::Int64(n) => Some(*n as f64),
        Bson::Double(x) => Some(*x),
        Bson::Decimal128(d) => d.to_string().parse().ok(),
        _ => None,
    }
}

/// The index type a key pattern names (`findPluginName`): its first string value.
pub fn plugin_name(key: &Document) -> &str {
    for (field, value) in key {
        if let Bson::String(s) = value {
            return s;
        }
        if field == "$**" || field.ends_with(".$**") {
            return "wildcard";
        }
    }
    ""
}

/// 67 CannotCreateIndex.
pub fn cannot_create(message: impl Into<String>) -> CommandError {
    CommandError::new(67, "CannotCreateIndex", message)
}

/// `validateKeyPattern` for v:2 indexes.
pub fn validate_key_pattern(key: &Document) -> Result<(), CommandError> {
    let size = RawDocumentBuf::from_document(key).map_or(0, |raw| raw.as_bytes().len());
    if size > 2048 {
        return Err(cannot_create("Index key pattern too large."));
    }
    if key.is_empty() {
        return Err(cannot_create("Index keys cannot be empty."));
    }
    let plugin = plugin_name(key);
    if plugin == "geoHaystack" {
        return Err(cannot_create(
            "GeoHaystack indexes cannot be created in version 5.0 and above",
        ));
    }
    if !PLUGINS.contains(&plugin) {
        return Err(cannot_create(format!("Unknown index plugin '{plugin}'")));
    }
    for (field, value) in key {
        match (as_number(value), value) {
            (Some(x), _) if x.is_nan() => {
                return Err(cannot_create(
                    "Values in the index key pattern cannot be NaN.",
                ));
            }
            (Some(0.0), _) => {
                return Err(cannot_create(
                    "Values in the index key pattern cannot be 0.",
                ));
            }
            (Some(_), _) | (None, Bson::String(_)) => {}
            (None, other) => {
                return Err(cannot_create(format!(
                    "Values in v:2 index key pattern cannot be of type {}. Only numbers > 0, numbers < 0, and strings are allowed.",
                    type_name(other)
                )));
            }
        }
        let text = if let Bson::String(s) = value {
            s.as_str()
        } else {
            ""
        };
        if matches!(value, Bson::String(_)) && text != plugin {
            return Err(cannot_create(
                "Can't use more than one index plugin for a single index.",
            ));
        }
        if text == "wildcard" {
            return Err(cannot_create(
                "The key pattern value for an 'wildcard' index must be a non-zero number, not a string.",
            ));
        }
        if field.is_empty() {
            return Err(cannot_create("Index keys cannot be an empty field."));
        }
        if field == "$**" && (as_number(value).is_some() || text == "text" || text == "columnstore")
        {
            continue;
        }
        if field == "_fts" && text != "text" {
            return Err(cannot_create(
                "Index key contains an illegal field name: '_fts'",
            ));
        }
        let parts: Vec<&str> = field.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            if part.is_empty() {
                return Err(cannot_create("Index keys cannot contain an empty field."));
            }
            let db_ref = i != 0 && matches!(*part, "$db" | "$id" | "$ref");
            let wildcard = i == parts.len() - 1
                && *part == "$**"
                && matches!(plugin, "wildcard" | "columnstore");
            if part.starts_with('$') && !db_ref && !wildcard {
                return Err(cannot_create(
                    "Index key contains an illegal field name: field name starts with '$'.",
                ));
            }
        }
    }
    Ok(())
}
