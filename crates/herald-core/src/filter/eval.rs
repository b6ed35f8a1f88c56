//! Evaluating a compiled filter against a raw document.

use super::order::{compare, number, type_rank};
use super::types::TypeSelector;
use bson::raw::{RawArray, RawDocument};
use bson::{RawBson, RawBsonRef};
use std::cmp::Ordering;

/// A compiled query expression.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Nor(Vec<Expr>),
    Not(Box<Expr>),
    /// A condition on the values at a path (any value satisfying it is enough).
    Field {
        path: Vec<String>,
        pred: Pred,
    },
    Const(bool),
}

/// A condition on one value.
#[derive(Debug, Clone)]
pub(crate) enum Pred {
    Eq(RawBson),
    Cmp(CmpOp, RawBson),
    In(Vec<InItem>),
    /// The path has a value (`$exists: false` compiles to its negation).
    Exists,
    Type(Vec<TypeSelector>),
    Regex(Box<regex::Regex>),
    Size(usize),
    Mod(i64, i64),
    ElemMatchQuery(Box<Expr>),
    ElemMatchOps(Vec<Clause>),
}

/// One clause of an operator document: a condition or a negated group (`$ne`, `$nin`, `$not`).
#[derive(Debug, Clone)]
pub(crate) enum Clause {
    Holds(Pred),
    Fails(Vec<Clause>),
    Const(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone)]
pub(crate) enum InItem {
    Value(RawBson),
    Regex(Box<regex::Regex>),
}

/// A value found at a path, or the absence of one.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Found<'a> {
    Value(RawBsonRef<'a>),
    Missing,
}

impl Expr {
    pub(crate) fn matches(&self, doc: &RawDocument) -> bool {
        match self {
            Self::And(all) => all.iter().all(|e| e.matches(doc)),
            Self::Or(any) => any.iter().any(|e| e.matches(doc)),
            Self::Nor(none) => !none.iter().any(|e| e.matches(doc)),
            Self::Not(inner) => !inner.matches(doc),
            Self::Const(value) => *value,
            Self::Field { path, pred } => {
                let expand = pred.expands_arrays();
                visit_document(doc, path, expand, &mut |found| pred.holds(found))
            }
        }
    }
}

impl Pred {
    /// Whether the condition also applies to the elements of an array at the end of
    /// the path. `$size` and `$elemMatch` look at the array itself.
    fn expands_arrays(&self) -> bool {
        !matches!(
            self,
            Self::Size(_) | Self::ElemMatchQuery(_) | Self::ElemMatchOps(_)
        )
    }

    pub(crate) fn holds(&self, found: Found<'_>) -> bool {
        match self {
            Self::Exists => matches!(found, Found::Value(_)),
            Self::Eq(operand) => equals(found, operand.as_raw_bson_ref()),
            Self::Cmp(op, operand) => compares(found, *op, operand.as_raw_bson_ref()),
            Self::In(items) => items.iter().any(|item| match item {
                InItem::Value(v) => equals(found, v.as_raw_bson_ref()),
                InItem::Regex(re) => regex_matches(re, found),
            }),
            Self::Regex(re) => regex_matches(re, found),
            Self::Type(selectors) => match found {
                Found::Value(v) => selectors.iter().any(|s| s.matches(v)),
                Found::Missing => false,
            },
            Self::Size(n) => match found {
                Found::Value(RawBsonRef::Array(arr)) => arr.into_iter().count() == *n,
                _ => false,
            },
            Self::Mod(divisor, remainder) => match found {
                Found::Value(v) => match number(v) {
                    Some(super::order::Number::Int(i)) => i.wrapping_rem(*divisor) == *remainder,
                    Some(super::order::Number::Float(f)) if f.is_finite() => {
                        (f.trunc() as i64).wrapping_rem(*divisor) == *remainder
                    }
                    _ => false,
                },
                Found::Missing => false,
            },
            Self::ElemMatchQuery(query) => elements(found).any(|e| match e {
                RawBsonRef::Document(d) => query.matches(d),
                _ => false,
            }),
            Self::ElemMatchOps(clauses) => {
                elements(found).any(|e| clauses.iter().all(|c| c.holds(Found::Value(e))))
            }
        }
    }
}

impl Clause {
    fn holds(&self, found: Found<'_>) -> bool {
        match self {
            Self::Holds(pred) => pred.holds(found),
            Self::Fails(group) => !group.iter().all(|c| c.holds(found)),
            Self::Const(value) => *value,
        }
    }
}

fn elements<'a>(found: Found<'a>) -> impl Iterator<Item = RawBsonRef<'a>> {
    let array = match found {
        Found::Value(RawBsonRef::Array(arr)) => Some(arr),
        _ => None,
    };
    array.into_iter().flat_map(|arr| arr.into_iter().flatten())
}

fn is_nullish(found: Found<'_>) -> bool {
    matches!(
        found,
        Found::Missing | Found::Value(RawBsonRef::Null | RawBsonRef::Undefined)
    )
}

fn equals(found: Found<'_>, operand: RawBsonRef<'_>) -> bool {
    if matches!(operand, RawBsonRef::Null) {
        return is_nullish(found);
    }
    match found {
        Found::Value(v) => {
            type_rank(v) == type_rank(operand) && compare(v, operand) == Ordering::Equal
        }
        Found::Missing => false,
    }
}

fn compares(found: Found<'_>, op: CmpOp, operand: RawBsonRef<'_>) -> bool {
    // A missing field compares as null: `{$gte: null}` matches it.
    let value = match found {
        Found::Value(v) => v,
        Found::Missing => RawBsonRef::Null,
    };
    let bracketed = matches!(operand, RawBsonRef::MinKey | RawBsonRef::MaxKey);
    let same_class = type_rank(value) == type_rank(operand)
        || (matches!(operand, RawBsonRef::Null) && matches!(value, RawBsonRef::Undefined));
    if !bracketed && !same_class {
        return false;
    }
    let order = if same_class {
        compare(value, operand)
    } else {
        type_rank(value).cmp(&type_rank(operand))
    };
    match op {
        CmpOp::Gt => order == Ordering::Greater,
        CmpOp::Gte => order != Ordering::Less,
        CmpOp::Lt => order == Ordering::Less,
        CmpOp::Lte => order != Ordering::Greater,
    }
}

fn regex_matches(re: &regex::Regex, found: Found<'_>) -> bool {
    match found {
        Found::Value(RawBsonRef::String(s) | RawBsonRef::Symbol(s)) => re.is_match(s),
        _ => false,
    }
}

/// Calls `f` on every value the path reaches in `doc` (and, with `expand`,
/// on the elements of arrays at its end) until `f` returns true.
pub(crate) fn visit_document<'a>(
    doc: &'a RawDocument,
    path: &[String],
    expand: bool,
    f: &mut dyn FnMut(Found<'a>) -> bool,
) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    match crate::raw::get(doc, first) {
        Some(value) => visit_value(value, rest, expand, f),
        None => f(Found::Missing),
    }
}

fn visit_value<'a>(
    value: RawBsonRef<'a>,
    path: &[String],
    expand: bool,
    f: &mut dyn FnMut(Found<'a>) -> bool,
) -> bool {
    if path.is_empty() {
        if f(Found::Value(value)) {
            return true;
        }
        if expand && let RawBsonRef::Array(arr) = value {
            return arr.into_iter().flatten().any(|e| f(Found::Value(e)));
        }
        return false;
    }
    match value {
        RawBsonRef::Document(doc) => visit_document(doc, path, expand, f),
        RawBsonRef::Array(arr) => visit_array(arr, path, expand, f),
        _ => f(Found::Missing),
    }
}

fn visit_array<'a>(
    arr: &'a RawArray,
    path: &[String],
    expand: bool,
    f: &mut dyn FnMut(Found<'a>) -> bool,
) -> bool {
    let mut reached = false;
    if let Some(index) = array_index(&path[0])
        && let Ok(Some(element)) = arr.get(index)
    {
        reached = true;
        if visit_value(element, &path[1..], expand, f) {
            return true;
        }
    }
    for element in arr.into_iter().flatten() {
        if let RawBsonRef::Document(doc) = element {
            reached = true;
            if visit_document(doc, path, expand, f) {
                return true;
            }
        }
    }
    !reached && f(Found::Missing)
}

/// A path component that indexes an array: decimal digits without a leading zero.
fn array_index(component: &str) -> Option<usize> {
    let digits = !component.is_empty() && component.bytes().all(|b| b.is_ascii_digit());
    let canonical = component == "0" || !component.starts_with('0');
    if digits && canonical {
        component.parse().ok()
    } else {
        None
    }
}
