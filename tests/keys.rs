//! Idempotency keys that survive edits: only effects are numbered, and a
//! rule's `id` keeps its keys, ledger and state across a rename.

use crate::util::{Dir, herald, stderr, stdout, write_orders};

fn events(dir: &Dir, name: &str) -> std::path::PathBuf {
    write_orders(dir, name, 1..=2)
}

/// (kind, idempotency key) of each dry-run line.
fn dry_run(dir: &Dir, rules: &str, events: &std::path::Path) -> Vec<(String, Option<String>)> {
    let output = herald()
        .arg("replay")
        .arg(events)
        .arg("--dry-run")
        .arg("--rules")
        .arg(dir.join(rules))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["kind"].as_str().unwrap().to_owned(),
                v["idempotency_key"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

herald_test!(adding_a_log_or_state_line_keeps_the_effect_keys, |dir| {
    let events = events(&dir, "events.jsonl");
    dir.write(
        "v1/orders.rhai",
        "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) {\n    notify(\"ops\", #{ id: event.documentKey._id });\n    webhook(\"crm\", #{ id: event.documentKey._id });\n}\n",
    );
    dir.write(
        "v2/orders.rhai",
        "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) {\n    log(\"info\", \"an order\");\n    set_state(\"last\", event.documentKey._id);\n    notify(\"ops\", #{ id: event.documentKey._id });\n    log(\"info\", \"notified\");\n    webhook(\"crm\", #{ id: event.documentKey._id });\n}\n",
    );
    let effects = |lines: Vec<(String, Option<String>)>| -> Vec<(String, String)> {
        lines
            .into_iter()
            .filter_map(|(kind, key)| key.map(|k| (kind, k)))
            .collect()
    };
    let v1 = effects(dry_run(&dir, "v1", &events));
    let v2 = dry_run(&dir, "v2", &events);
    assert_eq!(
        v2.len(),
        10,
        "2 events × (2 logs, 1 state change, 2 effects)"
    );
    let v2 = effects(v2);
    assert_eq!(v1.len(), 4);
    assert_eq!(v1, v2, "the same keys for the same effects");
    // The key is hash(rule, token, effect number): the webhook is effect 1.
    let token = herald_core::ResumeToken::new(bson::RawBson::Document(
        bson::RawDocumentBuf::from_document(&bson::doc! {"_data": "0001"}).unwrap(),
    ));
    assert_eq!(
        v1[1],
        (
            "webhook".to_owned(),
            herald_core::IdempotencyKey::derive("orders", &token, 1)
                .as_str()
                .to_owned()
        )
    );
});

herald_test!(
    a_rule_id_keeps_keys_ledger_and_state_across_a_rename,
    |dir| {
        let rule = "const RULE = #{ id: \"order-notices\", watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) {\n    notify(\"ops\", #{ id: event.documentKey._id, previous: get_state(\"last\") ?? \"none\" });\n    set_state(\"last\", event.documentKey._id);\n}\n";
        dir.write("old/orders.rhai", rule);
        dir.write("new/renamed.rhai", rule);
        let events = events(&dir, "events.jsonl");
        let store = dir.join("store");
        let replay = |rules: &str, events: &std::path::Path| {
            let output = herald()
                .arg("replay")
                .arg(events)
                .arg("--rules")
                .arg(dir.join(rules))
                .arg("--store")
                .arg(&store)
                .output()
                .unwrap();
            assert!(output.status.success(), "{}", stderr(&output));
            output
        };
        let first = replay("old", &events);
        assert!(
            stdout(&first).contains("(rule order-notices)"),
            "{}",
            stdout(&first)
        );
        // The same events from another file (no checkpoint of its own): the
        // renamed rule is the same rule, so the ledger skips both.
        let copy = dir.write("copy.jsonl", &std::fs::read_to_string(&events).unwrap());
        let second = replay("new", &copy);
        assert!(
            stderr(&second).contains("2 matched, 0 effects, 2 deduplicated"),
            "{}",
            stderr(&second)
        );
        // And its state is the same state: the last order the old file saw (in source order).
        let more = write_orders(&dir, "more.jsonl", [3]);
        let third = replay("new", &more);
        assert!(stdout(&third).contains("previous: 2"), "{}", stdout(&third));
        assert!(
            stdout(&third).contains("(rule order-notices)"),
            "{}",
            stdout(&third)
        );
        let keys_old = dry_run(&dir, "old", &events);
        let keys_new = dry_run(&dir, "new", &events);
        assert_eq!(keys_old, keys_new);
    }
);

herald_test!(two_rules_with_one_id_are_refused, |dir| {
    let rule = "const RULE = #{ id: \"same\", watch: \"shop.orders\" };\nfn handle(event) {}\n";
    dir.write("rules/a.rhai", rule);
    dir.write("rules/b.rhai", rule);
    let output = herald()
        .arg("check")
        .arg(dir.join("rules"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("b.rhai:1:1")
            && stderr(&output).contains("two rules are named \"same\""),
        "{}",
        stderr(&output)
    );
});
