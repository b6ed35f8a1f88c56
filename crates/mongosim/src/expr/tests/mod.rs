//! Unit tests of the expression language.
//!
//! - `eval`: order across types, missing vs null, truthiness, paths.
//! - `errors`: evaluation and parse errors, folding, messages.

mod errors;
mod eval;

use super::parse::{Scope, operand};
use super::*;
use bson::{Decimal128, doc};
use std::str::FromStr;

fn dec(text: &str) -> Bson {
    Bson::Decimal128(Decimal128::from_str(text).unwrap())
}

/// Parses, optimizes and evaluates an expression against a document.
fn eval(expr: Bson, doc: &Document) -> Result<Option<Bson>, CommandError> {
    operand(&expr, Scope::default())?
        .optimize()?
        .eval(&Vars::root(doc))
}

fn value(expr: Bson, doc: &Document) -> Option<Bson> {
    eval(expr, doc).unwrap()
}

fn error(expr: Bson) -> (i32, String) {
    let e = eval(expr, &doc! {}).unwrap_err();
    (e.code, e.message)
}
