//! The MongoDB query language, evaluated on raw BSON.
//!
//! A rule's `filter` is a MongoDB query on the change event. herald uses it
//! twice: pushed down to the server inside the stream's `$match`, and here,
//! to route each event to the rules it matches. The two must agree, so this
//! follows the server's semantics, not a simplification of them:
//!
//! - dotted paths traverse arrays of documents (`"items.sku"`), and numeric
//!   components index arrays (`"items.0.sku"`);
//! - a condition on an array field holds if it holds for the array or any
//!   element (`{tags: "x"}` matches `{tags: ["x", "y"]}`);
//! - `null` matches null and missing fields; `$ne`, `$nin` and `$not` match
//!   missing fields;
//! - comparisons (`$gt`, ...) only match values of the operand's type class
//!   (numbers with numbers, strings with strings); numbers of every width
//!   compare by value; see [`order`].
//!
//! Supported: `$eq $ne $gt $gte $lt $lte $in $nin $exists $type $regex
//! $options $not $elemMatch $size $all $mod $and $or $nor $comment`.
//! `$expr`, `$where`, `$text` and geo operators are refused at compile time.

mod compile;
mod eval;
pub mod order;
mod types;

use bson::Document;
use bson::raw::RawDocument;

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
}

#[cfg(test)]
mod tests;
