//! Whether a filter can match at all, given what is known of the documents it sees.
//!
//! Some fields of a change event are decided by its kind before it arrives:
//! a `delete` event has no `fullDocument`, only `update` events have an
//! `updateDescription`, and `operationType` names the kind. A filter that
//! fails on every document with those fields decided can never match, which
//! `herald check` reports as a warning.
//!
//! The filter is evaluated in three-valued logic: a field condition on a
//! decided top-level field is evaluated exactly (on a document holding just
//! the decided fields, so a missing field counts as missing: `null`,
//! `$exists: false`, `$ne` and `$nin` hold for it), every other condition is
//! unknown, and `$and`/`$or`/`$nor`/`$not` combine as in Kleene logic. Only a
//! definite `false` says "never": an unknown condition may hold, so the
//! answer errs towards "may match" and a warning built on it is never false.

use super::Filter;
use super::eval::Expr;
use bson::RawDocumentBuf;
use std::collections::BTreeSet;

/// Top-level fields of the documents a filter will see whose value (or
/// absence) is known in advance.
///
/// ```
/// use bson::doc;
/// use herald_core::Filter;
/// use herald_core::filter::Known;
/// let filter = Filter::compile(&doc! { "fullDocument.status": "open" }).unwrap();
/// let delete = Known::new().missing("fullDocument");
/// assert_eq!(filter.never_matches(&delete), Some(vec!["fullDocument".to_owned()]));
/// let missing_is_null = Filter::compile(&doc! { "fullDocument.status": null }).unwrap();
/// assert_eq!(missing_is_null.never_matches(&delete), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The decided fields that have a value, with it.
    values: RawDocumentBuf,
    /// Every decided field: those in `values` and the missing ones.
    decided: BTreeSet<String>,
}

impl Known {
    /// Nothing known.
    pub fn new() -> Self {
        Self::default()
    }

    /// `field` is absent from every document.
    pub fn missing(mut self, field: &str) -> Self {
        self.decided.insert(field.to_owned());
        self
    }

    /// `field` holds `value` in every document.
    pub fn value(mut self, field: &str, value: impl Into<bson::RawBson>) -> Self {
        if self.decided.insert(field.to_owned()) {
            self.values.append(field, value.into());
        }
        self
    }
}

/// What a condition evaluates to when only some fields are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    fn not(self) -> Self {
        match self {
            Self::True => Self::False,
            Self::False => Self::True,
            Self::Unknown => Self::Unknown,
        }
    }

    fn of(value: bool) -> Self {
        if value { Self::True } else { Self::False }
    }
}

impl Filter {
    /// `Some(fields)` if no document with `known`'s fields can match this
    /// filter, naming the decided fields the verdict read (sorted); `None` if
    /// some document may match.
    pub fn never_matches(&self, known: &Known) -> Option<Vec<String>> {
        let mut read = BTreeSet::new();
        match truth(&self.root, known, &mut read) {
            Truth::False => Some(read.into_iter().collect()),
            Truth::True | Truth::Unknown => None,
        }
    }
}

/// The truth of `expr` on every document with `known`'s fields; the decided
/// fields it reads go into `read`.
fn truth(expr: &Expr, known: &Known, read: &mut BTreeSet<String>) -> Truth {
    match expr {
        Expr::Const(value) => Truth::of(*value),
        Expr::Not(inner) => truth(inner, known, read).not(),
        Expr::And(all) => {
            let mut result = Truth::True;
            for e in all {
                match truth(e, known, read) {
                    Truth::False => return Truth::False,
                    Truth::Unknown => result = Truth::Unknown,
                    Truth::True => {}
                }
            }
            result
        }
        Expr::Or(any) => any_of(any, known, read),
        Expr::Nor(none) => any_of(none, known, read).not(),
        Expr::Field { path, .. } => {
            let root = path.first().map_or("", String::as_str);
            if !known.decided.contains(root) {
                return Truth::Unknown;
            }
            read.insert(root.to_owned());
            // The whole value at `root` is decided, so this is exact.
            Truth::of(expr.matches(&known.values))
        }
    }
}

fn any_of(branches: &[Expr], known: &Known, read: &mut BTreeSet<String>) -> Truth {
    let mut result = Truth::False;
    for e in branches {
        match truth(e, known, read) {
            Truth::True => return Truth::True,
            Truth::Unknown => result = Truth::Unknown,
            Truth::False => {}
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn never(filter: bson::Document, known: &Known) -> Option<Vec<String>> {
        Filter::compile(&filter).unwrap().never_matches(known)
    }

    fn delete() -> Known {
        Known::new()
            .missing("fullDocument")
            .missing("updateDescription")
            .value("operationType", "delete")
    }

    #[test]
    fn conditions_a_missing_field_fails_never_match() {
        let d = delete();
        let full = Some(vec!["fullDocument".to_owned()]);
        assert_eq!(never(doc! { "fullDocument.a": 1 }, &d), full);
        assert_eq!(never(doc! { "fullDocument.a": { "$gt": 1 } }, &d), full);
        assert_eq!(
            never(doc! { "fullDocument": { "$exists": true } }, &d),
            full
        );
        assert_eq!(
            never(doc! { "fullDocument.a": { "$in": [1, 2] } }, &d),
            full
        );
        assert_eq!(
            never(
                doc! { "ns.db": "x", "fullDocument.a": { "$type": "string" } },
                &d
            ),
            full
        );
        assert_eq!(
            never(doc! { "operationType": "insert" }, &d),
            Some(vec!["operationType".to_owned()])
        );
    }

    #[test]
    fn conditions_a_missing_field_satisfies_may_match() {
        let d = delete();
        for filter in [
            doc! { "fullDocument.a": null },
            doc! { "fullDocument.a": { "$exists": false } },
            doc! { "fullDocument.a": { "$ne": 1 } },
            doc! { "fullDocument.a": { "$nin": [1] } },
            doc! { "fullDocument.a": { "$not": { "$gt": 1 } } },
            doc! { "fullDocument.a": { "$in": [1, null] } },
            doc! { "fullDocument.a": { "$lte": null } },
            doc! { "$nor": [{ "fullDocument.a": 1 }] },
            doc! { "documentKey._id": 1 },
            doc! { "operationType": "delete" },
        ] {
            assert_eq!(never(filter.clone(), &d), None, "{filter}");
        }
    }

    #[test]
    fn or_needs_every_branch_impossible_and_needs_one() {
        let d = delete();
        assert_eq!(
            never(
                doc! { "$or": [{ "fullDocument.a": 1 }, { "documentKey._id": 1 }] },
                &d
            ),
            None
        );
        assert_eq!(
            never(
                doc! { "$or": [{ "fullDocument.a": 1 }, { "updateDescription.updatedFields.a": 1 }] },
                &d
            ),
            Some(vec![
                "fullDocument".to_owned(),
                "updateDescription".to_owned()
            ])
        );
        assert_eq!(
            never(
                doc! { "$and": [{ "documentKey._id": 1 }, { "fullDocument.a": 1 }] },
                &d
            ),
            Some(vec!["fullDocument".to_owned()])
        );
        // Nothing decided: nothing known.
        assert_eq!(never(doc! { "fullDocument.a": 1 }, &Known::new()), None);
        // An empty $all matches nothing, whatever is known.
        assert_eq!(
            never(doc! { "x": { "$all": [] } }, &Known::new()),
            Some(vec![])
        );
    }
}
