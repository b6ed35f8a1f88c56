//! `herald replay`: the demo, the dry-run contract, dedupe across runs, bad lines.

use crate::util::{EVENTS, herald, stderr, stdout};
use std::collections::HashSet;

/// Lines of the shipped events file and how many effects its rules produce, counted independently of herald.
fn shipped_counts() -> (usize, usize) {
    let text = std::fs::read_to_string(crate::util::root().join(EVENTS)).unwrap();
    let lines = text.lines().count();
    let deletes = text
        .lines()
        .filter(|l| l.contains(r#""operationType":"delete""#))
        .count();
    (lines, deletes)
}

#[test]
fn the_demo_prints_approval_notices() {
    let output = herald().args(["replay", EVENTS]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains("▶ notify approvals (rule expense_approval)"),
        "{out}"
    );
    assert!(out.contains("needs your approval"), "{out}");
    let (lines, _) = shipped_counts();
    assert!(
        stderr(&output).contains(&format!("replayed {lines} events")),
        "{}",
        stderr(&output)
    );
}

#[test]
fn dry_run_prints_one_json_line_per_intent() {
    let first = herald()
        .args(["replay", EVENTS, "--dry-run"])
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    let lines: Vec<serde_json::Value> = stdout(&first)
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    assert!(!lines.is_empty());
    let mut keys = HashSet::new();
    for line in &lines {
        for field in ["rule", "token", "kind", "idempotency_key", "args"] {
            assert!(line.get(field).is_some(), "{field} missing in {line}");
        }
        // An event's resume token, or a fired timer's `{timer, due}`.
        assert!(
            line["token"]["_data"].is_string() || line["token"]["timer"].is_string(),
            "{line}"
        );
        assert!(line["args"].is_object(), "{line}");
        // Effects carry a key each; log and state changes are not effects and carry none.
        let effect = matches!(
            line["kind"].as_str(),
            Some("notify" | "webhook" | "insert_doc" | "upsert_doc")
        );
        match line["idempotency_key"].as_str() {
            Some(key) => assert!(effect && keys.insert(key.to_owned()), "{line}"),
            None => assert!(!effect && line["idempotency_key"].is_null(), "{line}"),
        }
    }
    assert!(
        lines.iter().any(|l| l["kind"] == "log"),
        "the shipped rules log on deletes"
    );
    let (_, deletes) = shipped_counts();
    let audits = lines
        .iter()
        .filter(|l| l["rule"] == "expense_audit" && l["kind"] == "notify")
        .count();
    assert_eq!(audits, deletes, "one audit notice per delete event");
    let approval = lines
        .iter()
        .find(|l| l["rule"] == "expense_approval" && l["kind"] == "notify")
        .unwrap();
    assert_eq!(approval["target"], "approvals");
    assert!(
        approval["args"]["expense_id"]["$oid"].is_string(),
        "{approval}"
    );

    // The keys are stable: a second dry run prints the same lines.
    let second = herald()
        .args(["replay", EVENTS, "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(stdout(&first), stdout(&second));
}

herald_test!(dry_run_writes_no_store, |dir| {
    let store = dir.join("store");
    let output = herald()
        .args(["replay", EVENTS, "--dry-run", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    // A second real run still has everything to do.
    let output = herald()
        .args(["replay", EVENTS, "--store"])
        .arg(&store)
        .output()
        .unwrap();
    assert!(
        stderr(&output).contains(" 0 deduplicated"),
        "{}",
        stderr(&output)
    );
});

/// Runs the demo with file channels into `dir/out`, returning stderr.
fn replay_into(dir: &crate::util::Dir, events: &std::path::Path, extra: &[&str]) -> String {
    let config = dir.write(
        "herald.toml",
        "[channels.approvals]\nkind = \"file\"\npath = \"out/approvals.jsonl\"\n[channels.employees]\nkind = \"file\"\npath = \"out/employees.jsonl\"\n[channels.audit]\nkind = \"file\"\npath = \"out/audit.jsonl\"\n[channels.ops]\nkind = \"file\"\npath = \"out/ops.jsonl\"\n",
    );
    let output = herald()
        .arg("replay")
        .arg(events)
        .arg("--config")
        .arg(&config)
        .arg("--store")
        .arg(dir.join("store"))
        .args(extra)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    stderr(&output)
}

fn delivered_keys(dir: &crate::util::Dir) -> Vec<String> {
    let mut keys = Vec::new();
    for channel in ["approvals", "employees", "audit", "ops"] {
        let text =
            std::fs::read_to_string(dir.join(&format!("out/{channel}.jsonl"))).unwrap_or_default();
        for line in text.lines() {
            let json: serde_json::Value = serde_json::from_str(line).unwrap();
            keys.push(json["key"].as_str().unwrap().to_owned());
        }
    }
    keys
}

herald_test!(replaying_twice_does_not_repeat_effects, |dir| {
    let events = crate::util::root().join(EVENTS);
    replay_into(&dir, &events, &[]);
    let first = delivered_keys(&dir);
    assert!(!first.is_empty());
    assert_eq!(first.len(), first.iter().collect::<HashSet<_>>().len());

    let again = replay_into(&dir, &events, &[]);
    assert!(again.contains("replayed 0 events"), "{again}");
    assert_eq!(delivered_keys(&dir), first);

    // The same events under another name: the ledger recognises every one.
    let copy = dir.join("renamed.jsonl");
    std::fs::copy(&events, &copy).unwrap();
    let renamed = replay_into(&dir, &copy, &[]);
    assert!(
        renamed.contains(" 0 effects") && !renamed.contains(" 0 deduplicated"),
        "{renamed}"
    );
    assert_eq!(delivered_keys(&dir), first);

    // --from-start repeats everything, with the same idempotency keys.
    replay_into(&dir, &events, &["--from-start"]);
    let all = delivered_keys(&dir);
    assert_eq!(all.len(), 2 * first.len());
    assert_eq!(
        all.iter().collect::<HashSet<_>>(),
        first.iter().collect::<HashSet<_>>()
    );
});

fn event_line(n: u32) -> String {
    format!(
        r#"{{"_id":{{"_data":"{n:04}"}},"operationType":"delete","ns":{{"db":"finance","coll":"expenses"}},"documentKey":{{"_id":{n}}}}}"#
    )
}

herald_test!(
    a_bad_line_stops_with_its_position_and_keeps_what_was_done,
    |dir| {
        let events = dir.write(
            "events.jsonl",
            &format!(
                "{}\n{}\n{{\"_id\": 1, oops}}\n{}\n",
                event_line(1),
                event_line(2),
                event_line(3)
            ),
        );
        let store = dir.join("store");
        let output = herald()
            .arg("replay")
            .arg(&events)
            .arg("--store")
            .arg(&store)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        let err = stderr(&output);
        assert!(err.contains(&format!("{}:3:", events.display())), "{err}");
        assert_eq!(
            stdout(&output).matches("notify audit").count(),
            2,
            "events before the bad line were handled"
        );

        // Fix the line; the next run continues from it.
        std::fs::write(
            &events,
            format!(
                "{}\n{}\n{}\n{}\n",
                event_line(1),
                event_line(2),
                event_line(4),
                event_line(3)
            ),
        )
        .unwrap();
        let output = herald()
            .arg("replay")
            .arg(&events)
            .arg("--store")
            .arg(&store)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("replayed 2 events"),
            "{}",
            stderr(&output)
        );
    }
);

herald_test!(skip_bad_lines_counts_them, |dir| {
    let events = dir.write(
        "events.jsonl",
        &format!(
            "{}\nnot json\n{{\"operationType\": \"insert\"}}\n{}\n",
            event_line(1),
            event_line(2)
        ),
    );
    let output = herald()
        .arg("replay")
        .arg(&events)
        .arg("--skip-bad-lines")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("2 bad lines skipped")
            && err.contains("events.jsonl:2:1: expected a JSON object")
            && err.contains("events.jsonl:3:1: the change event has no `_id` field"),
        "{err}"
    );
    assert_eq!(stdout(&output).matches("notify audit").count(), 2);
});

herald_test!(
    a_handler_error_names_the_rule_position_and_fails_the_run,
    |dir| {
        dir.write("rules/spin.rhai", "const RULE = #{ watch: \"finance.expenses\", on: [\"delete\"] };\nfn handle(event) {\n    let n = 0;\n    while true { n += 1; }\n}\n");
        let events = dir.write("events.jsonl", &format!("{}\n", event_line(1)));
        // A debug build may need more than the default second for a million operations.
        let config = dir.write("herald.toml", "[engine]\nhandler_timeout_ms = 60000\n");
        let output = herald()
            .arg("replay")
            .arg(&events)
            .arg("--rules")
            .arg(dir.join("rules"))
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let err = stderr(&output);
        assert!(
            err.contains("spin.rhai:2:1") && err.contains("endless loop"),
            "{err}"
        );
        assert!(err.contains("1 dead-lettered"), "{err}");
    }
);

herald_test!(a_bad_config_is_bad_input, |dir| {
    let config = dir.write("herald.toml", "[engine]\ncommit_every = \"lots\"\n");
    let output = herald()
        .args(["replay", EVENTS, "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("herald.toml:2:16: invalid type"), "{err}");
});

#[test]
fn a_missing_events_file_is_bad_input() {
    let output = herald()
        .args(["replay", "no/such/events.jsonl"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no/such/events.jsonl"),
        "{}",
        stderr(&output)
    );
}

herald_test!(a_dry_run_counts_failing_handlers_like_a_real_run, |dir| {
    dir.write(
        "rules/spin.rhai",
        "const RULE = #{ watch: \"finance.expenses\", on: [\"delete\"] };\nfn handle(event) {\n    let x = require(event, \"fullDocument.amount\");\n}\n",
    );
    let events = dir.write(
        "events.jsonl",
        &format!("{}\n{}\n", event_line(1), event_line(2)),
    );
    for dry in [true, false] {
        let mut cmd = herald();
        cmd.arg("replay")
            .arg(&events)
            .arg("--rules")
            .arg(dir.join("rules"));
        if dry {
            cmd.arg("--dry-run");
        }
        let output = cmd.output().unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "dry run {dry}: {err}");
        assert!(
            err.contains(
                "replayed 2 events: 2 matched, 0 effects, 0 deduplicated, 2 dead-lettered"
            ),
            "dry run {dry}: {err}"
        );
    }
});

herald_test!(
    dry_and_real_runs_count_state_writes_apart_from_effects,
    |dir| {
        // Per delete: one notice (an effect), a log line (neither), and two state writes.
        dir.write(
        "rules/tally.rhai",
        "const RULE = #{ watch: \"finance.expenses\", on: [\"delete\"] };\nfn handle(event) {\n    set_state(\"last\", event.documentKey._id);\n    del_state(\"older\");\n    log(\"info\", \"deleted\");\n    notify(\"ops\", #{ id: event.documentKey._id });\n}\n",
    );
        let events = dir.write(
            "events.jsonl",
            &format!("{}\n{}\n", event_line(1), event_line(2)),
        );
        for dry in [true, false] {
            let mut cmd = herald();
            cmd.arg("replay")
                .arg(&events)
                .arg("--rules")
                .arg(dir.join("rules"));
            if dry {
                cmd.arg("--dry-run");
            }
            let output = cmd.output().unwrap();
            let err = stderr(&output);
            assert!(output.status.success(), "dry run {dry}: {err}");
            assert!(
            err.contains(
                "replayed 2 events: 2 matched, 2 effects, 0 deduplicated, 0 dead-lettered, 4 state writes, 0 timers set, 0 timers fired, 0 bad lines skipped"
            ),
            "dry run {dry}: {err}"
        );
        }
    }
);
