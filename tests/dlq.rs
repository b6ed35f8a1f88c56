//! `herald dlq` and per-rule counts in `herald status`.

use crate::util::{Dir, herald, stderr, stdout, write_orders};

const FAILING: &str = "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) {\n    notify(\"ops\", #{ id: event.documentKey._id });\n    webhook(\"missing\", #{ id: event.documentKey._id });\n}\n";
const FIXED: &str = "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) {\n    notify(\"ops\", #{ id: event.documentKey._id });\n}\n";

fn events(dir: &Dir) -> std::path::PathBuf {
    write_orders(dir, "events.jsonl", 1..=2)
}

/// Replays two events through a rule whose webhook is not configured: two dead letters.
fn two_dead_letters(dir: &Dir) -> std::path::PathBuf {
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
        stderr(&output).contains("2 dead-lettered"),
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
