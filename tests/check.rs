//! `herald check`: shipped rules pass; each kind of mistake is exit 2 with file:line:col,
//! all of them at once; a filter that can never match is a warning (exit 0).

use crate::util::{herald, stderr, stdout};

#[test]
fn the_shipped_rules_check() {
    let output = herald().args(["check", "rules"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("expense_approval"),
        "{}",
        stdout(&output)
    );
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("4 rule(s) ok\n"),
        "{}",
        stdout(&output)
    );
}

/// Checks a directory holding one rule and returns stderr, asserting exit 2.
fn check_one(dir: &crate::util::Dir, source: &str) -> String {
    dir.write("rules/bad.rhai", source);
    let output = herald()
        .arg("check")
        .arg(dir.join("rules"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    stderr(&output)
}

herald_test!(a_syntax_error_has_a_position, |dir| {
    let err = check_one(
        &dir,
        "const RULE = #{ watch: \"a.b\" };\nfn handle(event) {\n    notify(\"x\", #{ a: 1 }\n}\n",
    );
    assert!(err.contains("bad.rhai:4:1: syntax error"), "{err}");
});

herald_test!(an_unknown_operation_type_has_a_position, |dir| {
    let err = check_one(
        &dir,
        "const RULE = #{\n    watch: \"a.b\",\n    on: [\"insert\", \"upsert\"],\n};\nfn handle(event) {}\n",
    );
    assert!(
        err.contains("bad.rhai:3:5: unknown operation type \"upsert\""),
        "{err}"
    );
});

herald_test!(an_invalid_filter_operator_has_a_position, |dir| {
    let err = check_one(
        &dir,
        "const RULE = #{\n    watch: \"a.b\",\n    filter: #{ \"fullDocument.n\": #{ \"$gtt\": 5 } },\n};\nfn handle(event) {}\n",
    );
    assert!(
        err.contains("bad.rhai:3:5:")
            && err.contains("unknown operator $gtt")
            && err.contains("fullDocument.n.$gtt"),
        "{err}"
    );
});

herald_test!(an_endless_loop_at_the_top_level_has_a_position, |dir| {
    let err = check_one(
        &dir,
        "const RULE = #{ watch: \"a.b\" };\nlet i = 0;\nloop { i += 1; }\nfn handle(event) {}\n",
    );
    assert!(
        err.contains("bad.rhai:") && err.contains("endless loop"),
        "{err}"
    );
});

herald_test!(every_broken_rule_is_reported_at_once, |dir| {
    dir.write("rules/one.rhai", "fn handle(event) {}\n");
    dir.write(
        "rules/two.rhai",
        "const RULE = #{ watch: \"\" };\nfn handle(event) {}\n",
    );
    let output = herald()
        .arg("check")
        .arg(dir.join("rules"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("one.rhai") && err.contains("two.rhai") && err.contains("2 error(s)"),
        "{err}"
    );
});

herald_test!(an_empty_directory_is_an_error, |dir| {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    let output = herald()
        .arg("check")
        .arg(dir.join("rules"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no *.rhai files"),
        "{}",
        stderr(&output)
    );
});

herald_test!(a_namespace_mongodb_refuses_has_a_position, |dir| {
    let err = check_one(
        &dir,
        "const RULE = #{\n    on: [\"insert\"],\n    watch: \"a..b\",\n};\nfn handle(event) {}\n",
    );
    assert!(
        err.contains(
            "bad.rhai:3:5: invalid namespace \"a..b\": collection names cannot begin with a dot"
        ),
        "{err}"
    );
});

herald_test!(
    every_error_of_every_file_is_reported_with_its_position,
    |dir| {
        dir.write(
        "rules/many.rhai",
        "const RULE = #{\n    watch: \"a.b\",\n    on: [\"upsert\"],\n};\nfn handle(event) {\n    send_email(1);\n    set_state(\"k\");\n    notify(42, #{});\n    log(\"verbose\", \"x\");\n}\n",
    );
        dir.write(
            "rules/other.rhai",
            "const RULE = #{ watch: \"a.b\" };\nfn handle(event) {\n    webhook(\"crm\");\n}\n",
        );
        let output = herald()
            .arg("check")
            .arg(dir.join("rules"))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        let err = stderr(&output);
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
        let expected = [
            "many.rhai:3:5: unknown operation type \"upsert\"",
            "many.rhai:6:5: unknown function `send_email`",
            "many.rhai:7:5: `set_state` takes 2 arguments (string, any value), given 1",
            "many.rhai:8:5: argument 1 of `notify` is an int, but `notify` takes (string, map)",
            "many.rhai:9:5: unknown log level \"verbose\"; use debug, info, warn or error",
            "other.rhai:3:5: `webhook` takes 2 arguments (string, map), given 1",
        ];
        assert_eq!(errors.len(), expected.len(), "{err}");
        for (line, want) in errors.iter().zip(expected) {
            assert!(
                line.contains(want),
                "{line:?} should contain {want:?}\n{err}"
            );
        }
        assert!(err.contains("6 error(s) in 2 file(s) of "), "{err}");
    }
);

herald_test!(
    a_filter_that_can_never_match_is_a_warning_not_an_error,
    |dir| {
        dir.write(
        "rules/gone.rhai",
        "const RULE = #{\n    watch: \"shop.orders\",\n    on: [\"delete\"],\n    filter: #{ \"fullDocument.status\": \"cancelled\" },\n};\nfn handle(event) {}\n",
    );
        dir.write(
        "rules/fine.rhai",
        "const RULE = #{\n    watch: \"shop.orders\",\n    on: [\"delete\"],\n    filter: #{ \"fullDocument.status\": #{ \"$exists\": false } },\n};\nfn handle(event) {}\n",
    );
        let output = herald()
            .arg("check")
            .arg(dir.join("rules"))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let err = stderr(&output);
        let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning: ")).collect();
        assert_eq!(warnings.len(), 1, "{err}");
        assert!(
        warnings[0].ends_with("gone.rhai:4:5: the filter can never match the events the rule watches (on: [delete]): delete events have no fullDocument"),
        "{err}"
    );
        assert!(
            stdout(&output).contains("2 rule(s) ok, 1 warning(s)"),
            "{}",
            stdout(&output)
        );
    }
);

/// The aggregations `--explain` prints: one per stream, in relaxed Extended JSON.
fn explained(stdout: &str) -> Vec<(String, Vec<serde_json::Value>)> {
    let mut streams = Vec::new();
    let mut lines = stdout.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(header) = line.strip_prefix("stream ") else {
            continue;
        };
        let id = header.split(' ').next().unwrap().to_owned();
        let json: Vec<&str> = lines
            .by_ref()
            .skip_while(|l| l.trim() != "aggregation:")
            .skip(1)
            .take_while(|l| l.starts_with("    "))
            .collect();
        streams.push((id, serde_json::from_str(&json.join("\n")).unwrap()));
    }
    streams
}

// `--explain` shows each stream herald would open, its rules and the whole
// aggregation: the `$changeStream` options the rules need, the union
// `$match` (each rule's branch, plus the lifecycle events every stream
// takes), then a target's configured stages.
herald_test!(explain_prints_each_streams_aggregation, |dir| {
    let config = dir.write(
        "herald.toml",
        &format!(
            "rules = \"{}\"\n[channels.approvals]\nkind = \"stdout\"\n[channels.employees]\nkind = \"stdout\"\n[channels.audit]\nkind = \"stdout\"\n[channels.ops]\nkind = \"stdout\"\n[mongodb.streams.\"finance.expenses\"]\nstages = [{{ \"$unset\" = \"fullDocument.iban\" }}]\n",
            crate::util::root().join("rules").display()
        ),
    );
    let output = herald()
        .args(["check", "--explain", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("2 change stream(s) for 4 rule(s)"), "{out}");
    let streams = explained(&out);
    let ids: Vec<&str> = streams.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        ["mongodb:finance.expenses", "mongodb:finance"],
        "{out}"
    );
    let (_, expenses) = &streams[0];
    assert_eq!(expenses.len(), 3, "{out}");
    assert_eq!(
        expenses[0],
        serde_json::json!({"$changeStream": {"fullDocument": "updateLookup"}})
    );
    let branches = expenses[1]["$match"]["$or"].as_array().unwrap();
    assert!(
        branches.contains(&serde_json::json!({"operationType": {"$in": ["drop", "rename", "dropDatabase", "invalidate"]}})),
        "{out}"
    );
    assert_eq!(
        expenses[2],
        serde_json::json!({"$unset": "fullDocument.iban"})
    );
    let (_, database) = &streams[1];
    assert_eq!(
        database[0],
        serde_json::json!({"$changeStream": {}}),
        "{out}"
    );
});
