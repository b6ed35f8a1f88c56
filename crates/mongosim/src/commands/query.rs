//! Shared pieces of reads: filters, sorting, projection.

use crate::error::CommandError;
use crate::paths;
use bson::{Bson, Document};
use herald_core::Filter;
use herald_core::filter::order::compare;
use std::cmp::Ordering;

/// Copies of the documents of `db.coll` that match, in natural order (none if it does not exist).
pub fn matching(
    state: &crate::state::State,
    db: &str,
    coll: &str,
    filter: &Filter,
) -> Vec<Document> {
    state
        .catalog
        .get(db, coll)
        .map(|c| {
            c.iter()
                .filter(|d| crate::data::matches(filter, d))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Compiles a query filter (`{}` when absent).
pub fn filter(doc: Option<&Document>) -> Result<Filter, CommandError> {
    match doc {
        None => Ok(Filter::everything()),
        Some(d) => compile(d),
    }
}

/// Compiles a query, its `$expr` clauses with mongosim's expression
/// evaluator ([`crate::expr`]); an expression that fails on a document
/// (where the server would fail the query) does not match it.
pub fn compile(query: &Document) -> Result<Filter, CommandError> {
    use crate::expr::{Vars, compare::truthy, parse};
    use herald_core::filter::{ExprPredicate, FilterError};
    let refused = std::cell::RefCell::new(None);
    let compile_expr = |operand: &Bson, at: &str| -> Result<ExprPredicate, FilterError> {
        let parsed = parse::operand(operand, parse::Scope::default()).and_then(|e| e.optimize());
        let expr = parsed.map_err(|e| {
            let error = FilterError {
                at: at.to_owned(),
                message: e.message.clone(),
            };
            *refused.borrow_mut() = Some(e);
            error
        })?;
        Ok(ExprPredicate::new(move |doc| {
            let Ok(doc) = bson::Document::try_from(doc) else {
                return false;
            };
            expr.eval(&Vars::root(&doc))
                .is_ok_and(|value| truthy(value.as_ref()))
        }))
    };
    Filter::compile_with_expr(query, &compile_expr).map_err(|e| {
        refused
            .take()
            .unwrap_or_else(|| CommandError::bad_value(e.to_string()))
    })
}

fn value_cmp(a: Option<&Bson>, b: Option<&Bson>) -> Ordering {
    let raw = |v: Option<&Bson>| {
        bson::RawBson::try_from(v.cloned().unwrap_or(Bson::Null)).unwrap_or(bson::RawBson::Null)
    };
    compare(raw(a).as_raw_bson_ref(), raw(b).as_raw_bson_ref())
}

/// Sorts documents by a sort specification (`{field: 1 | -1}`).
pub fn sort(docs: &mut [Document], spec: &Document) -> Result<(), CommandError> {
    let keys: Vec<(String, bool)> = spec
        .iter()
        .map(|(k, v)| match super::number(v) {
            Some(1) => Ok((k.clone(), true)),
            Some(-1) => Ok((k.clone(), false)),
            _ => Err(CommandError::bad_value(format!(
                "$sort key ordering must be 1 (for ascending) or -1 (for descending), not {v}"
            ))),
        })
        .collect::<Result<_, _>>()?;
    docs.sort_by(|a, b| {
        for (key, ascending) in &keys {
            let order = value_cmp(paths::get(a, key), paths::get(b, key));
            if order != Ordering::Equal {
                return if *ascending { order } else { order.reverse() };
            }
        }
        Ordering::Equal
    });
    Ok(())
}

/// Applies an inclusion or exclusion projection.
pub fn project(doc: &Document, spec: &Document) -> Result<Document, CommandError> {
    let mut include = None;
    let mut keep_id = true;
    for (path, value) in spec {
        let flag = match value {
            Bson::Boolean(b) => *b,
            other => super::number(other).map(|n| n != 0).ok_or_else(|| {
                CommandError::bad_value(format!(
                    "mongosim supports only inclusion/exclusion projections, not {path}: {other}"
                ))
            })?,
        };
        if path == "_id" {
            keep_id = flag;
        } else if include.is_some_and(|i| i != flag) {
            return Err(CommandError::location(
                31254,
                format!(
                    "Cannot do {} in {} projection",
                    if flag { "inclusion" } else { "exclusion" },
                    if flag { "exclusion" } else { "inclusion" }
                ),
            ));
        } else {
            include = Some(flag);
        }
    }
    let mut out = if include == Some(true) {
        let mut kept = Document::new();
        if keep_id && let Some(id) = doc.get("_id") {
            kept.insert("_id", id.clone());
        }
        for (path, _) in spec.iter().filter(|(p, _)| *p != "_id") {
            if let Some(v) = paths::get(doc, path) {
                paths::set(&mut kept, path, v.clone())?;
            }
        }
        kept
    } else {
        let mut all = doc.clone();
        for (path, _) in spec.iter().filter(|(p, _)| *p != "_id") {
            paths::remove(&mut all, path);
        }
        all
    };
    if !keep_id {
        out.remove("_id");
    }
    Ok(out)
}
