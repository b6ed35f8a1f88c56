//! Each rule sees the event as its own options ask.
//!
//! Rules that share a stream share its options, the strongest any of them
//! needs: one rule with `full_document: "updateLookup"` makes the server send
//! `fullDocument` on every update of the stream. A rule that did not ask for
//! it must not see it (nor match a filter on it), or adding a rule elsewhere
//! would change what an unrelated rule does. So for a rule that asked for
//! less, the event is handed over without the images it did not ask for.
//! Events from files are handed over as they are: no stream chose them.

use herald_core::{ChangeEvent, FullDocument, FullDocumentBeforeChange, OperationType};
use herald_script::Rule;

/// The event as `rule` asked for it, if it differs from `event`: without
/// `fullDocument` on an update for a rule with the default option, without
/// `fullDocumentBeforeChange` for a rule that asked for none.
pub(crate) fn as_asked(rule: &Rule, event: &ChangeEvent) -> Option<ChangeEvent> {
    let spec = rule.spec();
    let drop_post = spec.full_document == FullDocument::Default
        && *event.operation_type() == OperationType::Update;
    let drop_pre = spec.full_document_before_change == FullDocumentBeforeChange::Off;
    if !drop_post && !drop_pre {
        return None;
    }
    let raw = event.raw();
    let has = |key: &str| raw.get(key).ok().flatten().is_some();
    let (drop_post, drop_pre) = (
        drop_post && has("fullDocument"),
        drop_pre && has("fullDocumentBeforeChange"),
    );
    if !drop_post && !drop_pre {
        return None;
    }
    let mut masked = bson::RawDocumentBuf::new();
    for element in raw.iter().flatten() {
        let (key, value) = element;
        let dropped =
            (drop_post && key == "fullDocument") || (drop_pre && key == "fullDocumentBeforeChange");
        if !dropped {
            masked.append(key, value.to_raw_bson());
        }
    }
    ChangeEvent::from_raw(masked).ok()
}

/// Why `event` lacks an image `rule` requires (`required`), if it does.
///
/// A stream asks the server for `required` images only when all its rules
/// do; otherwise it asks `whenAvailable` (or looks the document up), so that
/// one rule's requirement cannot fail the stream for the others. The rules
/// that require an image then fail on an event without one, each alone.
pub(crate) fn missing_image(rule: &Rule, event: &ChangeEvent) -> Option<String> {
    let spec = rule.spec();
    let op = event.operation_type();
    let absent = |key: &str| {
        !matches!(
            event.raw().get(key),
            Ok(Some(value)) if value.element_type() != bson::spec::ElementType::Null
        )
    };
    if spec.full_document == FullDocument::Required
        && *op == OperationType::Update
        && absent("fullDocument")
    {
        return Some(
            "the rule requires the document after the change (full_document: \"required\"), and this event has none: enable changeStreamPreAndPostImages on the collection, or ask for \"updateLookup\"".into(),
        );
    }
    let changes_a_document = matches!(
        op,
        OperationType::Update | OperationType::Replace | OperationType::Delete
    );
    if spec.full_document_before_change == FullDocumentBeforeChange::Required
        && changes_a_document
        && absent("fullDocumentBeforeChange")
    {
        return Some(
            "the rule requires the document before the change (full_document_before_change: \"required\"), and this event has none: enable changeStreamPreAndPostImages on the collection, or ask for \"whenAvailable\"".into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{RawDocumentBuf, doc};
    use std::sync::Arc;

    fn rule(options: &str) -> Rule {
        let engine = Arc::new(herald_script::sandbox::engine());
        let source = format!(
            "const RULE = #{{ watch: \"d.c\", on: [\"update\"]{options} }};\nfn handle(event) {{}}"
        );
        Rule::from_source(engine, "r.rhai", &source).unwrap()
    }

    fn update() -> ChangeEvent {
        ChangeEvent::from_raw(
            RawDocumentBuf::from_document(&doc! {
                "_id": {"_data": "01"}, "operationType": "update", "ns": {"db": "d", "coll": "c"},
                "documentKey": {"_id": 1}, "updateDescription": {"updatedFields": {"n": 2}},
                "fullDocument": {"_id": 1, "n": 2}, "fullDocumentBeforeChange": {"_id": 1, "n": 1},
            })
            .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_rule_sees_only_the_images_it_asked_for() {
        let event = update();
        let keys = |e: &ChangeEvent| -> Vec<String> {
            e.raw().iter().map(|el| el.unwrap().0.to_owned()).collect()
        };
        let plain = as_asked(&rule(""), &event).unwrap();
        assert_eq!(
            keys(&plain),
            [
                "_id",
                "operationType",
                "ns",
                "documentKey",
                "updateDescription"
            ]
        );
        let post = as_asked(&rule(", full_document: \"updateLookup\""), &event).unwrap();
        assert!(keys(&post).contains(&"fullDocument".to_owned()));
        assert!(!keys(&post).contains(&"fullDocumentBeforeChange".to_owned()));
        let both = rule(", full_document: \"required\", full_document_before_change: \"required\"");
        assert!(as_asked(&both, &event).is_none(), "as it is");
    }
}
