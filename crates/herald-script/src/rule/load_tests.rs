//! `Rule::load`: every problem of a file at once, and the warnings of one that loads.

use super::*;
use crate::NoState;

fn load(source: &str) -> Result<Rule, Vec<Diagnostic>> {
    Rule::load(
        Arc::new(crate::sandbox::engine()),
        "rules/check.rhai",
        source,
    )
}

fn located(errors: &[Diagnostic]) -> Vec<String> {
    errors
        .iter()
        .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
        .collect()
}

#[test]
fn every_independent_problem_is_reported() {
    let source = "const RULE = #{\n    watch: \"a..b\",\n    on: [\"upsert\"],\n    timeout_ms: 0,\n};\nfn handle(event) {\n    send_email(1);\n    set_state(\"k\");\n    log(\"verbose\", \"x\");\n    insert_doc(\"audit\", #{});\n}\n";
    let errors = load(source).unwrap_err();
    let found = located(&errors);
    assert_eq!(found.len(), 7, "{found:#?}");
    assert!(
        found[0].starts_with("2:5: invalid namespace \"a..b\""),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with("3:5: unknown operation type \"upsert\""),
        "{found:#?}"
    );
    assert_eq!(
        found[2],
        "4:5: `timeout_ms` must be from 1 to 60000, found 0"
    );
    assert!(
        found[3].starts_with("7:5: unknown function `send_email`"),
        "{found:#?}"
    );
    assert_eq!(
        found[4],
        "8:5: `set_state` takes 2 arguments (string, any value), given 1"
    );
    assert_eq!(
        found[5],
        "9:5: unknown log level \"verbose\"; use debug, info, warn or error"
    );
    assert!(
        found[6].starts_with("10:5: insert_doc needs \"db.collection\""),
        "{found:#?}"
    );
    // The first of them is what `from_source` gives.
    let first = Rule::from_source(Arc::new(crate::sandbox::engine()), "r.rhai", source)
        .err()
        .unwrap();
    assert_eq!((first.line, first.column), (2, 5));
}

#[test]
fn a_missing_handler_is_reported_beside_a_bad_rule() {
    let errors =
        load("const RULE = #{ watch: \"a.b\", on: 5 };\nfn hadle(event) {}\n").unwrap_err();
    assert_eq!(errors.len(), 2, "{:#?}", located(&errors));
    assert!(errors[0].message.contains("fn handle(event)"));
    assert!(errors[1].message.contains("`on` must be an array"));
}

#[test]
fn a_top_level_call_of_an_unknown_function_is_reported_once() {
    let errors =
        load("let x = nothing();\nconst RULE = #{ watch: \"a.b\" };\nfn handle(event) {}\n")
            .unwrap_err();
    assert_eq!(located(&errors).len(), 1, "{:#?}", located(&errors));
    assert!(errors[0].message.contains("unknown function `nothing`"));
}

#[test]
fn a_filter_that_can_never_match_is_a_warning_at_its_key() {
    let rule = load("const RULE = #{\n    watch: \"a.b\",\n    on: [\"delete\"],\n    filter: #{ \"fullDocument.status\": \"gone\" },\n};\nfn handle(event) {}\n").unwrap();
    assert_eq!(
        rule.warnings()
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>(),
        vec![
            "rules/check.rhai:4:5: the filter can never match the events the rule watches (on: [delete]): delete events have no fullDocument"
        ]
    );
    let fine = load("const RULE = #{ watch: \"a.b\", on: [\"insert\", \"delete\"], filter: #{ \"fullDocument.status\": \"new\" } };\nfn handle(event) {}\n").unwrap();
    assert!(fine.warnings().is_empty());
}

#[test]
fn a_computed_log_level_is_checked_when_it_runs() {
    let rule = load("const RULE = #{ watch: \"a.b\" };\nfn handle(event) {\n    let level = \"verb\" + \"ose\";\n    log(level, \"x\");\n}\n").unwrap();
    let event = Arc::new(
        ChangeEvent::from_raw(
            bson::RawDocumentBuf::from_document(&bson::doc! {
                "_id": { "_data": "01" },
                "operationType": "insert",
                "ns": { "db": "a", "coll": "b" },
            })
            .unwrap(),
        )
        .unwrap(),
    );
    let err = rule.handle(&event, Arc::new(NoState)).unwrap_err();
    assert!(
        err.message
            .contains("unknown log level \"verbose\"; use debug, info, warn or error"),
        "{err}"
    );
    assert_eq!(err.line, 4, "{err}");
}

#[test]
fn problems_at_one_place_are_all_reported() {
    // The unknown keys and the missing handler: each where it is.
    let errors = load("const RULE = #{ watch: \"a.b\",\n  bogus: 1, fitler: #{} };\n").unwrap_err();
    let found = located(&errors);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0].starts_with("1:1: the rule has no `fn handle(event)`"),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with("2:3: unknown key `bogus` in RULE"),
        "{found:#?}"
    );
    assert!(
        found[2].starts_with("2:13: unknown key `fitler` in RULE"),
        "{found:#?}"
    );
}
