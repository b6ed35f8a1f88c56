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
use std::sync::Arc;

/// The images a rule's view of an event leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mask {
    /// `fullDocument`: an update's, for a rule with the default option.
    post: bool,
    /// `fullDocumentBeforeChange`, for a rule that asked for none.
    pre: bool,
}

impl Mask {
    /// What `rule` must not see of `event`, if `event` has any of it.
    fn of(rule: &Rule, event: &ChangeEvent) -> Option<Self> {
        let spec = rule.spec();
        let post = spec.full_document == FullDocument::Default
            && *event.operation_type() == OperationType::Update;
        let pre = spec.full_document_before_change == FullDocumentBeforeChange::Off;
        if !post && !pre {
            return None;
        }
        let has = |key: &str| event.raw().get(key).ok().flatten().is_some();
        let mask = Self {
            post: post && has("fullDocument"),
            pre: pre && has("fullDocumentBeforeChange"),
        };
        (mask.post || mask.pre).then_some(mask)
    }

    /// `event` without the images this mask leaves out.
    fn apply(self, event: &ChangeEvent) -> Option<ChangeEvent> {
        let mut masked = bson::RawDocumentBuf::new();
        for (key, value) in event.raw().iter().flatten() {
            let dropped = (self.post && key == "fullDocument")
                || (self.pre && key == "fullDocumentBeforeChange");
            if !dropped {
                masked.append(key, value.to_raw_bson());
            }
        }
        ChangeEvent::from_raw(masked).ok()
    }
}

/// The views of one event that its rules see, each built once.
///
/// A joined split event can be tens of MiB; copying it for each of many
/// rules would multiply that. There are at most three masks (without the
/// post-image, the pre-image, or both), so each is built at most once per
/// event and shared by every rule that needs it.
pub(crate) struct Views<'a> {
    event: &'a Arc<ChangeEvent>,
    masked: Vec<(Mask, Option<Arc<ChangeEvent>>)>,
}

impl<'a> Views<'a> {
    /// Views of `event`; none is built yet.
    pub(crate) fn new(event: &'a Arc<ChangeEvent>) -> Self {
        Self {
            event,
            masked: Vec::new(),
        }
    }

    /// The event as `rule` asked for it: the event itself, or a masked copy
    /// shared with every other rule that needs the same mask.
    pub(crate) fn for_rule(&mut self, rule: &Rule) -> Arc<ChangeEvent> {
        let Some(mask) = Mask::of(rule, self.event) else {
            return Arc::clone(self.event);
        };
        let built = match self.masked.iter().find(|(m, _)| *m == mask) {
            Some((_, built)) => built.clone(),
            None => {
                let built = mask.apply(self.event).map(Arc::new);
                self.masked.push((mask, built.clone()));
                built
            }
        };
        built.unwrap_or_else(|| Arc::clone(self.event))
    }
}

/// The event as `rule` asked for it, if it differs from `event`: without
/// `fullDocument` on an update for a rule with the default option, without
/// `fullDocumentBeforeChange` for a rule that asked for none.
#[cfg(test)]
pub(crate) fn as_asked(rule: &Rule, event: &ChangeEvent) -> Option<ChangeEvent> {
    Mask::of(rule, event)?.apply(event)
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

    #[test]
    fn each_distinct_view_is_built_once_per_event() {
        let event = Arc::new(update());
        let mut views = Views::new(&event);
        let (plain, other_plain) = (rule(""), rule(", filter: #{ \"ns.coll\": \"c\" }"));
        let lookup = rule(", full_document: \"updateLookup\"");
        let both = rule(", full_document: \"required\", full_document_before_change: \"required\"");
        let a = views.for_rule(&plain);
        let b = views.for_rule(&other_plain);
        assert!(Arc::ptr_eq(&a, &b), "one copy for both plain rules");
        assert!(!a.raw().iter().any(|e| e.unwrap().0 == "fullDocument"));
        let c = views.for_rule(&lookup);
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(Arc::ptr_eq(&c, &views.for_rule(&lookup)));
        assert!(Arc::ptr_eq(&views.for_rule(&both), &event), "no copy");
        assert_eq!(views.masked.len(), 2);
    }
}
