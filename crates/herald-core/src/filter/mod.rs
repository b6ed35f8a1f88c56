//! The MongoDB query language, evaluated on raw BSON.
//!
//! A rule's `filter` is a MongoDB query on the change event. herald uses it
//! twice: pushed down to the server inside the stream's `$match`, and here,
//! to route each event to the rules it matches. The two must agree, so this
//! follows the server's (MongoDB 8.0) semantics, not a simplification of them
//! (`tests/filter_conformance` holds the table of cases, checked against a
//! real server when one is configured):
//!
//! - dotted paths traverse arrays of documents (`"items.sku"`), and numeric
//!   components index arrays (`"items.0.sku"`); an array inside an array is
//!   entered only by an index, and the element an index picks is not expanded;
//! - a condition on an array field holds if it holds for the array or any
//!   element (`{tags: "x"}` matches `{tags: ["x", "y"]}`), one level deep;
//! - `null` matches null and missing fields (not `undefined`, since 8.0), and
//!   a path through arrays that reaches nothing; `$ne`, `$nin` and `$not`
//!   match missing fields;
//! - comparisons (`$gt`, ...) only match values of the operand's type class
//!   (numbers with numbers, strings with strings); numbers of every width,
//!   decimal128 included, compare by exact value; NaN is never above or below
//!   anything; see [`order`];
//! - `$regex` is PCRE: patterns are translated for the `regex` crate, with
//!   ASCII `\w`, `\d`, `\s`, `\b`; what it cannot express is refused.
//!
//! Supported: `$eq $ne $gt $gte $lt $lte $in $nin $exists $type $regex
//! $options $not $elemMatch $size $all $mod $and $or $nor $comment
//! $alwaysTrue $alwaysFalse`. `$expr`, `$where`, `$text`, `$bits*` and geo
//! operators are refused at compile time, as is every filter the server refuses.
//!
//! [`Filter::never_matches`] tells whether a filter can match at all when some
//! top-level fields are decided in advance (see [`Known`]).

mod compile;
mod decimal;
mod eval;
mod known;
mod operands;
pub mod order;
mod pattern;
mod types;

use bson::Document;
use bson::raw::RawDocument;

pub use known::Known;

/// A compiled MongoDB query filter.
///
/// ```
/// use bson::{doc, RawDocumentBuf};
/// use herald_core::Filter;
/// let filter = Filter::compile(&doc! { "fullDocument.amount": { "$gte": 1000 } }).unwrap();
/// let event = RawDocumentBuf::from_document(&doc! { "fullDocument": { "amount": 1500.0 } }).unwrap();
/// assert!(filter.matches(&event));
/// ```
#[derive(Debug, Clone)]
pub struct Filter {
    source: Document,
    root: eval::Expr,
}

/// A filter that cannot be compiled, with the path inside it that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at `{at}`)")]
pub struct FilterError {
    /// Where in the filter: keys joined with dots, e.g. `fullDocument.amount.$gte`.
    pub at: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Filter {
    /// Compiles a filter document.
    pub fn compile(source: &Document) -> Result<Self, FilterError> {
        Ok(Self {
            root: compile::query(source, "")?,
            source: source.clone(),
        })
    }

    /// A filter that matches everything (`{}`).
    pub fn everything() -> Self {
        Self {
            source: Document::new(),
            root: eval::Expr::And(Vec::new()),
        }
    }

    /// True if `doc` satisfies the filter.
    pub fn matches(&self, doc: &RawDocument) -> bool {
        self.root.matches(doc)
    }

    /// The filter as written, for pushing down to the server.
    pub fn source(&self) -> &Document {
        &self.source
    }

    /// Equalities every matching document satisfies (top-level `{path: value}` or
    /// `{path: {$eq: value}}` of an indexable scalar), for indexing rules.
    ///
    /// ```
    /// use bson::doc;
    /// use herald_core::Filter;
    /// let f = Filter::compile(&doc! { "fullDocument.kind": "k1", "n": { "$gt": 1 } }).unwrap();
    /// let eqs = f.required_equalities();
    /// assert_eq!(eqs.len(), 1);
    /// assert_eq!(eqs[0].path, ["fullDocument", "kind"]);
    /// ```
    pub fn required_equalities(&self) -> Vec<Equality> {
        let fields: Vec<&eval::Expr> = match &self.root {
            eval::Expr::And(all) => all.iter().collect(),
            single => vec![single],
        };
        fields
            .into_iter()
            .filter_map(|expr| match expr {
                eval::Expr::Field {
                    path,
                    pred: eval::Pred::Eq(value),
                } => equality_key(value.as_raw_bson_ref()).map(|key| Equality {
                    path: path.clone(),
                    key,
                }),
                _ => None,
            })
            .collect()
    }
}

/// A required equality of a filter: the value at `path` (or an element of an
/// array there) has this [`equality_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equality {
    /// The dotted path, split.
    pub path: Vec<String>,
    /// The key of the value it must equal.
    pub key: Vec<u8>,
}

/// A hashable key such that values the filter considers equal get equal keys
/// (`1`, `1.0` and `NumberLong(1)` alike); `None` for types not worth indexing.
/// Different values may share a key: an index built on it only narrows the
/// rules to test, it never decides a match.
pub fn equality_key(value: bson::RawBsonRef<'_>) -> Option<Vec<u8>> {
    use bson::RawBsonRef as V;
    let mut key = Vec::with_capacity(16);
    match value {
        V::String(s) | V::Symbol(s) => {
            key.push(1);
            key.extend_from_slice(s.as_bytes());
        }
        V::Int32(_) | V::Int64(_) | V::Double(_) | V::Decimal128(_) => {
            let x = match order::number(value)? {
                order::Number::Int(i) => i as f64,
                order::Number::Float(f) => f,
                order::Number::Decimal(d) => d.to_f64(),
            };
            let x = if x == 0.0 {
                0.0
            } else if x.is_nan() {
                f64::NAN
            } else {
                x
            };
            key.push(2);
            key.extend_from_slice(&x.to_bits().to_be_bytes());
        }
        V::Boolean(b) => key.extend_from_slice(&[3, u8::from(b)]),
        V::ObjectId(oid) => {
            key.push(4);
            key.extend_from_slice(&oid.bytes());
        }
        V::DateTime(d) => {
            key.push(5);
            key.extend_from_slice(&d.timestamp_millis().to_be_bytes());
        }
        _ => return None,
    }
    Some(key)
}

/// Calls `f` on each value at `path` in `doc`, and on the elements of an array there.
pub fn for_each_value_at<'a>(
    doc: &'a RawDocument,
    path: &[String],
    mut f: impl FnMut(bson::RawBsonRef<'a>),
) {
    eval::visit_document(doc, path, true, &mut |found| {
        if let eval::Found::Value(v) = found {
            f(v);
        }
        false
    });
}

#[cfg(test)]
mod tests;
