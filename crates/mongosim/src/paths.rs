//! Reading and writing dotted paths (`a.b.0.c`) in owned documents.

use crate::error::CommandError;
use bson::{Bson, Document};

fn index(part: &str) -> Option<usize> {
    (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        .then(|| part.parse().ok())
        .flatten()
}

/// The value at a path (array elements addressed by index).
pub fn get<'a>(doc: &'a Document, path: &str) -> Option<&'a Bson> {
    let mut parts = path.split('.');
    let mut current = doc.get(parts.next()?)?;
    for part in parts {
        current = match current {
            Bson::Document(d) => d.get(part)?,
            Bson::Array(a) => a.get(index(part)?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Sets the value at a path, creating intermediate documents; array
/// indexes past the end are padded with nulls, as the server does.
pub fn set(doc: &mut Document, path: &str, value: Bson) -> Result<(), CommandError> {
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(CommandError::new(
            56,
            "EmptyFieldName",
            format!("An empty update path is not valid: '{path}'"),
        ));
    }
    set_in_doc(doc, &parts, value, path)
}

fn set_in_doc(
    doc: &mut Document,
    parts: &[&str],
    value: Bson,
    path: &str,
) -> Result<(), CommandError> {
    let (first, rest) = parts.split_first().expect("non-empty path");
    if rest.is_empty() {
        doc.insert(*first, value);
        return Ok(());
    }
    if !doc.contains_key(*first) {
        doc.insert(*first, Document::new());
    }
    set_in_value(
        doc.get_mut(*first).expect("just inserted"),
        rest,
        value,
        path,
    )
}

fn set_in_value(
    target: &mut Bson,
    parts: &[&str],
    value: Bson,
    path: &str,
) -> Result<(), CommandError> {
    match target {
        Bson::Document(d) => set_in_doc(d, parts, value, path),
        Bson::Array(a) => {
            let i = index(parts[0]).ok_or_else(|| path_error(path, parts[0]))?;
            while a.len() <= i {
                a.push(Bson::Null);
            }
            if parts.len() == 1 {
                a[i] = value;
                Ok(())
            } else {
                if matches!(a[i], Bson::Null) {
                    a[i] = Bson::Document(Document::new());
                }
                set_in_value(&mut a[i], &parts[1..], value, path)
            }
        }
        other => Err(CommandError::new(
            28,
            "PathNotViable",
            format!(
                "Cannot create field '{}' in element {{{}}}",
                parts[0], other
            ),
        )),
    }
}

fn path_error(path: &str, part: &str) -> CommandError {
    CommandError::new(
        28,
        "PathNotViable",
        format!("Cannot create field '{part}' in an array (path '{path}')"),
    )
}

/// Removes the value at a path; true if something was removed. Array
/// elements are set to null rather than removed, as `$unset` does.
pub fn remove(doc: &mut Document, path: &str) -> bool {
    let parts: Vec<&str> = path.split('.').collect();
    remove_in_doc(doc, &parts)
}

fn remove_in_doc(doc: &mut Document, parts: &[&str]) -> bool {
    let (first, rest) = parts.split_first().expect("non-empty path");
    if rest.is_empty() {
        return doc.remove(*first).is_some();
    }
    match doc.get_mut(*first) {
        Some(Bson::Document(d)) => remove_in_doc(d, rest),
        Some(Bson::Array(a)) => match index(rest[0]) {
            Some(i) if i < a.len() => {
                if rest.len() == 1 {
                    a[i] = Bson::Null;
                    true
                } else if let Bson::Document(d) = &mut a[i] {
                    remove_in_doc(d, &rest[1..])
                } else {
                    false
                }
            }
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn set_get_remove() {
        let mut d = doc! {"a": {"b": 1}, "arr": [1, 2]};
        set(&mut d, "a.c.d", Bson::Int32(5)).unwrap();
        set(&mut d, "arr.3", Bson::Int32(9)).unwrap();
        assert_eq!(
            d,
            doc! {"a": {"b": 1, "c": {"d": 5}}, "arr": [1, 2, Bson::Null, 9]}
        );
        assert_eq!(get(&d, "a.c.d"), Some(&Bson::Int32(5)));
        assert_eq!(get(&d, "arr.1"), Some(&Bson::Int32(2)));
        assert!(remove(&mut d, "a.b"));
        assert!(remove(&mut d, "arr.0"));
        assert!(!remove(&mut d, "nope.x"));
        assert_eq!(
            d,
            doc! {"a": {"c": {"d": 5}}, "arr": [Bson::Null, 2, Bson::Null, 9]}
        );
        assert!(set(&mut d, "a.c.d.e", Bson::Int32(1)).is_err());
    }
}
