//! Timers in rules: what `after`, `at` and `cancel_timer` record, how
//! `on_timer` runs, `herald check`'s demand for it, and shared state scopes.

use super::*;
use crate::{NoState, TimerCall};
use bson::{Bson, DateTime, doc};
use std::collections::HashMap;

fn load(source: &str) -> Result<Rule, Diagnostic> {
    Rule::from_source(Arc::new(crate::sandbox::engine()), "rules/t.rhai", source)
}

fn event(extra: bson::Document) -> Arc<ChangeEvent> {
    let mut doc = doc! {
        "_id": {"_data": "01"},
        "operationType": "insert",
        "ns": {"db": "shop", "coll": "orders"},
        "documentKey": {"_id": 7},
        "fullDocument": {"_id": 7},
    };
    doc.extend(extra);
    Arc::new(ChangeEvent::from_raw(bson::RawDocumentBuf::from_document(&doc).unwrap()).unwrap())
}

const HEAD: &str = "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\n";
const ON_TIMER: &str = "fn on_timer(timer) {}\n";

fn intents_of(body: &str, event: &Arc<ChangeEvent>) -> Result<Vec<String>, Diagnostic> {
    let rule = load(&format!("{HEAD}{ON_TIMER}fn handle(event) {{\n{body}\n}}"))?;
    Ok(rule
        .handle(event, Arc::new(NoState))?
        .iter()
        .map(|i| i.to_json().to_string())
        .collect())
}

const WALL: i64 = 1_700_000_000_123;

#[test]
fn after_counts_from_the_event_wall_time_and_at_takes_dates_and_text() {
    let ev = event(doc! {
        "wallTime": DateTime::from_millis(WALL),
        "clusterTime": bson::Timestamp { time: 1_600_000_000, increment: 1 },
    });
    let got = intents_of(
        r#"after("48h", "escalate", #{ id: 7 });
after(1500, "soon");
at(date("2030-01-02T03:04:05Z"), "fixed", [1, 2]);
at("2030-01-02T03:04:05.5Z", "text");
cancel_timer("soon");"#,
        &ev,
    )
    .unwrap();
    let due = |ms: i64| {
        let date = DateTime::from_millis(ms).try_to_rfc3339_string().unwrap();
        format!("{{\"$date\":\"{date}\"}}")
    };
    assert_eq!(
        got,
        vec![
            format!(
                r#"{{"kind":"set_timer","target":"escalate","args":{{"due":{},"payload":{{"id":7}}}}}}"#,
                due(WALL + 48 * 3_600_000)
            ),
            format!(
                r#"{{"kind":"set_timer","target":"soon","args":{{"due":{},"payload":null}}}}"#,
                due(WALL + 1500)
            ),
            r#"{"kind":"set_timer","target":"fixed","args":{"due":{"$date":"2030-01-02T03:04:05Z"},"payload":[1,2]}}"#.to_owned(),
            r#"{"kind":"set_timer","target":"text","args":{"due":{"$date":"2030-01-02T03:04:05.5Z"},"payload":null}}"#.to_owned(),
            r#"{"kind":"cancel_timer","target":"soon","args":{}}"#.to_owned(),
        ]
    );
}

#[test]
fn after_without_a_wall_time_counts_from_the_cluster_time_and_without_either_fails() {
    let ev = event(doc! { "clusterTime": bson::Timestamp { time: 1_600_000_000, increment: 9 } });
    let got = intents_of(r#"after("1s", "t");"#, &ev).unwrap();
    assert!(
        got[0].contains(
            &DateTime::from_millis(1_600_000_001_000)
                .try_to_rfc3339_string()
                .unwrap()
        ),
        "{got:?}"
    );
    let e = intents_of("\n    after(\"1s\", \"t\");", &event(doc! {})).unwrap_err();
    assert_eq!((e.line, e.column), (5, 5), "{e}");
    assert!(
        e.message.contains("neither wallTime nor clusterTime"),
        "{e}"
    );
}

#[test]
fn bad_delays_names_and_times_fail_at_the_call() {
    let ev = event(doc! { "wallTime": DateTime::from_millis(WALL) });
    for (body, wanted) in [
        (r#"after("2 weeks", "t");"#, "delay \"2 weeks\""),
        (r#"after(-5, "t");"#, "must be 0 to"),
        (r#"after("1h", "");"#, "timer name must not be empty"),
        (r#"at("tomorrow", "t");"#, "not an RFC 3339 time"),
        (r#"cancel_timer("");"#, "timer name must not be empty"),
    ] {
        let e = intents_of(body, &ev).unwrap_err();
        assert!(e.message.contains(wanted), "{body}: {e}");
        assert_eq!(e.line, 4, "{body}: {e}");
    }
}

#[test]
fn on_timer_gets_the_timer_and_after_there_counts_from_its_due_time() {
    let rule = load(&format!(
        r#"{HEAD}fn handle(event) {{}}
fn on_timer(timer) {{
    notify("ops", #{{ name: timer.name, id: timer.payload.id, due: timer.due, set_at: timer.set_at, seen: get_state("seen") }});
    after("1h", timer.name, timer.payload);
}}"#
    ))
    .unwrap();
    assert!(rule.has_on_timer());
    let timer = TimerCall {
        name: "remind".into(),
        payload: Bson::Document(doc! { "id": 7 }),
        due: DateTime::from_millis(WALL),
        set_at: DateTime::from_millis(WALL - 1000),
    };
    let state: HashMap<String, Bson> = [("seen".to_owned(), Bson::Int32(3))].into();
    let intents = rule
        .fire_timer(&timer, Arc::new(state), &CallLimits::default())
        .unwrap();
    assert_eq!(
        intents,
        vec![
            Intent::Notify {
                channel: "ops".into(),
                message: doc! { "name": "remind", "id": 7, "due": DateTime::from_millis(WALL), "set_at": DateTime::from_millis(WALL - 1000), "seen": 3 },
            },
            Intent::SetTimer {
                name: "remind".into(),
                due: DateTime::from_millis(WALL + 3_600_000),
                payload: Bson::Document(doc! { "id": 7 }),
            },
        ]
    );
}

#[test]
fn an_on_timer_that_fails_is_a_diagnostic_in_on_timer() {
    let rule = load(&format!(
        "{HEAD}fn handle(event) {{}}\nfn on_timer(timer) {{\n    throw \"no\";\n}}"
    ))
    .unwrap();
    let timer = TimerCall {
        name: "t".into(),
        payload: Bson::Null,
        due: DateTime::from_millis(0),
        set_at: DateTime::from_millis(0),
    };
    let e = rule
        .fire_timer(&timer, Arc::new(NoState), &CallLimits::default())
        .unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    assert!(e.message.starts_with("in on_timer(timer)"), "{e}");
}

#[test]
fn setting_a_timer_without_on_timer_is_an_error_at_each_call() {
    let all = Rule::load(
        Arc::new(crate::sandbox::engine()),
        "rules/t.rhai",
        &format!("{HEAD}fn handle(event) {{\n    after(\"1h\", \"a\");\n    if true {{ at(\"2030-01-01T00:00:00Z\", \"b\", 1); }}\n    cancel_timer(\"a\");\n}}"),
    )
    .unwrap_err();
    let found: Vec<(usize, usize, bool)> = all
        .iter()
        .map(|d| {
            (
                d.line,
                d.column,
                d.message.contains("no `fn on_timer(timer)`"),
            )
        })
        .collect();
    assert_eq!(found, vec![(3, 5, true), (4, 15, true)], "{all:?}");
    // With it, the rule loads; `cancel_timer` alone never needs it.
    assert!(
        load(&format!(
            "{HEAD}{ON_TIMER}fn handle(event) {{ after(\"1h\", \"a\"); }}"
        ))
        .is_ok()
    );
    assert!(
        load(&format!(
            "{HEAD}fn handle(event) {{ cancel_timer(\"a\"); }}"
        ))
        .is_ok()
    );
}

#[test]
fn upsert_doc_with_a_filter_takes_idempotent_updates_only() {
    let ev = event(doc! {});
    let got = intents_of(
        r#"upsert_doc("shop.totals", #{ _id: "day" }, #{ "$set": #{ n: 1 }, "$max": #{ top: 5 } });"#,
        &ev,
    )
    .unwrap();
    assert_eq!(
        got,
        vec![
            r#"{"kind":"upsert_doc","args":{"ns":"shop.totals","filter":{"_id":"day"},"update":{"$max":{"top":5},"$set":{"n":1}}}}"#
        ]
    );
    for (update, wanted) in [
        (r#"#{ "$inc": #{ n: 1 } }"#, "`$inc` is not idempotent"),
        (r#"#{ "$push": #{ l: 1 } }"#, "`$push` is not idempotent"),
        (r#"#{ "$set": #{ n: 1 }, n: 2 }"#, "mixes operators"),
    ] {
        let e = intents_of(&format!(r#"upsert_doc("shop.t", #{{}}, {update});"#), &ev).unwrap_err();
        assert!(e.message.contains(wanted), "{update}: {e}");
    }
}

#[test]
fn rules_naming_one_state_scope_share_it() {
    let shared = load(
        "const RULE = #{ watch: \"shop.orders\", state: \"orders\" };\nfn handle(event) { notify(\"ops\", #{ seen: get_state(\"k\") }); }",
    )
    .unwrap();
    let own = load(&format!("{HEAD}fn handle(event) {{}}")).unwrap();
    assert_eq!(shared.state_owner().as_ref(), "@orders");
    assert_eq!(own.state_owner().as_ref(), "t");

    struct ByOwner;
    impl StateRead for ByOwner {
        fn get_state(&self, owner: &str, key: &str) -> Option<Bson> {
            Some(Bson::String(format!("{owner}/{key}")))
        }
    }
    let intents = shared.handle(&event(doc! {}), Arc::new(ByOwner)).unwrap();
    assert_eq!(intents[0].args(), doc! { "seen": "@orders/k" });
    let bad =
        load("const RULE = #{ watch: \"shop.orders\", state: \"a b\" };\nfn handle(event) {}")
            .unwrap_err();
    assert!(bad.message.contains("`state` \"a b\" must be"), "{bad}");
}
