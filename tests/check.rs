//! `herald check`: shipped rules pass; each kind of mistake is exit 2 with file:line:col.

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
