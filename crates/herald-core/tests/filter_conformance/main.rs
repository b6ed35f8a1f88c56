//! Conformance of herald's `Filter` with the server's query language, as a table.
//!
//! Each case is a filter, a document and whether the server matches it, with
//! the expectation taken from the MongoDB manual (or, where the manual says
//! nothing, from the server's source and jstests, as the case's comment says).
//! The table always runs against herald. With `HERALD_TEST_MONGODB_URI` set
//! (a real replica set) it also runs against the server: each document goes
//! into a fresh collection of the database `hl_filter_conf_table`, and the
//! server's `$match` answer must equal the expectation, so a wrong
//! expectation fails the server arm and a wrong herald answer fails both.
//! Filters the server refuses are a second table: herald must refuse them too.

mod arrays;
mod null;
mod numbers;
mod operators;
mod refused;
mod regex;
mod server;
mod types;

use bson::{Bson, Decimal128, Document, RawDocumentBuf};
use herald_core::Filter;
use std::str::FromStr;

/// One row of the table.
pub struct Case {
    pub filter: Document,
    pub doc: Document,
    pub expected: bool,
    /// The first server version that answers so, for behaviour that changed
    /// (MongoDB 8.0 changed equality to null); older servers skip the case.
    pub since: (u32, u32),
}

impl Case {
    /// Marks a case whose answer holds from this server version on.
    pub fn since(mut self, major: u32, minor: u32) -> Self {
        self.since = (major, minor);
        self
    }

    fn describe(&self) -> String {
        let verb = if self.expected {
            "matches"
        } else {
            "does not match"
        };
        format!("{} {verb} {}", self.filter, self.doc)
    }
}

/// The server matches `doc` with `filter`.
pub fn yes(filter: Document, doc: Document) -> Case {
    Case {
        filter,
        doc,
        expected: true,
        since: (0, 0),
    }
}

/// The server does not match `doc` with `filter`.
pub fn no(filter: Document, doc: Document) -> Case {
    Case {
        expected: false,
        ..yes(filter, doc)
    }
}

/// A decimal128 value.
pub fn dec(text: &str) -> Bson {
    Bson::Decimal128(Decimal128::from_str(text).expect("a decimal literal"))
}

/// A BSON regular expression.
pub fn re(pattern: &str, options: &str) -> Bson {
    Bson::RegularExpression(bson::Regex {
        pattern: pattern.into(),
        options: options.into(),
    })
}

/// Every case of the table.
pub fn table() -> Vec<Case> {
    [
        arrays::cases(),
        null::cases(),
        numbers::cases(),
        types::cases(),
        regex::cases(),
        operators::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// herald's answer for a case, or why it could not give one.
fn herald(case: &Case) -> Result<bool, String> {
    let filter = Filter::compile(&case.filter).map_err(|e| format!("refused: {e}"))?;
    let doc = RawDocumentBuf::from_document(&case.doc).map_err(|e| e.to_string())?;
    Ok(filter.matches(&doc))
}

#[test]
fn the_table_has_every_case() {
    // A case lost in an edit fails here (update the counts when adding cases).
    let cases = table();
    assert_eq!(cases.len(), 198, "cases");
    assert_eq!(refused::filters().len(), 31, "refused filters");
    assert!(cases.iter().any(|c| c.expected) && cases.iter().any(|c| !c.expected));
}

#[test]
fn herald_agrees_with_the_table() {
    let wrong: Vec<String> = table()
        .iter()
        .enumerate()
        .filter_map(|(i, case)| match herald(case) {
            Ok(answer) if answer == case.expected => None,
            Ok(_) => Some(format!("case {i}: herald disagrees: {}", case.describe())),
            Err(e) => Some(format!("case {i}: {e}: {}", case.describe())),
        })
        .collect();
    assert_eq!(wrong, Vec::<String>::new());
}

#[test]
fn herald_refuses_what_the_server_refuses() {
    let accepted: Vec<String> = refused::filters()
        .iter()
        .filter(|filter| Filter::compile(filter).is_ok())
        .map(|filter| filter.to_string())
        .collect();
    assert_eq!(accepted, Vec::<String>::new());
}
