//! The shipped escalation, replayed in event time: every expense of 1,000
//! or more still pending 48 hours after it was submitted is escalated once,
//! before anything later happens to it, and no other is; `--until` fires
//! what the file's last event does not reach.

use crate::util::{EVENTS, herald, stderr, stdout};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const HOURS_48: i64 = 48 * 3_600_000;

fn millis(date: &Value) -> i64 {
    let text = date["$date"]
        .as_str()
        .expect("the shipped events write dates as text");
    bson::DateTime::parse_rfc3339_str(text)
        .unwrap()
        .timestamp_millis()
}

fn amount(doc: &Value) -> f64 {
    doc["amount"]["$numberDecimal"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .or_else(|| doc["amount"].as_f64())
        .unwrap_or(0.0)
}

/// From the events alone: each expense submitted for approval with 1,000 or
/// more, when (the first time), and when it was first decided or deleted after.
fn submissions(events: &str) -> (BTreeMap<String, (i64, Option<i64>)>, i64) {
    let mut found: BTreeMap<String, (i64, Option<i64>)> = BTreeMap::new();
    let mut last = 0;
    for line in events.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        let at = millis(&event["wallTime"]);
        last = last.max(at);
        let Some(id) = event["documentKey"]["_id"]["$oid"].as_str() else {
            continue;
        };
        let op = event["operationType"].as_str().unwrap();
        let changed = &event["updateDescription"]["updatedFields"]["status"];
        let doc = &event["fullDocument"];
        let submitted = doc["status"] == "pending_approval"
            && amount(doc) >= 1000.0
            && (op == "insert" || op == "replace" || changed == "pending_approval");
        if submitted && !found.contains_key(id) {
            found.insert(id.to_owned(), (at, None));
        }
        let decided = op == "delete" || changed == "approved" || changed == "rejected";
        if decided && let Some((_, end @ None)) = found.get_mut(id) {
            *end = Some(at);
        }
    }
    (found, last)
}

fn dry_run(extra: &[&str]) -> Vec<Value> {
    let output = herald()
        .args(["replay", EVENTS, "--dry-run"])
        .args(extra)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn escalated(lines: &[Value]) -> BTreeSet<String> {
    lines
        .iter()
        .filter(|l| l["args"]["escalated"] == true)
        .map(|l| l["args"]["expense_id"]["$oid"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn pending_expenses_are_escalated_after_48_hours_of_event_time() {
    let text = std::fs::read_to_string(crate::util::root().join(EVENTS)).unwrap();
    let (submitted, last) = submissions(&text);
    let expected: BTreeSet<String> = submitted
        .iter()
        .filter(|(_, (at, decided))| {
            let due = at + HOURS_48;
            decided.is_none_or(|d| d > due) && due <= last
        })
        .map(|(id, _)| id.clone())
        .collect();
    assert!(
        !expected.is_empty(),
        "the shipped events show an escalation"
    );
    let lines = dry_run(&[]);
    let escalations: Vec<&Value> = lines
        .iter()
        .filter(|l| l["args"]["escalated"] == true)
        .collect();
    assert_eq!(escalations.len(), expected.len(), "one escalation each");
    assert_eq!(escalated(&lines), expected);
    for line in &escalations {
        let id = line["args"]["expense_id"]["$oid"].as_str().unwrap();
        // Keyed by the timer: rule, {timer: name, due}, effect 0.
        assert_eq!(line["token"]["timer"], format!("escalate:{id}"));
        let due = millis(&line["token"]["due"]);
        assert_eq!(due, submitted[id].0 + HOURS_48);
        // In event time: after the notice that set it, before its late decision.
        let position = |want: &dyn Fn(&Value) -> bool| lines.iter().position(want);
        let escalation = position(&|l| l == *line).unwrap();
        let notice = position(&|l| {
            l["rule"] == "expense_approval"
                && l["kind"] == "set_timer"
                && l["target"] == format!("escalate:{id}")
        })
        .unwrap();
        assert!(notice < escalation, "{id}");
        if let Some(decision) = position(&|l| {
            l["rule"] == "expense_decision"
                && l["kind"] == "notify"
                && l["args"]["expense_id"]["$oid"] == id
        }) {
            assert!(
                escalation < decision,
                "{id} was escalated after its decision"
            );
        }
    }
    // A real replay prints the same escalations.
    let output = herald().args(["replay", EVENTS]).output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        stdout(&output).matches("has waited 48 hours").count(),
        expected.len()
    );
}

#[test]
fn until_fires_the_timers_the_last_event_does_not_reach() {
    let text = std::fs::read_to_string(crate::util::root().join(EVENTS)).unwrap();
    // The file without its last day: timers set then are due after its end.
    let (_, last) = submissions(&text);
    let cut: Vec<&str> = text
        .lines()
        .filter(|l| {
            millis(&serde_json::from_str::<Value>(l).unwrap()["wallTime"]) < last - 40 * 3_600_000
        })
        .collect();
    let dir = crate::util::Dir::new();
    let events = dir.write("early.jsonl", &(cut.join("\n") + "\n"));
    let (submitted, cut_last) = submissions(&cut.join("\n"));
    let pending_at_end = submitted
        .values()
        .filter(|(_, decided)| decided.is_none())
        .count();
    let run = |extra: &[&str]| {
        let output = herald()
            .arg("replay")
            .arg(&events)
            .arg("--dry-run")
            .args(extra)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let lines: Vec<Value> = stdout(&output)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        escalated(&lines).len()
    };
    let by_last_event = submitted
        .values()
        .filter(|(at, decided)| decided.is_none() && at + HOURS_48 <= cut_last)
        .count();
    assert_eq!(run(&[]), by_last_event);
    assert!(pending_at_end > by_last_event, "some are due after the cut");
    assert_eq!(run(&["--until", "all"]), pending_at_end);
    let until = bson::DateTime::from_millis(cut_last + 2 * HOURS_48)
        .try_to_rfc3339_string()
        .unwrap();
    assert_eq!(run(&["--until", &until]), pending_at_end);
    let bad = herald()
        .arg("replay")
        .arg(&events)
        .args(["--until", "tomorrow"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("neither `all` nor an RFC 3339 time"),
        "{}",
        stderr(&bad)
    );
}
