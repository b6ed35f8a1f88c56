//! `herald test`: fixtures pass, and a wrong expectation fails with the difference.

use crate::util::{herald, stderr, stdout};

#[test]
fn the_shipped_fixtures_pass() {
    let output = herald().args(["test", "rules"]).output().unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let out = stdout(&output);
    assert!(
        out.contains(" 0 failed") && !out.contains("no fixture"),
        "{out}"
    );
}

const RULE: &str = "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) { notify(\"ops\", #{ id: event.documentKey._id }); }\n";

fn fixture(expected_id: i32) -> String {
    format!(
        r#"{{"cases": [{{"name": "notifies ops", "event": {{"_id": {{"_data": "01"}}, "operationType": "insert", "ns": {{"db": "shop", "coll": "orders"}}, "documentKey": {{"_id": 7}}}},
            "expect": [{{"kind": "notify", "target": "ops", "args": {{"id": {expected_id}}}}}]}}]}}"#
    )
}

herald_test!(a_wrong_expectation_fails_with_a_diff, |dir| {
    dir.write("rules/orders.rhai", RULE);
    dir.write("rules/orders.test.json", &fixture(8));
    let output = herald()
        .arg("test")
        .arg(dir.join("rules"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    assert!(
        out.contains(
            "FAIL orders: notifies ops\n  intents differ (- expected, + actual)\n    [\n      {\n        \"kind\": \"notify\",\n        \"target\": \"ops\",\n        \"args\": {\n  -       \"id\": 8\n  +       \"id\": 7\n        }\n      }\n    ]\n"
        ),
        "{out}"
    );
    assert!(out.contains("0 passed, 1 failed"), "{out}");

    dir.write("rules/orders.test.json", &fixture(7));
    let output = herald()
        .arg("test")
        .arg(dir.join("rules"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stdout(&output));
});

herald_test!(a_broken_fixture_is_bad_input_with_a_position, |dir| {
    dir.write("rules/orders.rhai", RULE);
    dir.write(
        "rules/orders.test.json",
        "{\"cases\": [\n  {\"name\": 1}\n]}",
    );
    let output = herald()
        .arg("test")
        .arg(dir.join("rules"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("orders.test.json:2:"),
        "{}",
        stderr(&output)
    );
});

herald_test!(require_fixtures_fails_a_rule_without_one, |dir| {
    dir.write("rules/a.rhai", RULE);
    dir.write("rules/b.rhai", RULE);
    dir.write("rules/a.test.json", &fixture(7));
    let output = herald()
        .args(["test", "--require-fixtures"])
        .arg(dir.join("rules"))
        .output()
        .unwrap();
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("--  b: no fixture"), "{out}");
    assert!(
        out.contains("1 passed, 0 failed, 1 rule(s) without fixtures"),
        "{out}"
    );
    assert!(
        stderr(&output).contains("1 rule(s) have no fixture"),
        "{}",
        stderr(&output)
    );
    // Without the flag, a missing fixture is listed but not an error.
    let output = herald()
        .arg("test")
        .arg(dir.join("rules"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stdout(&output));
});

/// Two cases: the first passes with a subset of `args`, the second expects the wrong id.
const TWO_CASES: &str = r#"{"cases": [
  {"name": "lists only what matters", "fullDocument": {"_id": 7, "total": 30},
   "expect": [{"kind": "notify", "target": "ops", "args": {"id": 7}}]},
  {
    "name": "expects the wrong id",
    "fullDocument": {"_id": 8},
    "expect": [ {"kind": "notify", "target": "ops", "args": {"id": 9}} ]
  }
]}"#;

herald_test!(update_rewrites_only_the_failing_expectations, |dir| {
    dir.write("rules/orders.rhai", RULE);
    let fixture = dir.write("rules/orders.test.json", TWO_CASES);
    let plain = herald()
        .arg("test")
        .arg(dir.join("rules"))
        .output()
        .unwrap();
    assert_eq!(plain.status.code(), Some(1), "{}", stdout(&plain));
    assert_eq!(
        std::fs::read_to_string(&fixture).unwrap(),
        TWO_CASES,
        "without --update nothing is written"
    );

    let output = herald()
        .args(["test", "--update"])
        .arg(dir.join("rules"))
        .output()
        .unwrap();
    let out = stdout(&output);
    assert!(output.status.success(), "{out}{}", stderr(&output));
    assert!(
        out.contains("ok  orders: lists only what matters\n"),
        "{out}"
    );
    assert!(out.contains("upd orders: expects the wrong id\n"), "{out}");
    assert!(
        out.contains("1 passed, 0 failed, 1 updated, 0 rule(s) without fixtures"),
        "{out}"
    );
    let updated = std::fs::read_to_string(&fixture).unwrap();
    assert_eq!(
        updated,
        TWO_CASES.replace(
            r#"[ {"kind": "notify", "target": "ops", "args": {"id": 9}} ]"#,
            "[\n      {\"kind\": \"notify\", \"target\": \"ops\", \"args\": {\"id\": 8}}\n    ]"
        ),
        "only the failing case's expect changed"
    );

    let again = herald()
        .arg("test")
        .arg(dir.join("rules"))
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", stdout(&again));
    assert!(
        stdout(&again).contains("2 passed, 0 failed"),
        "{}",
        stdout(&again)
    );
});

herald_test!(
    a_case_with_a_broken_shorthand_is_bad_input_at_its_line,
    |dir| {
        dir.write("rules/orders.rhai", RULE);
        dir.write(
        "rules/orders.test.json",
        "{\"cases\": [\n  {\"name\": \"both\", \"event\": {}, \"fullDocument\": {\"_id\": 1}, \"expect\": []}\n]}",
    );
        let output = herald()
            .arg("test")
            .arg(dir.join("rules"))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        let err = stderr(&output);
        assert!(
            err.contains("orders.test.json:2:3: case \"both\": give either `event`"),
            "{err}"
        );
    }
);

#[test]
fn the_readme_fixture_example_is_shipped() {
    let readme = std::fs::read_to_string(crate::util::root().join("README.md")).unwrap();
    let tests = readme
        .find("- **Tests**")
        .expect("the README's Tests paragraph");
    let block = &readme[tests..];
    let start = block.find("```json\n").unwrap() + "```json\n".len();
    let end = start + block[start..].find("```").unwrap();
    let example: serde_json::Value = serde_json::from_str(&block[start..end]).unwrap();
    let shipped: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::util::root().join("rules/expense_approval.test.json"))
            .unwrap(),
    )
    .unwrap();
    let cases = example["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        assert!(
            shipped["cases"].as_array().unwrap().contains(case),
            "not in the shipped fixture: {case}"
        );
    }
}
