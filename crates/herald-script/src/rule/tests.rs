use super::*;
use crate::NoState;
use bson::{Bson, doc};
use std::collections::HashMap;

fn engine() -> Arc<Engine> {
    Arc::new(crate::sandbox::engine())
}

fn load(source: &str) -> Result<Rule, Diagnostic> {
    Rule::from_source(engine(), "rules/test_rule.rhai", source)
}

fn event(doc: bson::Document) -> Arc<ChangeEvent> {
    Arc::new(ChangeEvent::from_raw(bson::RawDocumentBuf::from_document(&doc).unwrap()).unwrap())
}

fn expense_insert(amount: Bson) -> Arc<ChangeEvent> {
    event(doc! {
        "_id": {"_data": "01"},
        "operationType": "insert",
        "clusterTime": bson::Timestamp { time: 1_700_000_000, increment: 1 },
        "wallTime": bson::DateTime::from_millis(1_700_000_000_000),
        "ns": {"db": "finance", "coll": "expenses"},
        "documentKey": {"_id": bson::oid::ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap()},
        "fullDocument": {
            "_id": bson::oid::ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap(),
            "amount": amount, "approver": "ann@example.com", "status": "pending_approval",
            "submittedAt": bson::DateTime::from_millis(1_699_000_000_000),
        },
    })
}

const RULE_HEAD: &str = r#"const RULE = #{ watch: "finance.expenses", on: ["insert"], filter: #{ "fullDocument.amount": #{ "$gte": 1000 } } };
"#;

#[test]
fn handler_records_intents_in_order() {
    let rule = load(&format!(
        r#"{RULE_HEAD}
fn channel() {{ "approvals" }}
fn handle(event) {{
    let e = event.fullDocument;
    notify(channel(), #{{ to: e.approver, subject: `Expense ${{e._id}} needs approval`, amount: e.amount }});
    set_state(`pending:${{e._id}}`, true);
    log("info", `seen ${{get_state(`pending:${{e._id}}`)}}`);
    if event.nothing_here == () {{ log("missing fields read as ()"); }}
}}"#
    ))
    .unwrap();
    let ev = expense_insert(Bson::Int32(1500));
    assert!(rule.accepts(&ev));
    let intents = rule.handle(&ev, Arc::new(NoState)).unwrap();
    let json: Vec<String> = intents.iter().map(|i| i.to_json().to_string()).collect();
    assert_eq!(
        json,
        vec![
            r#"{"kind":"notify","target":"approvals","args":{"amount":1500,"subject":"Expense 65a1b2c3d4e5f60718293a4b needs approval","to":"ann@example.com"}}"#,
            r#"{"kind":"set_state","target":"pending:65a1b2c3d4e5f60718293a4b","args":{"value":true}}"#,
            r#"{"kind":"log","target":"info","args":{"message":"seen true"}}"#,
            r#"{"kind":"log","target":"info","args":{"message":"missing fields read as ()"}}"#,
        ]
    );
}

#[test]
fn top_level_names_are_not_visible_in_handlers() {
    let err = load(&format!(
        "{RULE_HEAD}const LIMIT = 5;\nfn handle(event) {{\n    LIMIT\n}}"
    ))
    .unwrap_err();
    assert_eq!(err.line, 4, "{err}");
    assert!(err.message.contains("LIMIT"), "{err}");
}

#[test]
fn filter_and_on_decide_acceptance() {
    let rule = load(&format!("{RULE_HEAD}fn handle(event) {{}}")).unwrap();
    assert!(!rule.accepts(&expense_insert(Bson::Int32(999))));
    assert!(rule.accepts(&expense_insert(Bson::Double(1000.0))));
    let mut other = bson::Document::try_from(expense_insert(Bson::Int32(5000)).raw()).unwrap();
    other.insert("operationType", "delete");
    assert!(!rule.accepts(&event(other.clone())));
    other.insert("operationType", "insert");
    other.insert("ns", doc! {"db": "finance", "coll": "invoices"});
    assert!(!rule.accepts(&event(other)));
}

#[test]
fn state_comes_from_the_store() {
    let rule = load(&format!("{RULE_HEAD}fn handle(event) {{ let n = get_state(\"count\"); set_state(\"count\", n + 1); del_state(\"old\"); }}")).unwrap();
    let mut state = HashMap::new();
    state.insert("count".to_owned(), Bson::Int64(41));
    let intents = rule
        .handle(&expense_insert(Bson::Int32(1000)), Arc::new(state))
        .unwrap();
    assert_eq!(
        intents[0],
        herald_core::Intent::SetState {
            key: "count".into(),
            value: Bson::Int32(42)
        }
    );
    assert_eq!(
        intents[1],
        herald_core::Intent::DelState { key: "old".into() }
    );
}

#[test]
fn bson_types_are_natural_in_scripts() {
    let rule = load(&format!(
        r#"{RULE_HEAD}
fn handle(event) {{
    let e = event.fullDocument;
    if e.amount > 1000 && e.amount < 2000.5 {{ log("decimal compares with numbers"); }}
    if event.wallTime > e.submittedAt {{ log(`after ${{e.submittedAt}}`); }}
    if e._id == "65a1b2c3d4e5f60718293a4b" {{ log("ObjectId equals its hex"); }}
    if event.clusterTime.t == 1700000000 {{ log("timestamp parts"); }}
    log(`${{(event.wallTime - e.submittedAt) / 1000}}s`);
}}"#
    ))
    .unwrap();
    let dec = Bson::Decimal128("1234.50".parse().unwrap());
    let intents = rule
        .handle(&expense_insert(dec), Arc::new(NoState))
        .unwrap();
    let messages: Vec<String> = intents
        .iter()
        .map(|i| i.args().get_str("message").unwrap().to_owned())
        .collect();
    assert_eq!(
        messages,
        [
            "decimal compares with numbers",
            "after 2023-11-03T08:26:40Z",
            "ObjectId equals its hex",
            "timestamp parts",
            "1000000s"
        ]
    );
}

#[test]
fn syntax_errors_have_positions() {
    let err = load(&format!(
        "{RULE_HEAD}fn handle(event) {{\n    let x = ;\n}}"
    ))
    .unwrap_err();
    assert_eq!((err.line, err.column), (3, 13), "{err}");
    assert!(err.message.starts_with("syntax error"), "{err}");
    assert!(
        err.to_string().starts_with("rules/test_rule.rhai:3:13: "),
        "{err}"
    );
}

#[test]
fn spec_errors_point_at_their_key() {
    let err = load(
        "const RULE = #{\n    watch: \"a.b\",\n    on: [\"inserted\"],\n};\nfn handle(event) {}",
    )
    .unwrap_err();
    assert_eq!((err.line, err.column), (3, 5), "{err}");
    assert!(
        err.message.contains("unknown operation type \"inserted\""),
        "{err}"
    );

    let err = load("const RULE = #{\n    watch: \"a.b\",\n    filter: #{ amount: #{ \"$gtx\": 1 } },\n};\nfn handle(event) {}").unwrap_err();
    assert_eq!(err.line, 3, "{err}");
    assert!(
        err.message.contains("unknown operator $gtx") && err.message.contains("amount.$gtx"),
        "{err}"
    );

    let err =
        load("const RULE = #{ watch: \"a.b\", fitler: #{} };\nfn handle(event) {}").unwrap_err();
    assert!(err.message.contains("unknown key `fitler`"), "{err}");

    let err = load("const RULE = #{ on: [\"insert\"] };\nfn handle(event) {}").unwrap_err();
    assert!(err.message.contains("needs `watch`"), "{err}");
}

#[test]
fn a_rule_needs_rule_and_handle() {
    let err = load("const RULE = #{ watch: \"a.b\" };").unwrap_err();
    assert!(err.message.contains("fn handle(event)"), "{err}");
    let err = load("fn handle(event) {}").unwrap_err();
    assert!(err.message.contains("const RULE"), "{err}");
    let err = load("let RULE = #{ watch: \"a.b\" };\nfn handle(event) {}").unwrap_err();
    assert!(err.message.contains("const RULE"), "{err}");
}

#[test]
fn endless_loops_fail_the_event_with_a_position() {
    let rule = load(&format!(
        "{RULE_HEAD}fn handle(event) {{\n    let n = 0;\n    loop {{ n += 1; }}\n}}"
    ))
    .unwrap();
    // A debug build may take over the default second for a million operations.
    let limits = CallLimits {
        timeout: Duration::from_secs(600),
        ..CallLimits::default()
    };
    let err = rule
        .handle_with(
            &expense_insert(Bson::Int32(5000)),
            Arc::new(NoState),
            &limits,
        )
        .unwrap_err();
    // Rhai gives no position for this limit, so the diagnostic points at the handler.
    assert_eq!((err.line, err.column), (2, 1), "{err}");
    assert!(err.message.contains("endless loop"), "{err}");
}

#[test]
fn runtime_errors_name_the_line_inside_helpers() {
    let rule = load(&format!(
        "{RULE_HEAD}fn helper(x) {{\n    x.to_upper()\n}}\nfn handle(event) {{\n    helper(1);\n}}"
    ))
    .unwrap();
    let err = rule
        .handle(&expense_insert(Bson::Int32(5000)), Arc::new(NoState))
        .unwrap_err();
    assert_eq!(err.line, 3, "{err}");
    assert!(err.message.contains("to_upper"), "{err}");
}

#[test]
fn the_sandbox_has_no_eval_no_imports_and_bounded_data() {
    assert!(load(&format!("{RULE_HEAD}fn handle(event) {{ eval(\"1\"); }}")).is_err());
    let rule = load(&format!(
        "{RULE_HEAD}fn handle(event) {{ let s = \"x\"; loop {{ s += s; }} }}"
    ))
    .unwrap();
    let err = rule
        .handle(&expense_insert(Bson::Int32(5000)), Arc::new(NoState))
        .unwrap_err();
    assert!(err.message.to_lowercase().contains("length"), "{err}");
    let rule = load(&format!(
        "{RULE_HEAD}fn f(n) {{ f(n + 1) }}\nfn handle(event) {{ f(0) }}"
    ))
    .unwrap();
    let err = rule
        .handle(&expense_insert(Bson::Int32(5000)), Arc::new(NoState))
        .unwrap_err();
    assert!(
        err.message.contains("nested calls") || err.message.to_lowercase().contains("stack"),
        "{err}"
    );
}

#[test]
fn builtins_check_their_arguments() {
    // A literal collection is checked when the rule loads...
    let err = load(&format!(
        "{RULE_HEAD}fn handle(event) {{\n    insert_doc(\"nocollection\", #{{}});\n}}"
    ))
    .unwrap_err();
    assert_eq!((err.line, err.column), (3, 5), "{err}");
    assert!(err.message.contains("db.collection"), "{err}");
    // ...a computed one when the handler runs.
    let rule = load(&format!(
        "{RULE_HEAD}fn handle(event) {{\n    let ns = \"no\" + \"collection\";\n    insert_doc(ns, #{{}});\n}}"
    ))
    .unwrap();
    let err = rule
        .handle(&expense_insert(Bson::Int32(5000)), Arc::new(NoState))
        .unwrap_err();
    assert_eq!(err.line, 4, "{err}");
    assert!(err.message.contains("db.collection"), "{err}");
    let rule = load(&format!(
        "{RULE_HEAD}fn handle(event) {{ notify(\"c\", #{{ f: || 1 }}); }}"
    ))
    .unwrap();
    let err = rule
        .handle(&expense_insert(Bson::Int32(5000)), Arc::new(NoState))
        .unwrap_err();
    assert!(err.message.contains("message.f"), "{err}");
}

#[test]
fn sub_documents_are_read_only_views_that_convert_on_demand() {
    let rule = load(&format!(
        r#"{RULE_HEAD}
fn handle(event) {{
    let e = event.fullDocument;
    let items = e.items;
    let copy = e.to_map();
    copy.extra = "added";
    notify("views", #{{
        second_sku: items[1].sku,
        has_amount: "amount" in e,
        has_nothing: "nothing" in e,
        fields: e.len(),
        keys: e.keys(),
        inner: e.meta,
        copy_extra: copy.extra,
        type_name: type_of(e),
    }});
}}"#
    ))
    .unwrap();
    let ev = event(doc! {
        "_id": {"_data": "01"}, "operationType": "insert",
        "ns": {"db": "finance", "coll": "expenses"},
        "fullDocument": {
            "amount": 1500, "items": [{"sku": "A1"}, {"sku": "B2"}],
            "meta": {"tags": ["x"], "n": 2_i64},
        },
    });
    let intents = rule.handle(&ev, Arc::new(NoState)).unwrap();
    assert_eq!(
        intents[0].args(),
        doc! {
            "copy_extra": "added", "fields": 3, "has_amount": true, "has_nothing": false,
            "inner": {"tags": ["x"], "n": 2_i64},
            "keys": ["amount", "items", "meta"], "second_sku": "B2", "type_name": "Document",
        }
    );

    let writes_to_view = load(&format!(
        "{RULE_HEAD}\nfn handle(event) {{\n    let e = event.fullDocument;\n    e.amount = 1;\n}}"
    ))
    .unwrap();
    let err = writes_to_view
        .handle(&ev, Arc::new(NoState))
        .unwrap_err()
        .to_string();
    assert!(err.contains(":5:") && err.contains("read-only"), "{err}");
}

#[test]
fn handlers_cannot_block_or_read_the_clock() {
    let err = load(&format!(
        "{RULE_HEAD}fn handle(event) {{\n    sleep(3600);\n}}"
    ))
    .unwrap_err();
    assert_eq!((err.line, err.column), (3, 5), "{err}");
    assert!(err.message.contains("sleep"), "{err}");
    let err = load(&format!(
        "{RULE_HEAD}fn handle(event) {{\n    let t = timestamp();\n}}"
    ));
    let err = err.unwrap_err();
    assert_eq!((err.line, err.column), (3, 13), "{err}");
    assert!(
        err.message.contains("unknown function `timestamp`"),
        "{err}"
    );
    // A rule's own function may be named like the blocking one.
    assert!(
        load(&format!(
            "{RULE_HEAD}fn sleep(x) {{ x }}\nfn handle(event) {{ sleep(1); }}"
        ))
        .is_ok()
    );
}

/// The issue's case: expensive operations under the operation count.
const SLOW_HANDLER: &str = "fn handle(event) {\n    let s = \"\";\n    s.pad(1048576, \"x\");\n    let found = 0;\n    for i in 0..300000 {\n        found += s.index_of(\"y\");\n    }\n}";

#[test]
fn a_slow_handler_stops_at_its_time_limit_with_a_position() {
    let rule = load(&format!("{RULE_HEAD}{SLOW_HANDLER}")).unwrap();
    let limits = CallLimits {
        timeout: Duration::from_millis(100),
        ..CallLimits::default()
    };
    let err = rule
        .handle_with(
            &expense_insert(Bson::Int32(5000)),
            Arc::new(NoState),
            &limits,
        )
        .unwrap_err();
    assert!(err.message.contains("time limit of 100 ms"), "{err}");
    // Rhai does not say where a limit stopped a call: the diagnostic points at the handler.
    assert_eq!((err.line, err.column), (2, 1), "{err}");
    // The budget ends with the call: the next call has its own.
    let quick = load(&format!(
        "{RULE_HEAD}fn handle(event) {{ notify(\"c\", #{{}}); }}"
    ))
    .unwrap();
    assert_eq!(
        quick
            .handle_with(
                &expense_insert(Bson::Int32(5000)),
                Arc::new(NoState),
                &limits
            )
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_rule_can_lower_its_limits_but_not_raise_them() {
    let rule = load(
        "const RULE = #{ watch: \"a.b\", timeout_ms: 250, memory_mib: 8 };\nfn handle(event) {}",
    )
    .unwrap();
    let limits = rule.limits(&CallLimits::default());
    assert_eq!(limits.timeout, Duration::from_millis(250));
    assert_eq!(limits.memory, 8 << 20);
    // A rule can lower the operator's limits, never raise them.
    let greedy = load(
        "const RULE = #{ watch: \"a.b\", timeout_ms: 60000, memory_mib: 4096 };\nfn handle(event) {}",
    )
    .unwrap();
    let limits = greedy.limits(&CallLimits::default());
    assert_eq!(limits.timeout, Duration::from_millis(1000));
    assert_eq!(limits.memory, 64 << 20);
    for (value, expected) in [
        ("0", "from 1 to 60000"),
        ("60001", "from 1 to 60000"),
        ("\"1s\"", "must be an integer"),
    ] {
        let err = load(&format!(
            "const RULE = #{{ watch: \"a.b\",\n  timeout_ms: {value} }};\nfn handle(event) {{}}"
        ))
        .unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(err.message.contains(expected), "{value}: {err}");
    }
}

struct CancelOnRead(Arc<std::sync::atomic::AtomicBool>);

impl crate::StateRead for CancelOnRead {
    fn get_state(&self, _rule: &str, _key: &str) -> Option<Bson> {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        None
    }
}

#[test]
fn a_cancelled_call_stops_at_its_next_operations() {
    let rule = load(&format!(
        "{RULE_HEAD}fn handle(event) {{\n    get_state(\"k\");\n    loop {{ }}\n}}"
    ))
    .unwrap();
    let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let limits = CallLimits {
        timeout: Duration::from_secs(3600),
        cancel: Some(cancel.clone()),
        ..CallLimits::default()
    };
    let err = rule
        .handle_with(
            &expense_insert(Bson::Int32(5000)),
            Arc::new(CancelOnRead(cancel)),
            &limits,
        )
        .unwrap_err();
    assert!(err.message.contains("shutting down"), "{err}");
}

#[test]
fn one_call_cannot_hold_more_memory_than_its_budget() {
    assert!(
        crate::alloc::is_installed(),
        "the test binary installs the counting allocator"
    );
    // 1,000 variables of 512 KiB each: every value is within Rhai's limits, the sum is 500 MiB.
    let mut body = String::from("    let base = \"\";\n    base.pad(524288, \"x\");\n");
    for i in 0..1000 {
        body.push_str(&format!("    let v{i} = base + \"{i}\";\n"));
    }
    let rule = load(&format!("{RULE_HEAD}fn handle(event) {{\n{body}}}")).unwrap();
    let err = rule
        .handle(&expense_insert(Bson::Int32(5000)), Arc::new(NoState))
        .unwrap_err();
    assert!(err.message.contains("memory limit of 64 MiB"), "{err}");
    assert_eq!((err.line, err.column), (2, 1), "{err}");
    // The memory is given back when the call fails.
    let after = crate::alloc::thread_net();
    let again = rule
        .handle(&expense_insert(Bson::Int32(5000)), Arc::new(NoState))
        .unwrap_err();
    assert!(again.message.contains("memory limit"), "{again}");
    assert!(crate::alloc::thread_net() - after < 1 << 20);
}

/// Every method works on every nested field, two levels down: Rhai writes a
/// method call's receiver back through the parent, and a read-only view must
/// take back what it gave (issue 14, item 1).
#[test]
fn methods_work_on_nested_fields_of_the_read_only_event() {
    let ev = event(doc! {
        "_id": {"_data": "01"},
        "operationType": "insert",
        "ns": {"db": "shop", "coll": "orders"},
        "documentKey": {"_id": 1},
        "fullDocument": {
            "_id": 1, "name": "Ann",
            "items": [{"sku": "a-1", "qty": 2}, {"sku": "b-2", "qty": 1}],
            "addr": {"city": "Oslo", "zip": "0150", "geo": {"lat": 59.9}},
            "tags": ["x", "y"],
        },
    });
    let rule = load(
        r#"const RULE = #{ watch: "shop.orders", on: ["insert"] };
fn handle(event) {
    let d = event.fullDocument;
    notify("out", #{
        items_len: event.fullDocument.items.len(),
        first_sku_len: event.fullDocument.items[0].sku.len(),
        first_keys: event.fullDocument.items[0].keys().len(),
        addr_keys: event.fullDocument.addr.keys(),
        addr_len: event.fullDocument.addr.len(),
        geo_has_lat: event.fullDocument.addr.geo.contains("lat"),
        has_zip: "zip" in event.fullDocument.addr,
        tags_has_y: event.fullDocument.tags.contains("y"),
        tags_upper: event.fullDocument.tags.map(|t| t.to_upper()),
        big: event.fullDocument.items.filter(|i| i.qty > 1).len(),
        name_upper: event.fullDocument.name.to_upper(),
        name_len: event.fullDocument.name.len(),
        city_starts: event.fullDocument.addr.city.starts_with("Os"),
        copy_len: event.fullDocument.to_map().len(),
        nested_copy: event.fullDocument.addr.to_map().city,
        via_var: d.items.len() + d.addr.geo.keys().len(),
    });
}"#,
    )
    .unwrap();
    let intents = rule.handle(&ev, Arc::new(NoState)).unwrap();
    let json = intents[0].to_json().to_string();
    assert_eq!(
        json,
        r#"{"kind":"notify","target":"out","args":{"addr_keys":["city","zip","geo"],"addr_len":3,"big":1,"city_starts":true,"copy_len":5,"first_keys":2,"first_sku_len":3,"geo_has_lat":true,"has_zip":true,"items_len":2,"name_len":3,"name_upper":"ANN","nested_copy":"Oslo","tags_has_y":true,"tags_upper":["X","Y"],"via_var":3}}"#
    );
    // Changing a field is still refused, naming the way to a copy.
    let writer = load(
        r#"const RULE = #{ watch: "shop.orders", on: ["insert"] };
fn handle(event) {
    event.fullDocument.items.push(3);
}"#,
    )
    .unwrap();
    let err = writer.handle(&ev, Arc::new(NoState)).unwrap_err();
    assert!(err.message.contains("read-only"), "{err}");
}

/// Decimal with float arithmetic stays decimal and exact (issue 14, item 2).
#[test]
fn decimals_mixed_with_floats_stay_exact() {
    let ev = expense_insert(Bson::Decimal128("0.1".parse().unwrap()));
    let rule = load(&format!(
        "{RULE_HEAD}fn handle(event) {{\n    let a = event.fullDocument.amount;\n    notify(\"out\", #{{ sum: a + 0.2, diff: 0.3 - a, product: a * 3.0, quotient: a / 0.5, kind: type_of(a + 0.2), less: a < 0.2 }});\n}}"
    ))
    .unwrap();
    // The RULE's filter wants amount >= 1000; call the handler directly.
    let intents = rule.handle(&ev, Arc::new(NoState)).unwrap();
    let json = intents[0].to_json().to_string();
    assert_eq!(
        json,
        r#"{"kind":"notify","target":"out","args":{"diff":{"$numberDecimal":"0.2"},"kind":"decimal","less":true,"product":{"$numberDecimal":"0.3"},"quotient":{"$numberDecimal":"0.20"},"sum":{"$numberDecimal":"0.3"}}}"#
    );
}

/// Missing fields: `?.` and `??` give defaults, `require` fails the event
/// naming the path (issue 14, item 2).
#[test]
fn missing_fields_have_defaults_or_fail_by_name() {
    let ev = expense_insert(Bson::Int32(5000));
    let rule = load(&format!(
        "{RULE_HEAD}fn handle(event) {{\n    let d = event.fullDocument;\n    notify(\"out\", #{{ city: d.addr?.city ?? \"unknown\", approver: require(d, \"approver\"), n: d.items?.len() ?? 0, copy: require(d.to_map(), \"status\") }});\n}}"
    ))
    .unwrap();
    let intents = rule.handle(&ev, Arc::new(NoState)).unwrap();
    assert_eq!(
        intents[0].to_json().to_string(),
        r#"{"kind":"notify","target":"out","args":{"approver":"ann@example.com","city":"unknown","copy":"pending_approval","n":0}}"#
    );
    let strict = load(&format!(
        "{RULE_HEAD}fn handle(event) {{\n    let city = require(event, \"fullDocument.addr.city\");\n}}"
    ))
    .unwrap();
    let err = strict.handle(&ev, Arc::new(NoState)).unwrap_err();
    assert_eq!(err.line, 3, "{err}");
    assert!(
        err.message.contains(
            "required field `fullDocument.addr.city` is missing (no `fullDocument.addr`)"
        ),
        "{err}"
    );
    for (path, expected) in [
        ("", "is not a field path"),
        ("fullDocument.", "is not a field path"),
        (
            "fullDocument.approver.x",
            "`fullDocument.approver` is a string, not a document",
        ),
        (
            "fullDocument.nothing",
            "is missing (no `fullDocument.nothing`)",
        ),
    ] {
        let rule = load(&format!(
            "{RULE_HEAD}fn handle(event) {{\n    require(event, \"{path}\");\n}}"
        ))
        .unwrap();
        let err = rule.handle(&ev, Arc::new(NoState)).unwrap_err();
        assert!(err.message.contains(expected), "{path}: {err}");
    }
    // Arrays too, by index.
    let items = load(&format!(
        "{RULE_HEAD}fn handle(event) {{\n    notify(\"x\", #{{ v: require([#{{ a: 1 }}], \"0.a\") }});\n}}"
    ))
    .unwrap();
    let intents = items.handle(&ev, Arc::new(NoState)).unwrap();
    assert!(intents[0].to_json().to_string().contains(r#""v":1"#));
}

/// `{` where `#{` was meant gets a hint (issue 14, item 3).
#[test]
fn a_map_without_its_hash_gets_a_hint() {
    let err = load(&format!(
        "{RULE_HEAD}fn handle(event) {{\n    notify(\"x\", {{ a: 1 }});\n}}"
    ))
    .unwrap_err();
    assert_eq!(err.line, 3, "{err}");
    assert!(
        err.message.contains("object maps are written `#{ ... }`"),
        "{err}"
    );
    // A map over several lines.
    let err = load(&format!(
        "{RULE_HEAD}fn handle(event) {{\n    notify(\"x\", {{\n        a: 1,\n    }});\n}}"
    ))
    .unwrap_err();
    assert!(
        err.message.contains("object maps are written `#{ ... }`"),
        "{err}"
    );
    // Not for other syntax errors, paths, or braces in strings.
    for body in [
        "let = 1;",
        "if true { x::y() }",
        "let s = \"got {id: 1}\" +;",
    ] {
        let err = load(&format!("{RULE_HEAD}fn handle(event) {{\n    {body}\n}}")).unwrap_err();
        assert!(!err.message.contains("object maps"), "{body}: {err}");
    }
}

/// Decimal with float: `%`, `min`, `max` stay decimal; what a decimal cannot
/// hold is an error naming the way out (`to_float()`), never a silent zero.
#[test]
fn decimal_float_edges_are_errors_not_surprises() {
    let ev = expense_insert(Bson::Decimal128("1.5".parse().unwrap()));
    let ok = load(&format!(
        "{RULE_HEAD}fn handle(event) {{\n    let a = event.fullDocument.amount;\n    notify(\"out\", #{{ rem: a % 1.0, lo: min(a, 2.0), hi: max(a, 2.0), pow: a.to_float() ** 2.0 }});\n}}"
    ))
    .unwrap();
    let intents = ok.handle(&ev, Arc::new(NoState)).unwrap();
    assert_eq!(
        intents[0].to_json().to_string(),
        r#"{"kind":"notify","target":"out","args":{"hi":{"$numberDecimal":"2"},"lo":{"$numberDecimal":"1.5"},"pow":2.25,"rem":{"$numberDecimal":"0.5"}}}"#
    );
    for (expr, expected) in [
        ("a + 1e30", "out of a decimal's range"),
        ("a * 1e-30", "too small for a decimal"),
        ("a / 1e-30", "too small for a decimal"),
    ] {
        let rule = load(&format!(
            "{RULE_HEAD}fn handle(event) {{\n    let a = event.fullDocument.amount;\n    let x = {expr};\n}}"
        ))
        .unwrap();
        let err = rule.handle(&ev, Arc::new(NoState)).unwrap_err();
        assert!(
            err.message.contains(expected) && err.message.contains("to_float()"),
            "{expr}: {err}"
        );
    }
}

/// A write-back that changes a decimal's scale, or a value's tag, is a change.
#[test]
fn a_changed_scale_or_tag_is_refused() {
    let ev = expense_insert(Bson::Decimal128("1.5".parse().unwrap()));
    for body in [
        "event.fullDocument.amount = parse_decimal(\"1.500\");",
        "event.fullDocument.amount.tag = 42;",
    ] {
        let rule = load(&format!("{RULE_HEAD}fn handle(event) {{\n    {body}\n}}")).unwrap();
        let err = rule.handle(&ev, Arc::new(NoState)).unwrap_err();
        assert!(err.message.contains("read-only"), "{body}: {err}");
    }
}

#[test]
fn insert_doc_refuses_its_own_id_and_upsert_doc_needs_one() {
    let run = |body: &str| {
        load(&format!("{RULE_HEAD}fn handle(event) {{\n    {body}\n}}"))
            .unwrap()
            .handle(&expense_insert(Bson::Int32(5000)), Arc::new(NoState))
    };
    // `insert_doc` keys the document by the effect: an `_id` of its own
    // would be replaced silently, so the call fails and names the fix.
    let err = run(r#"insert_doc("app.audit", #{ _id: 7, n: 1 });"#).unwrap_err();
    assert_eq!(err.line, 3, "{err}");
    assert!(
        err.message.contains("has its own `_id`") && err.message.contains("upsert_doc("),
        "{err}"
    );
    let err = run(r#"upsert_doc("app.audit", #{ n: 1 });"#).unwrap_err();
    assert!(
        err.message.contains("has none") && err.message.contains("insert_doc("),
        "{err}"
    );
    let err = load(&format!(
        "{RULE_HEAD}fn handle(event) {{ upsert_doc(\"audit\", #{{ _id: 1 }}); }}"
    ))
    .unwrap_err();
    assert!(
        err.message.contains("upsert_doc needs \"db.collection\""),
        "{err}"
    );
    let intents = run(r#"upsert_doc("app.audit", #{ _id: 7, n: 1 });"#).unwrap();
    let json: Vec<String> = intents.iter().map(|i| i.to_json().to_string()).collect();
    assert_eq!(
        json,
        [r#"{"kind":"upsert_doc","args":{"ns":"app.audit","doc":{"_id":7,"n":1}}}"#]
    );
    assert!(intents[0].is_effect());
}

#[test]
fn snapshot_events_reach_only_rules_of_their_collection_that_take_them() {
    let snapshot = event(doc! {
        "_id": {"snapshot": "finance.expenses", "at": bson::Timestamp { time: 1, increment: 1 }, "id": 1},
        "operationType": "insert",
        "clusterTime": bson::Timestamp { time: 1, increment: 1 },
        "ns": {"db": "finance", "coll": "expenses"},
        "documentKey": {"_id": 1},
        "fullDocument": {"_id": 1, "amount": 5000},
        "snapshot": true,
    });
    let accepts = |head: &str| {
        load(&format!("const RULE = #{{ {head} }};\nfn handle(e) {{}}"))
            .unwrap()
            .accepts(&snapshot)
    };
    assert!(accepts(r#"watch: "finance.expenses", on: ["insert"]"#));
    assert!(!accepts(
        r#"watch: "finance.expenses", on: ["insert"], snapshot: false"#
    ));
    // The snapshot was read for the collection target, not for wider ones.
    assert!(!accepts(r#"watch: "finance", on: ["insert"]"#));
    assert!(!accepts(r#"watch: "*", on: ["insert"]"#));
    assert!(!expense_insert(Bson::Int32(5000)).is_snapshot());
    let err = load(
        r#"const RULE = #{ watch: "a.b", snapshot: "yes" };
fn handle(e) {}"#,
    )
    .unwrap_err();
    assert!(
        err.message.contains("`snapshot` must be true or false"),
        "{err}"
    );
}
