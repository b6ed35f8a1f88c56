//! `$redact`: the expression is evaluated at the event, then (while it
//! answers `$$DESCEND`) at every sub-document, with `$$CURRENT` (and so
//! `$a`) the sub-document visited and `$$ROOT` the event.
//!
//! `$$KEEP` keeps a (sub)document as it is, `$$PRUNE` drops it (at the
//! root: the whole event), `$$DESCEND` keeps its fields and visits its
//! sub-documents, and the documents in its arrays (arrays in arrays too).
//! The variables are the strings `keep`, `prune`, `descend`, and any
//! other answer is the server's error 17053.

use crate::error::CommandError;
use crate::expr::{Expr, Vars, compare, render};
use bson::{Bson, Document};
use std::cmp::Ordering;

/// Redacts an event; `None` if its root was pruned.
pub fn apply(expr: &Expr, event: &Document) -> Result<Option<Document>, CommandError> {
    object(expr, event, event)
}

fn object(
    expr: &Expr,
    root: &Document,
    current: &Document,
) -> Result<Option<Document>, CommandError> {
    let vars = Vars {
        root,
        current: Some(current),
    };
    let answer = expr.eval(&vars)?;
    let is = |word: &str| {
        compare::compare(answer.as_ref(), Some(&Bson::String(word.to_owned()))) == Ordering::Equal
    };
    if is("keep") {
        return Ok(Some(current.clone()));
    }
    if is("prune") {
        return Ok(None);
    }
    if !is("descend") {
        return Err(CommandError::location(
            17053,
            format!(
                "$redact's expression should not return anything aside from the variables $$KEEP, $$DESCEND, and $$PRUNE, but returned {}",
                render::value(answer.as_ref())
            ),
        ));
    }
    let mut out = Document::new();
    for (name, value) in current {
        if let Some(kept) = self::value(expr, root, value)? {
            out.insert(name.clone(), kept);
        }
    }
    Ok(Some(out))
}

fn value(expr: &Expr, root: &Document, value: &Bson) -> Result<Option<Bson>, CommandError> {
    Ok(match value {
        Bson::Document(d) => object(expr, root, d)?.map(Bson::Document),
        Bson::Array(items) => {
            let mut kept = Vec::with_capacity(items.len());
            for item in items {
                if let Some(v) = self::value(expr, root, item)? {
                    kept.push(v);
                }
            }
            Some(Bson::Array(kept))
        }
        other => Some(other.clone()),
    })
}
