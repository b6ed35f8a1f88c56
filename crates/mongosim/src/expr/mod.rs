//! The aggregation expression language, as far as mongosim evaluates it:
//! literals and `{$literal}`, field paths (through arrays, as the server
//! does), expression objects and arrays, the variables `$$ROOT`,
//! `$$CURRENT`, `$$REMOVE` (and in `$redact` `$$KEEP`, `$$PRUNE`,
//! `$$DESCEND`), and `$cond`, `$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte`,
//! `$cmp`, `$and`, `$or`, `$not`, `$in`, `$ifNull` and `$toHashedIndexKey`
//! (7.0+; the key is [`herald_core::hashed`]'s, the server's).
//!
//! Any other operator is refused when the pipeline is parsed, with the
//! server's error for an unknown one (168 `InvalidPipelineOperator`), so
//! a stream is never opened that mongosim would evaluate wrongly.
//!
//! - [`parse`]: from BSON, with the server's parse errors.
//! - [`compare`]: the order of values, truthiness, missing vs null.
//! - [`number`]: exact comparison of numbers of every width.
//! - [`render`]: values as the server writes them into messages.

pub mod compare;
pub mod number;
pub mod parse;
pub mod render;
#[cfg(test)]
mod tests;

use crate::error::CommandError;
use bson::{Bson, Document};
use std::cmp::Ordering;

/// A variable a field path starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// `$$ROOT`: the document the stage received.
    Root,
    /// `$$CURRENT` (and `$a`): the root, or in `$redact` the sub-document visited.
    Current,
    /// `$$REMOVE`: missing.
    Remove,
    /// `$$KEEP`, `$$PRUNE`, `$$DESCEND` (in `$redact`): the strings `keep`, `prune`, `descend`.
    Redact(&'static str),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    /// `$cmp`: -1, 0 or 1.
    Cmp,
}

/// A parsed expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A constant (`None`: missing, which `$$REMOVE` folds to).
    Constant(Option<Bson>),
    /// A variable, then a dotted path into it.
    Path {
        var: Var,
        fields: Vec<String>,
    },
    /// `[e1, e2]`: missing elements become null.
    Array(Vec<Expr>),
    /// `{a: e1}`: missing fields are left out.
    Object(Vec<(String, Expr)>),
    /// `$cond`: if, then, else.
    Cond(Box<[Expr; 3]>),
    /// `$eq` and the other comparisons.
    Compare(Cmp, Box<[Expr; 2]>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// What optimizing `$and`/`$or` may leave: the truthiness of one operand.
    CoerceToBool(Box<Expr>),
    In(Box<[Expr; 2]>),
    IfNull(Vec<Expr>),
    /// `$toHashedIndexKey`: the value's hashed-index key, a Long.
    ToHashedIndexKey(Box<Expr>),
}

/// What variables refer to while evaluating.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    /// `$$ROOT`.
    pub root: &'a Document,
    /// `$$CURRENT`; the root when `None`.
    pub current: Option<&'a Document>,
}

impl<'a> Vars<'a> {
    /// Variables for a document: `$$ROOT` and `$$CURRENT` are both it.
    pub fn root(root: &'a Document) -> Self {
        Self {
            root,
            current: None,
        }
    }
}

impl Expr {
    /// Evaluates against a document; `None` is missing.
    pub fn eval(&self, vars: &Vars<'_>) -> Result<Option<Bson>, CommandError> {
        Ok(match self {
            Self::Constant(v) => v.clone(),
            Self::Path { var, fields } => path(*var, fields, vars),
            Self::Array(items) => Some(Bson::Array(
                items
                    .iter()
                    .map(|e| Ok(e.eval(vars)?.unwrap_or(Bson::Null)))
                    .collect::<Result<_, CommandError>>()?,
            )),
            Self::Object(fields) => {
                let mut out = Document::new();
                for (name, e) in fields {
                    if let Some(v) = e.eval(vars)? {
                        out.insert(name.clone(), v);
                    }
                }
                Some(Bson::Document(out))
            }
            Self::Cond(parts) => {
                let [test, then, otherwise] = parts.as_ref();
                if compare::truthy(test.eval(vars)?.as_ref()) {
                    then.eval(vars)?
                } else {
                    otherwise.eval(vars)?
                }
            }
            Self::Compare(op, sides) => {
                let left = sides[0].eval(vars)?;
                let right = sides[1].eval(vars)?;
                let order = compare::compare(left.as_ref(), right.as_ref());
                Some(match op {
                    Cmp::Eq => Bson::Boolean(order.is_eq()),
                    Cmp::Ne => Bson::Boolean(order.is_ne()),
                    Cmp::Gt => Bson::Boolean(order.is_gt()),
                    Cmp::Gte => Bson::Boolean(order.is_ge()),
                    Cmp::Lt => Bson::Boolean(order.is_lt()),
                    Cmp::Lte => Bson::Boolean(order.is_le()),
                    Cmp::Cmp => Bson::Int32(order as i32),
                })
            }
            Self::And(items) => {
                for e in items {
                    if !compare::truthy(e.eval(vars)?.as_ref()) {
                        return Ok(Some(Bson::Boolean(false)));
                    }
                }
                Some(Bson::Boolean(true))
            }
            Self::Or(items) => {
                for e in items {
                    if compare::truthy(e.eval(vars)?.as_ref()) {
                        return Ok(Some(Bson::Boolean(true)));
                    }
                }
                Some(Bson::Boolean(false))
            }
            Self::Not(e) => Some(Bson::Boolean(!compare::truthy(e.eval(vars)?.as_ref()))),
            Self::CoerceToBool(e) => Some(Bson::Boolean(compare::truthy(e.eval(vars)?.as_ref()))),
            Self::In(sides) => {
                let needle = sides[0].eval(vars)?;
                let haystack = match sides[1].eval(vars)? {
                    Some(Bson::Array(items)) => items,
                    other => {
                        return Err(CommandError::location(
                            40081,
                            format!(
                                "$in requires an array as a second argument, found: {}",
                                compare::type_name(other.as_ref())
                            ),
                        ));
                    }
                };
                let hit = haystack
                    .iter()
                    .any(|v| compare::compare(needle.as_ref(), Some(v)) == Ordering::Equal);
                Some(Bson::Boolean(hit))
            }
            Self::IfNull(items) => {
                for (i, e) in items.iter().enumerate() {
                    let v = e.eval(vars)?;
                    if !compare::nullish(v.as_ref()) || i + 1 == items.len() {
                        return Ok(v);
                    }
                }
                None
            }
            // Missing hashes as null, as on the server.
            Self::ToHashedIndexKey(e) => {
                let value = e.eval(vars)?.unwrap_or(Bson::Null);
                Some(Bson::Int64(herald_core::hashed::hashed_index_key(&value)))
            }
        })
    }

    /// Folds what does not depend on the document, as the server optimizes
    /// a pipeline before running it (errors of folded parts surface here).
    pub fn optimize(self) -> Result<Self, CommandError> {
        let folded = match self {
            Self::Constant(_) => return Ok(self),
            Self::Path {
                var: Var::Remove, ..
            } => return Ok(Self::Constant(None)),
            Self::Path { .. } => return Ok(self),
            Self::Cond(parts) => {
                let [test, then, otherwise] = *parts;
                let (test, then, otherwise) =
                    (test.optimize()?, then.optimize()?, otherwise.optimize()?);
                if let Self::Constant(c) = &test {
                    return Ok(if compare::truthy(c.as_ref()) {
                        then
                    } else {
                        otherwise
                    });
                }
                return Ok(Self::Cond(Box::new([test, then, otherwise])));
            }
            Self::And(items) => return fold_logical(items, true),
            Self::Or(items) => return fold_logical(items, false),
            Self::Array(items) => Self::Array(optimize_all(items)?),
            Self::Object(fields) => Self::Object(
                fields
                    .into_iter()
                    .map(|(k, e)| Ok((k, e.optimize()?)))
                    .collect::<Result<_, CommandError>>()?,
            ),
            Self::Compare(op, sides) => {
                let [l, r] = *sides;
                Self::Compare(op, Box::new([l.optimize()?, r.optimize()?]))
            }
            Self::In(sides) => {
                let [l, r] = *sides;
                Self::In(Box::new([l.optimize()?, r.optimize()?]))
            }
            Self::Not(e) => Self::Not(Box::new(e.optimize()?)),
            Self::ToHashedIndexKey(e) => Self::ToHashedIndexKey(Box::new(e.optimize()?)),
            Self::CoerceToBool(e) => return Ok(Self::CoerceToBool(Box::new(e.optimize()?))),
            Self::IfNull(items) => Self::IfNull(optimize_all(items)?),
        };
        if folded
            .children()
            .iter()
            .all(|c| matches!(c, Self::Constant(_)))
        {
            let empty = Document::new();
            return Ok(Self::Constant(folded.eval(&Vars::root(&empty))?));
        }
        Ok(folded)
    }

    fn children(&self) -> Vec<&Self> {
        match self {
            Self::Constant(_) | Self::Path { .. } => Vec::new(),
            Self::Array(items) | Self::And(items) | Self::Or(items) | Self::IfNull(items) => {
                items.iter().collect()
            }
            Self::Object(fields) => fields.iter().map(|(_, e)| e).collect(),
            Self::Cond(parts) => parts.iter().collect(),
            Self::Compare(_, sides) | Self::In(sides) => sides.iter().collect(),
            Self::Not(e) | Self::CoerceToBool(e) | Self::ToHashedIndexKey(e) => vec![e],
        }
    }
}

fn optimize_all(items: Vec<Expr>) -> Result<Vec<Expr>, CommandError> {
    items.into_iter().map(Expr::optimize).collect()
}

/// `$and` (`and`) or `$or`, optimized as the server does: nested ones of
/// the same kind are flattened, constants gathered at the end and folded;
/// a deciding constant decides the whole, an indifferent one is dropped.
fn fold_logical(items: Vec<Expr>, and: bool) -> Result<Expr, CommandError> {
    let make = |items| {
        if and {
            Expr::And(items)
        } else {
            Expr::Or(items)
        }
    };
    let items = optimize_all(items)?;
    let empty = Document::new();
    if items.iter().all(|e| matches!(e, Expr::Constant(_))) {
        return Ok(Expr::Constant(make(items).eval(&Vars::root(&empty))?));
    }
    let mut operands = Vec::new();
    let mut constants = Vec::new();
    let mut queue: std::collections::VecDeque<Expr> = items.into();
    while let Some(e) = queue.pop_front() {
        match e {
            Expr::Constant(_) => constants.push(e),
            Expr::And(nested) if and => nested.into_iter().rev().for_each(|n| queue.push_front(n)),
            Expr::Or(nested) if !and => nested.into_iter().rev().for_each(|n| queue.push_front(n)),
            other => operands.push(other),
        }
    }
    if constants.len() > 1 {
        constants = vec![Expr::Constant(make(constants).eval(&Vars::root(&empty))?)];
    }
    let Some(Expr::Constant(last)) = constants.pop() else {
        return Ok(make(operands));
    };
    // For $and a false constant decides (false), a true one is dropped; $or the reverse.
    if compare::truthy(last.as_ref()) != and {
        return Ok(Expr::Constant(Some(Bson::Boolean(!and))));
    }
    if operands.len() == 1 {
        return Ok(Expr::CoerceToBool(Box::new(operands.remove(0))));
    }
    Ok(make(operands))
}

/// The value of a variable, then of a path into it.
fn path(var: Var, fields: &[String], vars: &Vars<'_>) -> Option<Bson> {
    let doc = match var {
        Var::Root => vars.root,
        Var::Current => vars.current.unwrap_or(vars.root),
        Var::Remove => return None,
        Var::Redact(name) => {
            return fields.is_empty().then(|| Bson::String(name.to_owned()));
        }
    };
    if fields.is_empty() {
        return Some(Bson::Document(doc.clone()));
    }
    in_document(doc, fields)
}

fn in_document(doc: &Document, fields: &[String]) -> Option<Bson> {
    let value = doc.get(&fields[0])?;
    if fields.len() == 1 {
        return Some(value.clone());
    }
    match value {
        Bson::Document(d) => in_document(d, &fields[1..]),
        Bson::Array(items) => Some(in_array(items, &fields[1..])),
        _ => None,
    }
}

/// A path through an array: the values found in its documents (arrays
/// directly inside it are skipped), in order.
fn in_array(items: &[Bson], fields: &[String]) -> Bson {
    Bson::Array(
        items
            .iter()
            .filter_map(|item| match item {
                Bson::Document(d) => in_document(d, fields),
                _ => None,
            })
            .collect(),
    )
}
