//! Evaluating a compiled filter against a raw document.
//!
//! Paths are walked the way the server's `BSONElementIterator` walks them
//! (see [`visit_document`]), and each operator then looks at the values the
//! walk yields, as the server's `matchesSingleElement` does.

use super::order::{Number, compare, number, type_rank};
use super::pattern::Pattern;
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
    Regex(Box<Pattern>),
    Size(usize),
    Mod(i64, i64),
    ElemMatchQuery(Box<Expr>),
    ElemMatchOps(Vec<Clause>),
    /// `$all` of `$elemMatch`es: one array must satisfy every one of them.
    AllElemMatch(Vec<Pred>),
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
    Regex(Box<Pattern>),
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
                let mut yielded = false;
                let hit = visit_document(doc, path, pred.expands_arrays(), &mut |found| {
                    yielded = true;
                    pred.holds(found)
                });
                // MongoDB 8.0: a path that runs through arrays without reaching any
                // value (`a.b` on `a: [1, 2]` or `a: []`) counts as missing for
                // equality to null (`{"a.b": null}` and `$in: [null]` match it).
                hit || (!yielded && pred.seeks_null() && pred.holds(Found::Missing))
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
            Self::Size(_) | Self::ElemMatchQuery(_) | Self::ElemMatchOps(_) | Self::AllElemMatch(_)
        )
    }

    /// Equality to null, alone or in `$in`.
    fn seeks_null(&self) -> bool {
        let null = |v: &RawBson| matches!(v, RawBson::Null);
        match self {
            Self::Eq(v) => null(v),
            Self::In(items) => items
                .iter()
                .any(|i| matches!(i, InItem::Value(v) if null(v))),
            _ => false,
        }
    }

    pub(crate) fn holds(&self, found: Found<'_>) -> bool {
        let Found::Value(value) = found else {
            return match self {
                Self::Eq(operand) => matches!(operand, RawBson::Null),
                Self::Cmp(op, operand) => compares_missing(*op, operand.as_raw_bson_ref()),
                Self::In(items) => items
                    .iter()
                    .any(|i| matches!(i, InItem::Value(RawBson::Null))),
                _ => false,
            };
        };
        match self {
            Self::Exists => true,
            Self::Eq(operand) => equals(value, operand.as_raw_bson_ref()),
            Self::Cmp(op, operand) => compares(value, *op, operand.as_raw_bson_ref()),
            Self::In(items) => items.iter().any(|item| match item {
                InItem::Value(v) => equals(value, v.as_raw_bson_ref()),
                InItem::Regex(re) => re.matches(value),
            }),
            Self::Regex(re) => re.matches(value),
            Self::Type(selectors) => selectors.iter().any(|s| s.matches(value)),
            Self::Size(n) => match value {
                RawBsonRef::Array(arr) => arr.into_iter().count() == *n,
                _ => false,
            },
            Self::Mod(divisor, remainder) => {
                dividend(value).is_some_and(|d| d.wrapping_rem(*divisor) == *remainder)
            }
            Self::ElemMatchQuery(query) => elements(value).any(|e| match e {
                RawBsonRef::Document(d) => query.matches(d),
                // The server matches arrays inside the array as documents keyed "0", "1", ...
                RawBsonRef::Array(a) => {
                    RawDocument::from_bytes(a.as_bytes()).is_ok_and(|d| query.matches(d))
                }
                _ => false,
            }),
            Self::ElemMatchOps(clauses) => {
                elements(value).any(|e| clauses.iter().all(|c| c.holds(Found::Value(e))))
            }
            Self::AllElemMatch(all) => {
                matches!(value, RawBsonRef::Array(_)) && all.iter().all(|p| p.holds(found))
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

fn elements(value: RawBsonRef<'_>) -> impl Iterator<Item = RawBsonRef<'_>> {
    let array = match value {
        RawBsonRef::Array(arr) => Some(arr),
        _ => None,
    };
    array.into_iter().flat_map(|arr| arr.into_iter().flatten())
}

/// The dividend `$mod` uses: whole numbers as they are, others truncated toward
/// zero; NaN, infinities and values beyond a long match nothing.
fn dividend(value: RawBsonRef<'_>) -> Option<i64> {
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    match number(value)? {
        Number::Int(i) => Some(i),
        Number::Float(f) if f.is_finite() && (-TWO_POW_63..TWO_POW_63).contains(&f.trunc()) => {
            Some(f.trunc() as i64)
        }
        Number::Float(_) => None,
        Number::Decimal(d) => d.trunc_to_i64(),
    }
}

/// Equality as the server's `$eq`: same canonical type and equal value. Null
/// equals only null here (missing is handled by the caller); since MongoDB 8.0
/// it no longer equals `undefined`.
fn equals(value: RawBsonRef<'_>, operand: RawBsonRef<'_>) -> bool {
    type_rank(value) == type_rank(operand) && compare(value, operand) == Ordering::Equal
}

/// A comparison with a missing field: it counts as null for `$lte`/`$gte: null`,
/// and sits between MinKey and MaxKey.
fn compares_missing(op: CmpOp, operand: RawBsonRef<'_>) -> bool {
    match operand {
        RawBsonRef::Null => matches!(op, CmpOp::Gte | CmpOp::Lte),
        RawBsonRef::MinKey => matches!(op, CmpOp::Gt | CmpOp::Gte),
        RawBsonRef::MaxKey => matches!(op, CmpOp::Lt | CmpOp::Lte),
        _ => false,
    }
}

fn compares(value: RawBsonRef<'_>, op: CmpOp, operand: RawBsonRef<'_>) -> bool {
    if type_rank(value) != type_rank(operand) {
        // Only MinKey and MaxKey compare across types.
        return match operand {
            RawBsonRef::MinKey => matches!(op, CmpOp::Gt | CmpOp::Gte),
            RawBsonRef::MaxKey => matches!(op, CmpOp::Lt | CmpOp::Lte),
            _ => false,
        };
    }
    // NaN equals NaN but is neither above nor below anything.
    let nan = |v| number(v).is_some_and(Number::is_nan);
    if nan(value) || nan(operand) {
        return matches!(op, CmpOp::Gte | CmpOp::Lte) && nan(value) && nan(operand);
    }
    let order = compare(value, operand);
    match op {
        CmpOp::Gt => order == Ordering::Greater,
        CmpOp::Gte => order != Ordering::Less,
        CmpOp::Lt => order == Ordering::Less,
        CmpOp::Lte => order != Ordering::Greater,
    }
}

/// Calls `f` on every value the server's path iterator yields for `path` in
/// `doc`, until `f` returns true:
///
/// - a missing field, or a scalar where the path goes on, yields `Missing`;
/// - an array where the path goes on is searched: its documents with the rest
///   of the path, and, if the next component is its index (`a.0`), the element
///   there (a nested array there is searched the same way); its other elements
///   (scalars, arrays) yield nothing, not even `Missing`;
/// - an array at the end of the path yields its elements (with `expand`, not
///   their elements) and then itself, but an element picked by index
///   (`a.0` on `[[1]]`) yields only itself.
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
        return match value {
            RawBsonRef::Array(arr) if expand => {
                arr.into_iter().flatten().any(|e| f(Found::Value(e))) || f(Found::Value(value))
            }
            _ => f(Found::Value(value)),
        };
    }
    match value {
        RawBsonRef::Document(doc) => visit_document(doc, path, expand, f),
        RawBsonRef::Array(arr) => visit_array(arr, path, expand, f),
        _ => f(Found::Missing),
    }
}

/// An array with `path` (not empty) still to go.
fn visit_array<'a>(
    arr: &'a RawArray,
    path: &[String],
    expand: bool,
    f: &mut dyn FnMut(Found<'a>) -> bool,
) -> bool {
    let index = array_index(&path[0]);
    let rest = &path[1..];
    for (i, element) in arr.into_iter().flatten().enumerate() {
        let picked = index == Some(i);
        let hit = match element {
            RawBsonRef::Document(doc) => {
                visit_document(doc, path, expand, f)
                    || (picked && rest.is_empty() && f(Found::Value(element)))
                    || (picked && !rest.is_empty() && visit_document(doc, rest, expand, f))
            }
            _ if picked && rest.is_empty() => f(Found::Value(element)),
            RawBsonRef::Array(inner) if picked => visit_array(inner, rest, expand, f),
            _ => false,
        };
        if hit {
            return true;
        }
    }
    false
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
