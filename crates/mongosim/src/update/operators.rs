//! Update operators.

use super::Change;
use crate::error::CommandError;
use crate::paths;
use bson::{Bson, DateTime, Document, Timestamp};
use herald_core::filter::order::compare;
use std::cmp::Ordering;

/// True if the update document uses operators (its first key starts with `$`).
pub fn is_operator_update(update: &Document) -> bool {
    update.keys().next().is_some_and(|k| k.starts_with('$'))
}

pub(super) fn raw_cmp(a: &Bson, b: &Bson) -> Ordering {
    match (
        bson::RawBson::try_from(a.clone()),
        bson::RawBson::try_from(b.clone()),
    ) {
        (Ok(a), Ok(b)) => compare(a.as_raw_bson_ref(), b.as_raw_bson_ref()),
        _ => Ordering::Equal,
    }
}

fn fields<'a>(op: &str, arg: &'a Bson) -> Result<&'a Document, CommandError> {
    match arg {
        Bson::Document(d) => Ok(d),
        other => Err(CommandError::failed_to_parse(format!(
            "Modifiers operate on fields but we found type {} instead. For example: {{$mod: {{<field>: ...}}}} not {{{op}: {other}}}",
            type_name(other)
        ))),
    }
}

pub(super) fn type_name(v: &Bson) -> &'static str {
    match v {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Array(_) => "array",
        Bson::Document(_) => "object",
        Bson::Boolean(_) => "bool",
        Bson::Null => "null",
        Bson::Int32(_) => "int",
        Bson::Int64(_) => "long",
        _ => "other",
    }
}

/// Applies an operator update to `doc`; returns the changes in the order made.
/// `inserting` enables `$setOnInsert`.
pub fn apply_operators(
    doc: &mut Document,
    update: &Document,
    inserting: bool,
) -> Result<Vec<Change>, CommandError> {
    check_conflicts(update)?;
    let mut changes = Vec::new();
    for (op, arg) in update {
        let args = fields(op, arg)?;
        for (path, value) in args {
            if path == "_id" || path.starts_with("_id.") {
                if op == "$setOnInsert" || (op == "$set" && paths::get(doc, path) == Some(value)) {
                    // Setting _id to its own value is allowed.
                } else {
                    return Err(
                        super::immutable_id(Some(&Bson::Null), Some(&Bson::Boolean(true)))
                            .unwrap_err(),
                    );
                }
            }
            apply_one(doc, op, path, value, inserting, &mut changes)?;
        }
    }
    Ok(changes)
}

fn set_if_changed(
    doc: &mut Document,
    path: &str,
    value: Bson,
    changes: &mut Vec<Change>,
) -> Result<(), CommandError> {
    if paths::get(doc, path) == Some(&value) {
        return Ok(());
    }
    paths::set(doc, path, value)?;
    changes.push(Change::Updated(path.to_owned()));
    Ok(())
}

fn apply_one(
    doc: &mut Document,
    op: &str,
    path: &str,
    value: &Bson,
    inserting: bool,
    changes: &mut Vec<Change>,
) -> Result<(), CommandError> {
    match op {
        "$set" => set_if_changed(doc, path, value.clone(), changes),
        "$setOnInsert" => {
            if inserting {
                set_if_changed(doc, path, value.clone(), changes)?;
            }
            Ok(())
        }
        "$unset" => {
            if paths::remove(doc, path) {
                changes.push(Change::Removed(path.to_owned()));
            }
            Ok(())
        }
        "$inc" | "$mul" => {
            let current = paths::get(doc, path).cloned();
            let next = arithmetic(op, current.as_ref(), value, path)?;
            set_if_changed(doc, path, next, changes)
        }
        "$min" | "$max" => {
            let replace = match paths::get(doc, path) {
                None => true,
                Some(current) => {
                    let order = raw_cmp(value, current);
                    (op == "$min" && order == Ordering::Less)
                        || (op == "$max" && order == Ordering::Greater)
                }
            };
            if replace {
                set_if_changed(doc, path, value.clone(), changes)?;
            }
            Ok(())
        }
        "$rename" => {
            let Bson::String(to) = value else {
                return Err(CommandError::bad_value(format!(
                    "The 'to' field for $rename must be a string: {path}: {value}"
                )));
            };
            if let Some(moved) = paths::get(doc, path).cloned() {
                paths::remove(doc, path);
                changes.push(Change::Removed(path.to_owned()));
                paths::set(doc, to, moved)?;
                changes.push(Change::Updated(to.clone()));
            }
            Ok(())
        }
        "$currentDate" => {
            let now = DateTime::now();
            let stamp = match value {
                Bson::Document(spec) if spec.get_str("$type") == Ok("timestamp") => {
                    Bson::Timestamp(Timestamp {
                        time: (now.timestamp_millis() / 1000) as u32,
                        increment: 1,
                    })
                }
                Bson::Document(spec) if spec.get_str("$type") == Ok("date") => Bson::DateTime(now),
                Bson::Boolean(true) => Bson::DateTime(now),
                other => {
                    return Err(CommandError::bad_value(format!(
                        "{other} is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({{$type: 'timestamp/date'}})."
                    )));
                }
            };
            set_if_changed(doc, path, stamp, changes)
        }
        "$push" | "$addToSet" => super::arrays::push(doc, op, path, value, changes),
        "$pull" | "$pullAll" | "$pop" => super::arrays::shrink(doc, op, path, value, changes),
        other => Err(CommandError::failed_to_parse(format!(
            "Unknown modifier: {other}. Expected a valid update modifier or pipeline-style update specified as an array"
        ))),
    }
}

fn arithmetic(
    op: &str,
    current: Option<&Bson>,
    operand: &Bson,
    path: &str,
) -> Result<Bson, CommandError> {
    let non_numeric = |v: &Bson| {
        CommandError::type_mismatch(format!(
            "Cannot apply {op} to a value of non-numeric type. {{_id: ...}} has the field '{path}' of non-numeric type {}",
            type_name(v)
        ))
    };
    let zero = Bson::Int32(0);
    let current = match current {
        None if op == "$mul" => &zero,
        None => &zero,
        Some(v) => v,
    };
    let result = match (current, operand) {
        (Bson::Int32(a), Bson::Int32(b)) => {
            let r = if op == "$inc" {
                a.checked_add(*b)
            } else {
                a.checked_mul(*b)
            };
            r.map_or_else(
                || {
                    Bson::Int64(if op == "$inc" {
                        i64::from(*a) + i64::from(*b)
                    } else {
                        i64::from(*a) * i64::from(*b)
                    })
                },
                Bson::Int32,
            )
        }
        (Bson::Int32(_) | Bson::Int64(_), Bson::Int32(_) | Bson::Int64(_)) => {
            let (a, b) = (as_i64(current), as_i64(operand));
            Bson::Int64(if op == "$inc" {
                a.wrapping_add(b)
            } else {
                a.wrapping_mul(b)
            })
        }
        (a, b) if is_number(a) && is_number(b) => {
            let (x, y) = (as_f64(a), as_f64(b));
            Bson::Double(if op == "$inc" { x + y } else { x * y })
        }
        (a, b) if !is_number(b) => {
            return Err(CommandError::type_mismatch(format!(
                "Cannot {} with non-numeric argument: {{{path}: {b}}}",
                if op == "$inc" {
                    "increment"
                } else {
                    "multiply"
                }
            )))
            .map(|_: ()| a.clone());
        }
        (a, _) => return Err(non_numeric(a)),
    };
    Ok(result)
}

fn is_number(v: &Bson) -> bool {
    matches!(v, Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_))
}

pub(super) fn as_i64(v: &Bson) -> i64 {
    match v {
        Bson::Int32(n) => i64::from(*n),
        Bson::Int64(n) => *n,
        Bson::Double(x) => *x as i64,
        _ => 0,
    }
}

fn as_f64(v: &Bson) -> f64 {
    match v {
        Bson::Int32(n) => f64::from(*n),
        Bson::Int64(n) => *n as f64,
        Bson::Double(x) => *x,
        _ => 0.0,
    }
}

/// Two operators may not touch the same path, or one a prefix of the other.
fn check_conflicts(update: &Document) -> Result<(), CommandError> {
    let mut seen: Vec<String> = Vec::new();
    for (op, arg) in update {
        let Bson::Document(args) = arg else { continue };
        for (path, value) in args {
            let mut touched = vec![path.clone()];
            if op == "$rename"
                && let Bson::String(to) = value
            {
                touched.push(to.clone());
            }
            for p in touched {
                if let Some(other) = seen.iter().find(|s| {
                    **s == p || s.starts_with(&format!("{p}.")) || p.starts_with(&format!("{s}."))
                }) {
                    return Err(CommandError::new(
                        40,
                        "ConflictingUpdateOperators",
                        format!("Updating the path '{p}' would create a conflict at '{other}'"),
                    ));
                }
                seen.push(p);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn run(mut d: Document, u: Document) -> (Document, Vec<Change>) {
        let changes = apply_operators(&mut d, &u, false).unwrap();
        (d, changes)
    }

    #[test]
    fn common_operators() {
        let (d, c) = run(
            doc! {"_id": 1, "n": 1, "tags": ["a"], "old": 1, "gone": 0},
            doc! {
                "$set": {"s.x": "y"}, "$inc": {"n": 2}, "$push": {"tags": "b"}, "$rename": {"old": "new"}, "$unset": {"gone": ""},
            },
        );
        assert_eq!(
            d,
            doc! {"_id": 1, "n": 3, "tags": ["a", "b"], "s": {"x": "y"}, "new": 1}
        );
        assert_eq!(
            c,
            vec![
                Change::Updated("s.x".into()),
                Change::Updated("n".into()),
                Change::Updated("tags.1".into()),
                Change::Removed("old".into()),
                Change::Updated("new".into()),
                Change::Removed("gone".into()),
            ]
        );
    }

    #[test]
    fn no_op_updates_change_nothing() {
        let (_, c) = run(
            doc! {"_id": 1, "a": 1, "b": 5},
            doc! {"$set": {"a": 1}, "$max": {"b": 0}, "$unset": {"zz": ""}},
        );
        assert!(c.is_empty());
    }

    #[test]
    fn pull_and_pop() {
        let (d, c) = run(
            doc! {"_id": 1, "a": [1, 2, 3, 2], "b": [{"x": 1}, {"x": 5}], "c": [1, 2]},
            doc! {
                "$pull": {"a": 2, "b": {"x": {"$gt": 2}}}, "$pop": {"c": 1},
            },
        );
        assert_eq!(d, doc! {"_id": 1, "a": [1, 3], "b": [{"x": 1}], "c": [1]});
        assert_eq!(
            c,
            vec![
                Change::Updated("a".into()),
                Change::Updated("b".into()),
                Change::Truncated("c".into(), 1)
            ]
        );
    }

    #[test]
    fn set_on_insert_add_to_set_min_current_date() {
        let mut d = doc! {"_id": 1, "tags": ["a"], "low": 5};
        let u = doc! {
            "$setOnInsert": {"created": true}, "$addToSet": {"tags": {"$each": ["a", "b"]}},
            "$min": {"low": 3}, "$currentDate": {"seen": true, "ts": {"$type": "timestamp"}},
        };
        let changes = apply_operators(&mut d, &u, false).unwrap();
        assert!(
            !d.contains_key("created"),
            "$setOnInsert only applies to upserts"
        );
        assert_eq!(
            d.get_array("tags").unwrap(),
            &vec![Bson::String("a".into()), Bson::String("b".into())]
        );
        assert_eq!(d.get_i32("low").unwrap(), 3);
        assert!(d.get_datetime("seen").is_ok() && d.get_timestamp("ts").is_ok());
        assert_eq!(
            changes[0],
            Change::Updated("tags.1".into()),
            "addToSet appends like $push"
        );
        let mut fresh = doc! {"_id": 2};
        apply_operators(&mut fresh, &doc! {"$setOnInsert": {"created": true}}, true).unwrap();
        assert_eq!(fresh.get_bool("created"), Ok(true));
    }

    #[test]
    fn errors_match_the_server() {
        let mut d = doc! {"_id": 1, "s": "x"};
        assert_eq!(
            apply_operators(&mut d, &doc! {"$inc": {"s": 1}}, false)
                .unwrap_err()
                .code,
            14
        );
        assert_eq!(
            apply_operators(&mut d, &doc! {"$foo": {"s": 1}}, false)
                .unwrap_err()
                .code,
            9
        );
        assert_eq!(
            apply_operators(&mut d, &doc! {"$set": {"_id": 2}}, false)
                .unwrap_err()
                .code,
            66
        );
        assert_eq!(
            apply_operators(&mut d, &doc! {"$set": {"a": 1}, "$inc": {"a.b": 1}}, false)
                .unwrap_err()
                .code,
            40
        );
    }
}
