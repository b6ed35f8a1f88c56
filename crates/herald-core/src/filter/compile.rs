//! Compiling a filter document into an expression tree, with errors that name where.

use super::FilterError;
use super::eval::{Clause, CmpOp, Expr, InItem, Pred};
use super::types::TypeSelector;
use bson::{Bson, Document, RawBson, Regex as BsonRegex};

fn error(at: &str, message: impl Into<String>) -> FilterError {
    FilterError {
        at: if at.is_empty() {
            "<filter>".into()
        } else {
            at.to_owned()
        },
        message: message.into(),
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

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
        Bson::RegularExpression(re) => vec![Clause::Holds(Pred::Regex(Box::new(regex(re, at)?)))],
        other => vec![Clause::Holds(Pred::Eq(raw(other, at)?))],
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

/// A document whose first key is an operator is an operator document, as in the server.
fn is_operator_document(doc: &Document) -> bool {
    doc.keys().next().is_some_and(|k| k.starts_with('$'))
}

/// Compiles `{$gt: 1, $lt: 5, ...}`: every clause must hold.
fn operators(ops: &Document, at: &str) -> Result<Vec<Clause>, FilterError> {
    let mut clauses = Vec::with_capacity(ops.len());
    for (op, operand) in ops {
        let here = join(at, op);
        let pred = match op.as_str() {
            "$eq" => Pred::Eq(raw(operand, &here)?),
            "$ne" => {
                clauses.push(Clause::Fails(vec![Clause::Holds(Pred::Eq(raw(
                    operand, &here,
                )?))]));
                continue;
            }
            "$gt" => Pred::Cmp(CmpOp::Gt, raw(operand, &here)?),
            "$gte" => Pred::Cmp(CmpOp::Gte, raw(operand, &here)?),
            "$lt" => Pred::Cmp(CmpOp::Lt, raw(operand, &here)?),
            "$lte" => Pred::Cmp(CmpOp::Lte, raw(operand, &here)?),
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
            "$regex" => {
                let options = match ops.get("$options") {
                    Some(Bson::String(o)) => o.clone(),
                    Some(_) => {
                        return Err(error(&join(at, "$options"), "$options must be a string"));
                    }
                    None => String::new(),
                };
                let re = match operand {
                    Bson::String(pattern) => BsonRegex {
                        pattern: pattern.clone(),
                        options,
                    },
                    Bson::RegularExpression(re) if options.is_empty() => re.clone(),
                    Bson::RegularExpression(_) => {
                        return Err(error(
                            &here,
                            "give options either in the regex or in $options, not both",
                        ));
                    }
                    _ => {
                        return Err(error(
                            &here,
                            "$regex needs a string or a regular expression",
                        ));
                    }
                };
                Pred::Regex(Box::new(regex(&re, &here)?))
            }
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
                        vec![Clause::Holds(Pred::Regex(Box::new(regex(re, &here)?)))]
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
            "$elemMatch" => {
                let Bson::Document(inner) = operand else {
                    return Err(error(&here, "$elemMatch needs a document"));
                };
                let element_operators = is_operator_document(inner)
                    && !matches!(
                        inner.keys().next().map(String::as_str),
                        Some("$and" | "$or" | "$nor")
                    );
                if element_operators {
                    Pred::ElemMatchOps(operators(inner, &here)?)
                } else {
                    Pred::ElemMatchQuery(Box::new(query(inner, &here)?))
                }
            }
            "$size" => Pred::Size(size(operand, &here)?),
            "$all" => {
                let Bson::Array(items) = operand else {
                    return Err(error(&here, "$all needs an array"));
                };
                if items.is_empty() {
                    // The server matches nothing for an empty $all.
                    clauses.push(Clause::Const(false));
                }
                for (i, item) in items.iter().enumerate() {
                    let item_at = join(&here, &i.to_string());
                    clauses.push(match item {
                        Bson::Document(d)
                            if d.keys().next().map(String::as_str) == Some("$elemMatch") =>
                        {
                            operators(d, &item_at)?
                                .pop()
                                .expect("one $elemMatch clause")
                        }
                        Bson::RegularExpression(re) => {
                            Clause::Holds(Pred::Regex(Box::new(regex(re, &item_at)?)))
                        }
                        other => Clause::Holds(Pred::Eq(raw(other, &item_at)?)),
                    });
                }
                continue;
            }
            "$mod" => modulo(operand, &here)?,
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

fn raw(value: &Bson, at: &str) -> Result<RawBson, FilterError> {
    RawBson::try_from(value.clone())
        .map_err(|e| error(at, format!("value cannot be encoded as BSON: {e}")))
}

fn truthy(value: &Bson) -> bool {
    match value {
        Bson::Boolean(b) => *b,
        Bson::Int32(n) => *n != 0,
        Bson::Int64(n) => *n != 0,
        Bson::Double(x) => *x != 0.0,
        Bson::Null | Bson::Undefined => false,
        _ => true,
    }
}

fn in_items(value: &Bson, at: &str, op: &str) -> Result<Vec<InItem>, FilterError> {
    let Bson::Array(items) = value else {
        return Err(error(at, format!("{op} needs an array")));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let here = join(at, &i.to_string());
            match item {
                Bson::RegularExpression(re) => Ok(InItem::Regex(Box::new(regex(re, &here)?))),
                Bson::Document(d) if is_operator_document(d) => {
                    Err(error(&here, format!("{op} cannot contain operators")))
                }
                other => Ok(InItem::Value(raw(other, &here)?)),
            }
        })
        .collect()
}

fn type_selectors(value: &Bson, at: &str) -> Result<Vec<TypeSelector>, FilterError> {
    let one = |v: &Bson| -> Result<TypeSelector, FilterError> {
        let selector = match v {
            Bson::String(alias) => TypeSelector::from_alias(alias),
            Bson::Int32(n) => TypeSelector::from_code(f64::from(*n)),
            Bson::Int64(n) => TypeSelector::from_code(*n as f64),
            Bson::Double(x) => TypeSelector::from_code(*x),
            _ => None,
        };
        selector.ok_or_else(|| error(at, format!("unknown BSON type {v} for $type; use a type name such as \"string\", \"number\", \"date\"")))
    };
    match value {
        Bson::Array(items) if items.is_empty() => Err(error(at, "$type needs at least one type")),
        Bson::Array(items) => items.iter().map(one).collect(),
        single => Ok(vec![one(single)?]),
    }
}

fn size(value: &Bson, at: &str) -> Result<usize, FilterError> {
    let n = match value {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(x) if x.fract() == 0.0 => Some(*x as i64),
        _ => None,
    };
    n.and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| error(at, "$size needs a non-negative whole number"))
}

fn modulo(value: &Bson, at: &str) -> Result<Pred, FilterError> {
    let whole = |v: &Bson| match v {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(x) if x.is_finite() => Some(x.trunc() as i64),
        _ => None,
    };
    match value {
        Bson::Array(pair) if pair.len() == 2 => match (whole(&pair[0]), whole(&pair[1])) {
            (Some(0), _) => Err(error(at, "$mod divisor cannot be 0")),
            (Some(d), Some(r)) => Ok(Pred::Mod(d, r)),
            _ => Err(error(at, "$mod needs two numbers: [divisor, remainder]")),
        },
        _ => Err(error(at, "$mod needs an array [divisor, remainder]")),
    }
}

/// Translates a MongoDB (PCRE) regex with its options to Rust's `regex`.
fn regex(re: &BsonRegex, at: &str) -> Result<regex::Regex, FilterError> {
    let mut builder = regex::RegexBuilder::new(&re.pattern);
    for option in re.options.chars() {
        match option {
            'i' => builder.case_insensitive(true),
            'm' => builder.multi_line(true),
            's' => builder.dot_matches_new_line(true),
            'x' => builder.ignore_whitespace(true),
            'u' => &mut builder,
            other => {
                return Err(error(
                    at,
                    format!("unknown regex option {other:?}; MongoDB accepts i, m, s, x, u"),
                ));
            }
        };
    }
    builder
        .build()
        .map_err(|e| error(at, format!("invalid regular expression: {e}")))
}
