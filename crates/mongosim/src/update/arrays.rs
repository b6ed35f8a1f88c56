//! The array operators: `$push`, `$addToSet`, `$pull`, `$pullAll`, `$pop`.

use super::Change;
use super::operators::{as_i64, raw_cmp, type_name};
use crate::error::CommandError;
use crate::paths;
use bson::{Bson, Document};
use std::cmp::Ordering;

pub(super) fn push(
    doc: &mut Document,
    op: &str,
    path: &str,
    value: &Bson,
    changes: &mut Vec<Change>,
) -> Result<(), CommandError> {
    let (items, modifiers) = match value {
        Bson::Document(spec) if spec.contains_key("$each") => {
            let Some(Bson::Array(each)) = spec.get("$each") else {
                return Err(CommandError::bad_value(format!(
                    "The argument to $each in {op} must be an array but it was of type: {}",
                    type_name(&spec["$each"])
                )));
            };
            (each.clone(), spec.len() > 1)
        }
        other => (vec![other.clone()], false),
    };
    let existing = match paths::get(doc, path) {
        None => None,
        Some(Bson::Array(a)) => Some(a.clone()),
        Some(other) => {
            return Err(CommandError::new(
                2,
                "BadValue",
                format!(
                    "The field '{path}' must be an array but is of type {} in document",
                    type_name(other)
                ),
            ));
        }
    };
    let created = existing.is_none();
    let mut array = existing.unwrap_or_default();
    let before = array.len();
    if op == "$addToSet" {
        for item in items {
            if !array.iter().any(|e| {
                raw_cmp(e, &item) == Ordering::Equal
                    && std::mem::discriminant(e) == std::mem::discriminant(&item)
                    || e == &item
            }) {
                array.push(item);
            }
        }
    } else if modifiers {
        let spec = value.as_document().expect("checked above");
        let position = spec
            .get("$position")
            .map(|p| as_i64(p) as usize)
            .unwrap_or(array.len())
            .min(array.len());
        for (offset, item) in items.into_iter().enumerate() {
            array.insert(position + offset, item);
        }
        if let Some(slice) = spec.get("$slice") {
            let n = as_i64(slice);
            if n >= 0 {
                array.truncate(n as usize);
            } else {
                let keep = (-n) as usize;
                let len = array.len();
                if len > keep {
                    array.drain(..len - keep);
                }
            }
        }
    } else {
        array.extend(items);
    }
    if array.len() == before && !created && !modifiers {
        return Ok(());
    }
    let appended_only = !created && !modifiers;
    paths::set(doc, path, Bson::Array(array.clone()))?;
    if appended_only {
        for i in before..array.len() {
            changes.push(Change::Updated(format!("{path}.{i}")));
        }
    } else {
        changes.push(Change::Updated(path.to_owned()));
    }
    Ok(())
}

pub(super) fn shrink(
    doc: &mut Document,
    op: &str,
    path: &str,
    value: &Bson,
    changes: &mut Vec<Change>,
) -> Result<(), CommandError> {
    let Some(Bson::Array(array)) = paths::get(doc, path).cloned() else {
        return match paths::get(doc, path) {
            None => Ok(()),
            Some(other) => Err(CommandError::bad_value(format!(
                "Cannot apply {op} to a non-array value ({path} is {})",
                type_name(other)
            ))),
        };
    };
    let next: Vec<Bson> = match op {
        "$pop" => {
            let mut a = array.clone();
            if as_i64(value) >= 0 {
                a.pop();
            } else if !a.is_empty() {
                a.remove(0);
            }
            a
        }
        "$pullAll" => {
            let Bson::Array(remove) = value else {
                return Err(CommandError::bad_value(
                    "$pullAll requires an array argument",
                ));
            };
            array
                .iter()
                .filter(|e| !remove.iter().any(|r| raw_cmp(e, r) == Ordering::Equal))
                .cloned()
                .collect()
        }
        _ => {
            let condition = pull_condition(value)?;
            array.iter().filter(|e| !condition(e)).cloned().collect()
        }
    };
    if next.len() == array.len() {
        return Ok(());
    }
    if op == "$pop" && as_i64(value) >= 0 {
        paths::set(doc, path, Bson::Array(next.clone()))?;
        changes.push(Change::Truncated(path.to_owned(), next.len()));
        return Ok(());
    }
    paths::set(doc, path, Bson::Array(next))?;
    changes.push(Change::Updated(path.to_owned()));
    Ok(())
}

type Condition = Box<dyn Fn(&Bson) -> bool>;

/// `$pull` removes elements equal to a value, or matching a condition / query.
/// A `$pull` condition on one element (herald-core's query language: the
/// server refuses `$expr` there too).
fn raw_matches(filter: &herald_core::Filter, doc: &bson::Document) -> bool {
    bson::RawDocumentBuf::from_document(doc).is_ok_and(|raw| filter.matches(&raw))
}

fn pull_condition(value: &Bson) -> Result<Condition, CommandError> {
    match value {
        Bson::Document(spec) => {
            let operators = spec.keys().next().is_some_and(|k| k.starts_with('$'));
            let query = if operators {
                bson::doc! { "v": spec.clone() }
            } else {
                spec.clone()
            };
            let filter = herald_core::Filter::compile(&query)
                .map_err(|e| CommandError::bad_value(e.to_string()))?;
            Ok(Box::new(move |element: &Bson| {
                if operators {
                    raw_matches(&filter, &bson::doc! { "v": element.clone() })
                } else {
                    matches!(element, Bson::Document(d) if raw_matches(&filter, d))
                }
            }))
        }
        other => {
            let target = other.clone();
            Ok(Box::new(move |element: &Bson| {
                raw_cmp(element, &target) == Ordering::Equal
                    && std::mem::discriminant(element) == std::mem::discriminant(&target)
                    || *element == target
            }))
        }
    }
}
