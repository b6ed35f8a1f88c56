//! `herald dlq` and per-rule counts in `herald status`.

use crate::util::{Dir, herald, stderr, stdout, write_orders};

const FAILING: &str = "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) {\n    notify(\"ops\", #{ id: event.documentKey._id });\n    webhook(\"missing\", #{ id: event.documentKey._id });\n}\n";
const FIXED: &str = "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) {\n    notify(\"ops\", #{ id: event.documentKey._id });\n}\n";

fn events(dir: &Dir) -> std::path::PathBuf {
    write_orders(dir, "events.jsonl", 1..=2)
}

/// Replays two events through a rule whose webhook is not configured: two dead letters.
fn two_dead_letters(dir: &Dir) -> std::path::PathBuf {
    dead_letters(dir, 2)
}

/// Replays two events through the rules (`orders`, whose webhook is not
/// configured, and any others written): `expected` dead letters.
fn dead_letters(dir: &Dir, expected: usize) -> std::path::PathBuf {
    dir.write("rules/orders.rhai", FAILING);
    let store = dir.join("store");
    let output = herald()
        .arg("replay")
        .arg(events(dir))
        .arg("--rules")
        .arg(dir.join("rules"))
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!("{expected} dead-lettered")),
        "{}",
        stderr(&output)
    );
    store
}

fn dlq(store: &std::path::Path, args: &[&str]) -> std::process::Output {
    herald()
        .arg("dlq")
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .unwrap()
}

fn ids(store: &std::path::Path) -> Vec<String> {
    let out = stdout(&dlq(store, &["list"]));
    out.lines()
        .filter(|l| l.contains("orders"))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}

herald_test!(list_show_retry, |dir| {
    let store = two_dead_letters(&dir);
    let listed = dlq(&store, &["list"]);
    assert!(listed.status.success());
    let out = stdout(&listed);
    assert!(
        out.contains("2 dead letter(s)") && out.contains("no webhook named \"missing\""),
        "{out}"
    );
    let ids = ids(&store);
    assert_eq!(ids.len(), 2);

    let shown = stdout(&dlq(&store, &["show", &ids[0]]));
    assert!(
        shown.contains("rule      orders")
            && shown.contains("attempts  1")
            && shown.contains("\"operationType\": \"insert\""),
        "{shown}"
    );

    // Retrying with the rule unchanged fails again and counts the attempt.
    let again = herald()
        .arg("dlq")
        .arg("--store")
        .arg(&store)
        .arg("--rules")
        .arg(dir.join("rules"))
        .args(["retry", &ids[0]])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1), "{}", stdout(&again));
    assert!(
        stdout(&again).contains("failed again (attempts 2)"),
        "{}",
        stdout(&again)
    );

    // Fixed rule: every entry succeeds and leaves the queue.
    dir.write("rules/orders.rhai", FIXED);
    let fixed = herald()
        .arg("dlq")
        .arg("--store")
        .arg(&store)
        .arg("--rules")
        .arg(dir.join("rules"))
        .args(["retry", "--all"])
        .output()
        .unwrap();
    assert!(
        fixed.status.success(),
        "{}{}",
        stdout(&fixed),
        stderr(&fixed)
    );
    assert_eq!(
        stdout(&fixed).matches("removed from the queue").count(),
        2,
        "{}",
        stdout(&fixed)
    );
    assert!(stdout(&dlq(&store, &["list"])).contains("0 dead letter(s)"));

    // The retried events are now done: a replay from the start skips them.
    let replay = herald()
        .arg("replay")
        .arg(dir.join("events.jsonl"))
        .arg("--rules")
        .arg(dir.join("rules"))
        .arg("--store")
        .arg(&store)
        .arg("--config")
        .arg(dir.write("herald.toml", "[channels.ops]\nkind = \"stdout\"\n"))
        .output()
        .unwrap();
    assert!(
        stderr(&replay).contains("replayed 0 events"),
        "{}",
        stderr(&replay)
    );
});

herald_test!(drop_one_and_all, |dir| {
    let store = two_dead_letters(&dir);
    let ids = ids(&store);
    assert!(dlq(&store, &["drop", &ids[0]]).status.success());
    assert_eq!(self::ids(&store), vec![ids[1].clone()]);
    let unknown = dlq(&store, &["drop", "999999"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(dlq(&store, &["drop", "--all"]).status.success());
    assert!(self::ids(&store).is_empty());
    let neither = dlq(&store, &["drop"]);
    assert_eq!(neither.status.code(), Some(2), "an id or --all is required");
});

herald_test!(status_counts_rules, |dir| {
    let store = two_dead_letters(&dir);
    let status = herald()
        .arg("status")
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", stderr(&status));
    let out = stdout(&status);
    assert!(out.contains("rule orders: 2 matched, 0 succeeded, 2 failed, 0 deduplicated, 2 in the dead-letter queue"), "{out}");
    assert!(
        out.contains("stream file:") && out.contains("position      line 2"),
        "{out}"
    );
});

fn json_lines(output: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(output.status.success(), "{}", stderr(output));
    stdout(output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn retry(dir: &Dir, store: &std::path::Path, args: &[&str]) -> std::process::Output {
    herald()
        .arg("dlq")
        .arg("--store")
        .arg(store)
        .arg("--rules")
        .arg(dir.join("rules"))
        .arg("retry")
        .args(args)
        .output()
        .unwrap()
}

fn status_line(store: &std::path::Path, rule: &str) -> String {
    let status = herald()
        .arg("status")
        .arg("--store")
        .arg(store)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", stderr(&status));
    stdout(&status)
        .lines()
        .find(|l| l.starts_with(&format!("rule {rule}:")))
        .unwrap_or_else(|| panic!("no line for {rule}: {}", stdout(&status)))
        .to_owned()
}

herald_test!(list_and_show_as_json, |dir| {
    let store = two_dead_letters(&dir);
    let listed = json_lines(&dlq(&store, &["list", "--json"]));
    assert_eq!(listed.len(), 2, "one line per entry, no summary");
    for (n, entry) in listed.iter().enumerate() {
        let keys: Vec<&str> = entry
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "rule",
                "first_failed_at",
                "last_failed_at",
                "attempts",
                "error"
            ]
        );
        assert_eq!(entry["id"], n as u64 + 1, "ids are 1, 2, ...");
        assert_eq!(entry["rule"], "orders");
        assert_eq!(entry["attempts"], 1);
        assert_eq!(entry["first_failed_at"], entry["last_failed_at"]);
        assert!(
            entry["error"]
                .as_str()
                .unwrap()
                .contains("no webhook named \"missing\""),
            "{entry}"
        );
    }
    let shown = json_lines(&dlq(&store, &["show", "2", "--json"]));
    assert_eq!(shown.len(), 1, "one JSON document");
    let shown = &shown[0];
    assert_eq!(shown["id"], 2);
    assert_eq!(
        shown["effects_done"],
        serde_json::json!([0]),
        "the notice was sent"
    );
    assert_eq!(
        shown["event"]["fullDocument"],
        serde_json::json!({"_id": 2})
    );
    assert_eq!(shown["error"], listed[1]["error"]);
    assert_eq!(shown["first_failed_at"], listed[1]["first_failed_at"]);
});

herald_test!(a_rule_s_entries_are_listed_retried_and_dropped, |dir| {
    dir.write(
        "rules/other.rhai",
        &FAILING.replace("\"missing\"", "\"elsewhere\""),
    );
    let store = dead_letters(&dir, 4);
    let rules_of = |args: &[&str]| -> Vec<(u64, String)> {
        json_lines(&dlq(&store, args))
            .iter()
            .map(|e| {
                (
                    e["id"].as_u64().unwrap(),
                    e["rule"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let all = rules_of(&["list", "--json"]);
    assert_eq!(all.len(), 4, "{all:?}");
    let other: Vec<u64> = all
        .iter()
        .filter(|(_, r)| r == "other")
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(other.len(), 2);
    assert_eq!(
        rules_of(&["list", "--json", "--rule", "other"]),
        other
            .iter()
            .map(|id| (*id, "other".to_owned()))
            .collect::<Vec<_>>()
    );
    let text = stdout(&dlq(&store, &["list", "--rule", "other"]));
    assert!(text.ends_with("2 dead letter(s)\n"), "{text}");

    // A misspelt rule is an error naming the rules that have entries, not "done".
    for command in ["drop", "retry"] {
        let typo = dlq(&store, &[command, "--rule", "othre"]);
        assert_eq!(typo.status.code(), Some(2));
        assert!(
            stderr(&typo)
                .contains("no dead letters for rule \"othre\" (rules with entries: orders, other)"),
            "{}",
            stderr(&typo)
        );
    }
    assert_eq!(rules_of(&["list", "--json"]).len(), 4, "nothing dropped");

    let dropped = dlq(&store, &["drop", "--rule", "other"]);
    assert_eq!(stdout(&dropped), "dropped 2 dead letter(s)\n");
    assert!(
        rules_of(&["list", "--json"])
            .iter()
            .all(|(_, r)| r == "orders")
    );

    dir.write("rules/orders.rhai", FIXED);
    let fixed = retry(&dir, &store, &["--rule", "orders"]);
    assert!(fixed.status.success(), "{}", stdout(&fixed));
    assert_eq!(stdout(&fixed).matches("removed from the queue").count(), 2);
    assert!(rules_of(&["list", "--json"]).is_empty());
});

herald_test!(a_failed_retry_keeps_its_id_and_first_failure, |dir| {
    let store = two_dead_letters(&dir);
    let before = json_lines(&dlq(&store, &["show", "1", "--json"])).remove(0);
    let again = retry(&dir, &store, &["1"]);
    assert_eq!(again.status.code(), Some(1), "{}", stdout(&again));
    let after = json_lines(&dlq(&store, &["show", "1", "--json"])).remove(0);
    assert_eq!(after["id"], 1);
    assert_eq!(after["attempts"], 2, "the retry's attempt is added");
    assert_eq!(after["first_failed_at"], before["first_failed_at"]);
    let (first, last) = (
        after["first_failed_at"].as_str().unwrap(),
        after["last_failed_at"].as_str().unwrap(),
    );
    assert!(
        last > first,
        "the retry's failure time: {first} then {last}"
    );
    // The text shows both times too.
    let text = stdout(&dlq(&store, &["show", "1"]));
    assert!(
        text.contains(&format!("first     {first} (first failure)\n"))
            && text.contains(&format!("last      {last} (last failure)\n")),
        "{text}"
    );
    // A dropped entry's id is not given again.
    assert!(dlq(&store, &["drop", "2"]).status.success());
    let replay = herald()
        .arg("replay")
        .arg(write_orders(&dir, "more.jsonl", [3]))
        .arg("--rules")
        .arg(dir.join("rules"))
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(replay.status.code(), Some(1), "{}", stderr(&replay));
    let ids: Vec<u64> = json_lines(&dlq(&store, &["list", "--json"]))
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 3]);
});

herald_test!(status_counts_follow_successful_retries, |dir| {
    let store = two_dead_letters(&dir);
    assert_eq!(
        status_line(&store, "orders"),
        "rule orders: 2 matched, 0 succeeded, 2 failed, 0 deduplicated, 2 in the dead-letter queue"
    );
    // A retry that fails again changes nothing.
    assert_eq!(retry(&dir, &store, &["1"]).status.code(), Some(1));
    assert_eq!(
        status_line(&store, "orders"),
        "rule orders: 2 matched, 0 succeeded, 2 failed, 0 deduplicated, 2 in the dead-letter queue"
    );
    dir.write("rules/orders.rhai", FIXED);
    assert!(retry(&dir, &store, &["1"]).status.success());
    assert_eq!(
        status_line(&store, "orders"),
        "rule orders: 2 matched, 1 succeeded, 1 failed, 0 deduplicated, 1 in the dead-letter queue"
    );
    assert!(retry(&dir, &store, &["--all"]).status.success());
    assert_eq!(
        status_line(&store, "orders"),
        "rule orders: 2 matched, 2 succeeded, 0 failed, 0 deduplicated, 0 in the dead-letter queue"
    );
});
