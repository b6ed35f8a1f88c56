//! Compiling a filter document into an expression tree, with errors that name where.

use super::FilterError;
use super::eval::{Clause, CmpOp, Expr, Pred};
use super::operands::{
    comparand, error, in_items, is_operator_document, join, modulo, pattern, size, truthy,
    type_selectors,
};
use bson::{Bson, Document, Regex as BsonRegex};

/// Top-level operators that take no path; inside `$elemMatch` they make it a query on documents.
const PATHLESS: [&str; 11] = [
    "$and",
    "$or",
    "$nor",
    "$comment",
    "$expr",
    "$where",
    "$text",
    "$jsonSchema",
    "$alwaysTrue",
    "$alwaysFalse",
    "$sampleRate",
];

/// Compiles a query document (`{field: cond, $or: [...], ...}`).
pub(super) fn query(doc: &Document, at: &str) -> Result<Expr, FilterError> {
    let mut all = Vec::with_capacity(doc.len());
    for (key, value) in doc {
        let here = join(at, key);
        match key.as_str() {
            "$and" | "$or" | "$nor" => {
                let branches = subqueries(value, &here, key)?;
                all.push(match key.as_str() {
                    "$and" => Expr::And(branches),
                    "$or" => Expr::Or(branches),
                    _ => Expr::Nor(branches),
                });
            }
            "$comment" => {}
            "$alwaysTrue" | "$alwaysFalse" => {
                if !matches!(value, Bson::Int32(1) | Bson::Int64(1) | Bson::Double(1.0)) {
                    return Err(error(&here, format!("{key} must be an integer value of 1")));
                }
                all.push(Expr::Const(key == "$alwaysTrue"));
            }
            "$expr" | "$where" | "$text" | "$jsonSchema" | "$sampleRate" => {
                return Err(error(
                    &here,
                    format!(
                        "{key} is not supported in rule filters; use field conditions, or test the condition in the handler"
                    ),
                ));
            }
            k if k.starts_with('$') => {
                return Err(error(
                    &here,
                    format!(
                        "unknown top-level operator {k}; expected $and, $or, $nor or a field name"
                    ),
                ));
            }
            field => all.push(field_condition(field, value, &here)?),
        }
    }
    Ok(if all.len() == 1 {
        all.pop().expect("one")
    } else {
        Expr::And(all)
    })
}

fn subqueries(value: &Bson, at: &str, op: &str) -> Result<Vec<Expr>, FilterError> {
    let Bson::Array(items) = value else {
        return Err(error(
            at,
            format!("{op} needs an array of filter documents"),
        ));
    };
    if items.is_empty() {
        return Err(error(at, format!("{op} needs a non-empty array")));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Bson::Document(d) => query(d, &join(at, &i.to_string())),
            _ => Err(error(
                &join(at, &i.to_string()),
                format!("each {op} entry must be a document"),
            )),
        })
        .collect()
}

fn split_path(field: &str, at: &str) -> Result<Vec<String>, FilterError> {
    if field.split('.').any(str::is_empty) {
        return Err(error(
            at,
            format!("field path {field:?} has an empty component"),
        ));
    }
    Ok(field.split('.').map(str::to_owned).collect())
}

fn field_condition(field: &str, value: &Bson, at: &str) -> Result<Expr, FilterError> {
    let path = split_path(field, at)?;
    let clauses = match value {
        Bson::Document(ops) if is_operator_document(ops) => operators(ops, at)?,
        Bson::RegularExpression(re) => vec![Clause::Holds(Pred::Regex(pattern(re, at)?))],
        other => vec![Clause::Holds(Pred::Eq(comparand(other, at)?))],
    };
    Ok(clauses_to_expr(&path, clauses))
}

fn clauses_to_expr(path: &[String], clauses: Vec<Clause>) -> Expr {
    let mut all: Vec<Expr> = clauses
        .into_iter()
        .map(|clause| match clause {
            Clause::Holds(pred) => Expr::Field {
                path: path.to_vec(),
                pred,
            },
            Clause::Fails(group) => Expr::Not(Box::new(clauses_to_expr(path, group))),
            Clause::Const(value) => Expr::Const(value),
        })
        .collect();
    if all.len() == 1 {
        all.pop().expect("one")
    } else {
        Expr::And(all)
    }
}

/// Compiles `{$gt: 1, $lt: 5, ...}`: every clause must hold.
fn operators(ops: &Document, at: &str) -> Result<Vec<Clause>, FilterError> {
    let mut clauses = Vec::with_capacity(ops.len());
    for (op, operand) in ops {
        let here = join(at, op);
        let pred = match op.as_str() {
            "$eq" => Pred::Eq(comparand(operand, &here)?),
            "$ne" => {
                if matches!(operand, Bson::RegularExpression(_)) {
                    return Err(error(&here, "$ne cannot take a regex; use {$not: /re/}"));
                }
                clauses.push(Clause::Fails(vec![Clause::Holds(Pred::Eq(comparand(
                    operand, &here,
                )?))]));
                continue;
            }
            "$gt" | "$gte" | "$lt" | "$lte" => {
                if matches!(operand, Bson::RegularExpression(_)) {
                    return Err(error(&here, format!("{op} cannot take a regex")));
                }
                let cmp = match op.as_str() {
                    "$gt" => CmpOp::Gt,
                    "$gte" => CmpOp::Gte,
                    "$lt" => CmpOp::Lt,
                    _ => CmpOp::Lte,
                };
                Pred::Cmp(cmp, comparand(operand, &here)?)
            }
            "$in" => Pred::In(in_items(operand, &here, "$in")?),
            "$nin" => {
                let items = in_items(operand, &here, "$nin")?;
                clauses.push(Clause::Fails(vec![Clause::Holds(Pred::In(items))]));
                continue;
            }
            // `$exists: false` is NOT(`$exists: true`), as on the server: through
            // an array, it holds only if no element has the field.
            "$exists" if truthy(operand) => Pred::Exists,
            "$exists" => {
                clauses.push(Clause::Fails(vec![Clause::Holds(Pred::Exists)]));
                continue;
            }
            "$type" => Pred::Type(type_selectors(operand, &here)?),
            "$regex" => Pred::Regex(regex_operator(ops, operand, at)?),
            "$options" => {
                if !ops.contains_key("$regex") {
                    return Err(error(&here, "$options needs a $regex beside it"));
                }
                continue;
            }
            "$not" => {
                let group = match operand {
                    Bson::Document(inner) if !inner.is_empty() && is_operator_document(inner) => {
                        operators(inner, &here)?
                    }
                    Bson::RegularExpression(re) => {
                        vec![Clause::Holds(Pred::Regex(pattern(re, &here)?))]
                    }
                    _ => {
                        return Err(error(
                            &here,
                            "$not needs an operator document such as {$gt: 5}, or a regex",
                        ));
                    }
                };
                clauses.push(Clause::Fails(group));
                continue;
            }
            "$elemMatch" => elem_match(operand, &here)?,
            "$size" => Pred::Size(size(operand, &here)?),
            "$all" => {
                clauses.extend(all(operand, &here)?);
                continue;
            }
            "$mod" => {
                let (divisor, remainder) = modulo(operand, &here)?;
                Pred::Mod(divisor, remainder)
            }
            other => {
                return Err(error(
                    &here,
                    format!(
                        "unknown operator {other}; supported: $eq $ne $gt $gte $lt $lte $in $nin $exists $type $regex $not $elemMatch $size $all $mod"
                    ),
                ));
            }
        };
        clauses.push(Clause::Holds(pred));
    }
    Ok(clauses)
}

/// `$regex` with its `$options`: flags may sit in either place, not both.
fn regex_operator(
    ops: &Document,
    operand: &Bson,
    at: &str,
) -> Result<Box<super::pattern::Pattern>, FilterError> {
    let here = join(at, "$regex");
    let options = match ops.get("$options") {
        Some(Bson::String(o)) => o.clone(),
        Some(_) => return Err(error(&join(at, "$options"), "$options must be a string")),
        None => String::new(),
    };
    let re = match operand {
        Bson::String(source) => BsonRegex {
            pattern: source.clone(),
            options,
        },
        Bson::RegularExpression(re) if re.options.is_empty() || options.is_empty() => BsonRegex {
            pattern: re.pattern.clone(),
            options: if options.is_empty() {
                re.options.clone()
            } else {
                options
            },
        },
        Bson::RegularExpression(_) => {
            return Err(error(
                &here,
                "options set in both $regex and $options; give them in one place",
            ));
        }
        _ => {
            return Err(error(
                &here,
                "$regex needs a string or a regular expression",
            ));
        }
    };
    pattern(&re, &here)
}

/// `$elemMatch`: operators on each element, or a query on each document element.
fn elem_match(operand: &Bson, at: &str) -> Result<Pred, FilterError> {
    let Bson::Document(inner) = operand else {
        return Err(error(at, "$elemMatch needs a document"));
    };
    let first = inner.keys().next().map(String::as_str);
    let dbref = ["$ref", "$id", "$db"]
        .iter()
        .any(|k| inner.contains_key(*k));
    let element_operators = first.is_some_and(|k| k.starts_with('$'))
        && !dbref
        && !PATHLESS.contains(&first.unwrap_or(""));
    Ok(if element_operators {
        Pred::ElemMatchOps(operators(inner, at)?)
    } else {
        Pred::ElemMatchQuery(Box::new(query(inner, at)?))
    })
}

/// `$all`: every value (or regex) must be at the path; or, if the first item is
/// an `$elemMatch`, all items must be, and one array must satisfy them all.
fn all(operand: &Bson, at: &str) -> Result<Vec<Clause>, FilterError> {
    let Bson::Array(items) = operand else {
        return Err(error(at, "$all needs an array"));
    };
    let is_elem_match = |item: &Bson| matches!(item, Bson::Document(d) if d.keys().next().map(String::as_str) == Some("$elemMatch"));
    if items.first().is_some_and(is_elem_match) {
        let mut each = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let item_at = join(at, &i.to_string());
            let Bson::Document(d) = item else {
                return Err(error(
                    &item_at,
                    "$all/$elemMatch has to be consistent: every item an $elemMatch",
                ));
            };
            match (d.len(), d.get("$elemMatch")) {
                (1, Some(inner)) => each.push(elem_match(inner, &join(&item_at, "$elemMatch"))?),
                _ => {
                    return Err(error(
                        &item_at,
                        "$all/$elemMatch has to be consistent: every item an $elemMatch",
                    ));
                }
            }
        }
        return Ok(vec![Clause::Holds(Pred::AllElemMatch(each))]);
    }
    if items.is_empty() {
        // The server matches nothing for an empty $all.
        return Ok(vec![Clause::Const(false)]);
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let item_at = join(at, &i.to_string());
            Ok(Clause::Holds(match item {
                Bson::RegularExpression(re) => Pred::Regex(pattern(re, &item_at)?),
                Bson::Document(d) if is_operator_document(d) => {
                    return Err(error(
                        &item_at,
                        "no $ expressions in $all (except $elemMatch as every item)",
                    ));
                }
                other => Pred::Eq(comparand(other, &item_at)?),
            }))
        })
        .collect()
}
