//! Filters that can never match the events a rule watches.
//!
//! The kind of an event decides some of its fields: `delete`, `drop`,
//! `rename`, `dropDatabase` and `invalidate` events have no `fullDocument`;
//! an `update` has one only if the rule asks for it (`full_document:
//! "updateLookup"`, `"whenAvailable"` or `"required"`; herald hides the one a
//! stream fetched for another rule); only `update` events have an
//! `updateDescription`; only `update`, `replace` and `delete` events may have
//! a `fullDocumentBeforeChange`, and only for a rule that asks for it; and
//! `operationType` is the kind itself. Kinds herald does not know by name
//! (the expanded events) are assumed to have any field. These are the events
//! of a change stream; a replayed events file is handed over as it is, so an
//! update written there with a `fullDocument` still reaches a rule that did
//! not ask for one: the warning speaks of what `herald run` delivers.
//!
//! A rule gets a warning when its filter fails for every operation type in
//! its `on` with these fields decided ([`herald_core::filter::Known`]). With
//! `on: ["insert", "delete"]`, `{"fullDocument.status": "open"}` can match the
//! inserts, so there is no warning. A branch of an `$or` that can never match
//! gets none either: the other branches may be what the author meant, and
//! the filter as a whole still works. Conditions that a missing field
//! satisfies (`null`, `$exists: false`, `$ne`, `$nin`, `$not`) are evaluated
//! as the server would, so they never draw a warning.

use crate::spec::RuleSpec;
use herald_core::filter::Known;
use herald_core::{FullDocument, FullDocumentBeforeChange, OperationType};

/// Why the events of `op` have no `field`, for a rule with `spec`; `None`
/// if they may have it.
fn absent(spec: &RuleSpec, op: &OperationType, field: &str) -> Option<String> {
    use OperationType::*;
    let lifecycle = matches!(op, Drop | Rename | DropDatabase | Invalidate);
    match field {
        "fullDocument" => match op {
            Update if spec.full_document == FullDocument::Default => Some(
                "update events have no fullDocument unless RULE sets `full_document` to \"updateLookup\", \"whenAvailable\" or \"required\"".into(),
            ),
            Delete => Some(format!("{op} events have no fullDocument")),
            _ if lifecycle => Some(format!("{op} events have no fullDocument")),
            _ => None,
        },
        "updateDescription" => match op {
            Update | Other(_) => None,
            _ => Some(format!(
                "{op} events have no updateDescription (only update events do)"
            )),
        },
        "fullDocumentBeforeChange" => {
            if spec.full_document_before_change == FullDocumentBeforeChange::Off {
                Some("the rule sees no fullDocumentBeforeChange unless RULE sets `full_document_before_change` to \"whenAvailable\" or \"required\"".into())
            } else if lifecycle || *op == Insert {
                Some(format!("{op} events have no fullDocumentBeforeChange"))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The fields that [`absent`] decides.
const DECIDED: [&str; 3] = [
    "fullDocument",
    "updateDescription",
    "fullDocumentBeforeChange",
];

/// Why `spec`'s filter can never match any event of the operation types it
/// watches, if it cannot.
///
/// ```
/// let rule = herald_script::Rule::from_source(
///     std::sync::Arc::new(herald_script::sandbox::engine()),
///     "rules/gone.rhai",
///     "const RULE = #{ watch: \"a.b\", on: [\"delete\"], filter: #{ \"fullDocument.x\": 1 } };\nfn handle(e) {}",
/// ).unwrap();
/// let why = herald_script::lint::never_matches(rule.spec()).unwrap();
/// assert_eq!(why, "the filter can never match the events the rule watches (on: [delete]): delete events have no fullDocument");
/// ```
pub fn never_matches(spec: &RuleSpec) -> Option<String> {
    let mut reasons: Vec<String> = Vec::new();
    for op in &spec.on {
        let mut known = Known::new().value("operationType", op.as_str());
        for field in DECIDED {
            if absent(spec, op, field).is_some() {
                known = known.missing(field);
            }
        }
        let read = spec.filter.never_matches(&known)?;
        for field in read {
            let reason = absent(spec, op, &field)
                .unwrap_or_else(|| format!("{op} events have operationType \"{op}\""));
            if !reasons.contains(&reason) {
                reasons.push(reason);
            }
        }
    }
    let on: Vec<&str> = spec.on.iter().map(OperationType::as_str).collect();
    let head = format!(
        "the filter can never match the events the rule watches (on: [{}])",
        on.join(", ")
    );
    Some(if reasons.is_empty() {
        head
    } else {
        format!("{head}: {}", reasons.join("; "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warning(rule: &str) -> Option<String> {
        let map = crate::sandbox::engine()
            .eval::<rhai::Map>(&format!("#{{ watch: \"a.b\", {rule} }}"))
            .unwrap();
        never_matches(&RuleSpec::from_map(&map).unwrap())
    }

    #[test]
    fn full_document_on_deletes_and_plain_updates_never_matches() {
        assert_eq!(
            warning(r#"on: ["delete"], filter: #{ "fullDocument.status": "open" }"#).unwrap(),
            "the filter can never match the events the rule watches (on: [delete]): delete events have no fullDocument"
        );
        assert_eq!(
            warning(r#"on: ["update", "delete"], filter: #{ "fullDocument.n": #{ "$gt": 1 } }"#)
                .unwrap(),
            "the filter can never match the events the rule watches (on: [update, delete]): update events have no fullDocument unless RULE sets `full_document` to \"updateLookup\", \"whenAvailable\" or \"required\"; delete events have no fullDocument"
        );
        assert_eq!(
            warning(
                r#"on: ["insert", "replace"], filter: #{ "updateDescription.updatedFields.n": 1 }"#
            )
            .unwrap(),
            "the filter can never match the events the rule watches (on: [insert, replace]): insert events have no updateDescription (only update events do); replace events have no updateDescription (only update events do)"
        );
        assert_eq!(
            warning(r#"on: ["delete"], filter: #{ "operationType": "insert" }"#).unwrap(),
            "the filter can never match the events the rule watches (on: [delete]): delete events have operationType \"delete\""
        );
        assert!(
            warning(r#"on: ["update"], filter: #{ "fullDocumentBeforeChange.n": 1 }"#).is_some()
        );
    }

    #[test]
    fn filters_some_watched_event_may_match_draw_no_warning() {
        for rule in [
            // Inserts have a fullDocument.
            r#"on: ["insert", "delete"], filter: #{ "fullDocument.status": "open" }"#,
            // The default `on` has insert, update, replace and delete.
            r#"filter: #{ "fullDocument.status": "open" }"#,
            r#"on: ["update"], full_document: "updateLookup", filter: #{ "fullDocument.a": 1 }"#,
            r#"on: ["update"], full_document: "whenAvailable", filter: #{ "fullDocument.a": 1 }"#,
            r#"on: ["update"], full_document: "required", filter: #{ "fullDocument.a": 1 }"#,
            // A missing field satisfies these.
            r#"on: ["delete"], filter: #{ "fullDocument.a": () }"#,
            r#"on: ["delete"], filter: #{ "fullDocument.a": #{ "$exists": false } }"#,
            r#"on: ["delete"], filter: #{ "fullDocument.a": #{ "$ne": 1 } }"#,
            r#"on: ["delete"], filter: #{ "fullDocument.a": #{ "$nin": [1] } }"#,
            r#"on: ["delete"], filter: #{ "$or": [#{ "fullDocument.a": 1 }, #{ "documentKey._id": 1 }] }"#,
            r#"on: ["update"], filter: #{ "updateDescription.updatedFields.n": 1 }"#,
            r#"on: ["delete"], full_document_before_change: "required", filter: #{ "fullDocumentBeforeChange.n": 1 }"#,
            // Expanded events are not assumed to lack anything.
            r#"on: ["modify"], filter: #{ "updateDescription.x": 1 }"#,
            r#"on: ["delete"], filter: #{ "documentKey._id": 1 }"#,
        ] {
            assert_eq!(warning(rule), None, "{rule}");
        }
    }
}
