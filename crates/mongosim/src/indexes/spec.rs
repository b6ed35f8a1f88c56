//! Index specifications: validating what `createIndexes` is given, as the
//! server does (`index_key_validate.cpp`), and comparing a candidate with an
//! existing index (`IndexDescriptor::compareIndexOptions`).

use super::display::{self, type_name};
use super::key_pattern::{as_number, cannot_create, plugin_name, validate_key_pattern};
use crate::error::CommandError;
use bson::{Bson, Document, RawDocumentBuf};

/// Top-level fields the server accepts in an index spec.
const ALLOWED: [&str; 30] = [
    "v",
    "key",
    "name",
    "ns",
    "background",
    "unique",
    "hidden",
    "partialFilterExpression",
    "sparse",
    "expireAfterSeconds",
    "storageEngine",
    "weights",
    "default_language",
    "language_override",
    "textIndexVersion",
    "2dsphereIndexVersion",
    "bits",
    "min",
    "max",
    "bucketSize",
    "collation",
    "wildcardProjection",
    "columnstoreProjection",
    "columnstoreCompressor",
    "coarsestIndexedLevel",
    "finestIndexedLevel",
    "dropDups",
    "originalSpec",
    "clustered",
    "prepareUnique",
];

/// Of those, the ones mongosim implements (`hidden` only hides from a query planner it does not have).
const SUPPORTED: [&str; 8] = [
    "v",
    "key",
    "name",
    "ns",
    "background",
    "unique",
    "hidden",
    "sparse",
];

/// Fields allowed in an `_id` index spec.
const ID_ALLOWED: [&str; 6] = ["collation", "name", "v", "key", "ns", "_id"];

/// A validated spec for an ordinary (B-tree) index.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexSpec {
    /// As stored and reported in change events: `{v, key, name, ...options}`.
    pub spec: Document,
    /// `name`.
    pub name: String,
    /// `key`: field paths to 1 / -1.
    pub key: Document,
    /// `unique` (always true for the `_id` index).
    pub unique: bool,
    /// `sparse`.
    pub sparse: bool,
}

/// How a candidate spec relates to an existing index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// Another key pattern, or another `unique` / `sparse`: a different index.
    Different,
    /// Same key and identifying options, other options differ.
    Equivalent,
    /// The same index.
    Identical,
}

/// True for `{_id: 1}` (the `_id` index's pattern).
pub fn is_id_pattern(key: &Document) -> bool {
    key.len() == 1 && key.get("_id").and_then(as_number) == Some(1.0)
}

/// `validateIndexSpec`: field names and types; returns the spec with `v` first and `ns` removed.
fn validate(given: &Document) -> Result<Document, CommandError> {
    for field in given.keys() {
        if !ALLOWED.contains(&field.as_str()) {
            return Err(CommandError::new(
                197,
                "InvalidIndexSpecificationOption",
                format!(
                    "The field '{field}' is not valid for an index specification. Specification: {}",
                    display::document(given)
                ),
            ));
        }
    }
    let type_mismatch = |field: &str, expected: &str, value: &Bson| {
        CommandError::type_mismatch(format!(
            "The field '{field}' must be {expected}, but got {}",
            type_name(value)
        ))
    };
    let mut version = 2;
    for (field, value) in given {
        match field.as_str() {
            "key" => {
                let Bson::Document(key) = value else {
                    return Err(type_mismatch("key", "an object", value));
                };
                validate_key_pattern(key)?;
                if key
                    .values()
                    .any(|v| matches!(v, Bson::String(s) if s.is_empty()))
                {
                    return Err(cannot_create(
                        "Values in the index key pattern cannot be empty strings",
                    ));
                }
            }
            "name" if !matches!(value, Bson::String(_)) => {
                return Err(type_mismatch("name", "a string", value));
            }
            // The server names the wrong field here; so does mongosim.
            "hidden" if !matches!(value, Bson::Boolean(_)) => {
                return Err(type_mismatch("name", "a bool", value));
            }
            "v" => {
                let Some(x) = as_number(value) else {
                    return Err(type_mismatch("v", "a number", value));
                };
                if x.fract() != 0.0 || x < f64::from(i32::MIN) || x > f64::from(i32::MAX) {
                    return Err(CommandError::bad_value(format!(
                        "Index version must be representable as a 32-bit integer, but got {}",
                        display::value(value)
                    )));
                }
                version = x as i32;
                if !matches!(version, 1 | 2) {
                    return Err(cannot_create(format!(
                        "Invalid index specification {}; cannot create an index with v={version}",
                        display::document(given)
                    )));
                }
            }
            "background" | "unique" | "sparse" | "dropDups" | "prepareUnique" | "clustered"
                if as_number(value).is_none() && !matches!(value, Bson::Boolean(_)) =>
            {
                return Err(CommandError::type_mismatch(format!(
                    "The field '{field} has value {field}: {}, which is not convertible to bool",
                    display::value(value)
                )));
            }
            _ => {}
        }
    }
    for required in ["key", "name"] {
        if !given.contains_key(required) {
            return Err(CommandError::failed_to_parse(format!(
                "The '{required}' field is a required property of an index specification"
            )));
        }
    }
    let mut spec = Document::new();
    spec.insert("v", version);
    for (field, value) in given {
        if field != "v" && field != "ns" {
            spec.insert(field.clone(), value.clone());
        }
    }
    Ok(spec)
}

/// A flag's value as the server reads it (`trueValue`).
pub fn truthy(value: Option<&Bson>) -> bool {
    match value {
        None | Some(Bson::Null | Bson::Undefined) => false,
        Some(Bson::Boolean(b)) => *b,
        Some(other) => as_number(other).is_none_or(|x| x != 0.0),
    }
}

/// Validates one entry of `createIndexes.indexes`, as the server does.
pub fn parse(given: &Document) -> Result<IndexSpec, CommandError> {
    let spec = validate(given).map_err(|e| {
        e.with_context(format!(
            "Error in specification {}",
            display::document(given)
        ))
    })?;
    let key = spec.get_document("key").expect("validated").clone();
    let name = spec.get_str("name").expect("validated").to_owned();
    if is_id_pattern(&key) {
        if let Some(field) = spec.keys().find(|f| !ID_ALLOWED.contains(&f.as_str())) {
            return Err(CommandError::new(
                197,
                "InvalidIndexSpecificationOption",
                format!(
                    "The field '{field}' is not valid for an _id index specification. Specification: {}",
                    display::document(&spec)
                ),
            ));
        }
    } else if name == "_id_" {
        return Err(CommandError::bad_value(format!(
            "The index name '_id_' is reserved for the _id index, which must have key pattern {{_id: 1}}, found key: {}",
            display::document(&key)
        )));
    } else if name == "*" {
        return Err(CommandError::bad_value("The index name '*' is not valid."));
    }
    let plugin = plugin_name(&key);
    if !plugin.is_empty() {
        return Err(CommandError::new(
            238,
            "NotImplemented",
            format!("mongosim does not support '{plugin}' indexes"),
        ));
    }
    if let Some(option) = spec.keys().find(|f| !SUPPORTED.contains(&f.as_str())) {
        return Err(CommandError::new(
            238,
            "NotImplemented",
            format!("mongosim does not support the index option '{option}'"),
        ));
    }
    Ok(IndexSpec {
        unique: is_id_pattern(&key) || truthy(spec.get("unique")),
        sparse: truthy(spec.get("sparse")),
        spec,
        name,
        key,
    })
}

/// Key patterns compare as documents, numbers by value (`{a: 1}` equals `{a: 1.0}`).
pub fn same_key(a: &Document, b: &Document) -> bool {
    let raw = |d: &Document| {
        bson::RawBson::Document(RawDocumentBuf::from_document(d).unwrap_or_default())
    };
    herald_core::filter::order::compare(raw(a).as_raw_bson_ref(), raw(b).as_raw_bson_ref())
        == std::cmp::Ordering::Equal
}

/// `compareIndexOptions`: key pattern, `unique` and `sparse` identify an index;
/// every option mongosim supports beyond those is left out of the comparison
/// by the server too, so indexes that agree on those are identical.
pub fn compare(candidate: &IndexSpec, existing: &super::Index) -> Comparison {
    if !same_key(&candidate.key, existing.key())
        || candidate.unique != existing.is_unique()
        || candidate.sparse != existing.is_sparse()
    {
        return Comparison::Different;
    }
    Comparison::Identical
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn valid_specs_get_v_first() {
        let spec = parse(&doc! {"key": {"a": 1}, "name": "a_1", "unique": true}).unwrap();
        assert_eq!(
            spec.spec,
            doc! {"v": 2, "key": {"a": 1}, "name": "a_1", "unique": true}
        );
        assert_eq!(spec.spec.keys().next().map(String::as_str), Some("v"));
        assert!(spec.unique && !spec.sparse);
    }

    #[test]
    fn invalid_specs_fail_as_on_the_server() {
        let code = |d: Document| parse(&d).unwrap_err().code;
        assert_eq!(code(doc! {"key": {"a": 1}, "name": "a_1", "bogus": 1}), 197);
        assert_eq!(code(doc! {"key": {"a": 0}, "name": "a_0"}), 67);
        assert_eq!(code(doc! {"key": {}, "name": "x"}), 67);
        assert_eq!(code(doc! {"key": {"$a": 1}, "name": "x"}), 67);
        assert_eq!(code(doc! {"name": "x"}), 9);
        assert_eq!(code(doc! {"key": {"a": 1}, "name": "_id_"}), 2);
        assert_eq!(code(doc! {"key": {"a": 1}, "name": "*"}), 2);
        assert_eq!(
            code(doc! {"key": {"_id": 1}, "name": "_id_", "unique": true}),
            197
        );
        assert_eq!(code(doc! {"key": {"a": "text"}, "name": "x"}), 238);
        assert_eq!(
            code(doc! {"key": {"a": 1}, "name": "x", "expireAfterSeconds": 5}),
            238
        );
        let err = parse(&doc! {"key": {"a": 0}, "name": "a_0"}).unwrap_err();
        assert_eq!(
            err.message,
            "Error in specification { key: { a: 0 }, name: \"a_0\" } :: caused by :: Values in the index key pattern cannot be 0."
        );
    }
}
