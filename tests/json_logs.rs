//! `--log-format json`: every line on stderr is one JSON object in the logs'
//! layout, banners, summaries and errors included, with typed fields.

use crate::util::{EVENTS, herald, stderr};
use serde_json::Value;

/// Every stderr line as JSON; fails naming the first line that is not.
fn json_lines(output: &std::process::Output) -> Vec<Value> {
    stderr(output)
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
            for key in ["timestamp", "level", "target"] {
                assert!(value[key].is_string(), "no {key}: {line}");
            }
            assert!(value["fields"]["message"].is_string(), "no message: {line}");
            value
        })
        .collect()
}

herald_test!(a_replay_summary_is_a_json_line_with_numbers, |_dir| {
    let output = herald()
        .args(["--log-format", "json", "replay", EVENTS])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let fields = &lines[0]["fields"];
    let events = std::fs::read_to_string(crate::util::root().join(EVENTS))
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines[0]["level"], "INFO");
    assert_eq!(fields["events"], events, "{fields}");
    assert_eq!(fields["dead_lettered"], 0, "{fields}");
    assert_eq!(fields["dry_run"], false, "{fields}");
    assert!(
        fields["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("replayed {events} events")),
        "{fields}"
    );
});

herald_test!(usage_and_config_errors_are_json_lines, |dir| {
    let output = herald()
        .args(["--log-format", "json", "replay", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(lines[0]["fields"]["kind"], "usage");
    assert!(
        lines[0]["fields"]["message"]
            .as_str()
            .unwrap()
            .starts_with("unexpected argument '--no-such-flag'"),
        "{lines:?}"
    );

    // The variable alone asks for JSON too.
    let output = herald()
        .env("HERALD_LOG_FORMAT", "json")
        .args(["run", "--config", "/dev/null", "--store"])
        .arg(dir.join("store"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["fields"]["exit_code"], 2);
    assert!(
        lines[0]["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("no MongoDB connection string"),
        "{lines:?}"
    );
});

herald_test!(rule_errors_are_json_lines_with_their_position, |dir| {
    dir.write(
        "rules/broken.rhai",
        "const RULE = #{ watch: \"a.b\", on: [\"insert\"] };\nfn handle(event) {\n    let x = ;\n}\n",
    );
    let output = herald()
        .args(["--log-format", "json", "check"])
        .arg(dir.join("rules"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let lines = json_lines(&output);
    assert_eq!(
        lines.len(),
        2,
        "the error and the count, no source snippet: {lines:?}"
    );
    let error = &lines[0]["fields"];
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(
        (error["line"].as_u64(), error["column"].as_u64()),
        (Some(3), Some(13)),
        "{error}"
    );
    assert!(
        error["file"].as_str().unwrap().ends_with("broken.rhai"),
        "{error}"
    );
    assert_eq!(lines[1]["fields"]["errors"], 1);
});

herald_test!(skipped_lines_are_json_warnings, |dir| {
    let events = dir.write("events.jsonl", "{\"_id\": \n");
    let output = herald()
        .args(["--log-format", "json", "replay", "--skip-bad-lines"])
        .arg(&events)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["level"], "WARN");
    assert_eq!(lines[0]["fields"]["line"], 1);
    assert_eq!(lines[1]["fields"]["skipped_lines"], 1);
});
