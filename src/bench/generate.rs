//! Generated inputs: realistic expense change events and sets of rules.
//!
//! Event `i` concerns one of 100,000 expenses and carries `kind = "k{i % 10}"`,
//! so with rule `j` matching `kind == "k{j}"` every event matches exactly one
//! of the first ten rules, whatever the size of the rule set.

use anyhow::Context;
use bson::DateTime;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Distinct expense documents the events are spread over.
const DOCUMENTS: u64 = 100_000;
/// Kinds of expense, one per matching rule.
pub const KINDS: usize = 10;

const EMPLOYEES: [&str; 8] = [
    "Noah Okafor",
    "Mia Tanaka",
    "Lena Fischer",
    "Omar Haddad",
    "Ava Moreau",
    "Ravi Iyer",
    "Sofia Rossi",
    "Jonas Berg",
];
const CATEGORIES: [&str; 5] = ["hardware", "travel", "software", "meals", "training"];
const STATUSES: [&str; 3] = ["pending_approval", "approved", "rejected"];

/// Writes `count` change events, one per line, in Extended JSON.
pub fn write_events(path: &Path, count: u64) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut rng = fastrand::Rng::with_seed(7);
    let start_ms: i64 = 1_714_558_108_000;
    for i in 0..count {
        let doc = rng.u64(..DOCUMENTS);
        let oid = format!("6632663212a097{:010x}", doc);
        let wall = DateTime::from_millis(start_ms + i as i64)
            .try_to_rfc3339_string()
            .context("format a date")?;
        let employee = EMPLOYEES[rng.usize(..EMPLOYEES.len())];
        let category = CATEGORIES[rng.usize(..CATEGORIES.len())];
        let status = STATUSES[rng.usize(..STATUSES.len())];
        let amount = format!("{}.{:02}", rng.u32(10..5_000), rng.u32(..100));
        let (operation, extra) = match rng.u8(..10) {
            0..4 => ("insert", String::new()),
            4..9 => (
                "update",
                format!(
                    r#""updateDescription":{{"updatedFields":{{"status":"{status}","decidedAt":{{"$date":"{wall}"}}}},"removedFields":[],"truncatedArrays":[]}},"#
                ),
            ),
            _ => ("replace", String::new()),
        };
        writeln!(
            out,
            concat!(
                r#"{{"_id":{{"_data":"8266321{i:016X}2B042C0100296E5A1004"}},"operationType":"{operation}","#,
                r#""clusterTime":{{"$timestamp":{{"t":{t},"i":{inc}}}}},"wallTime":{{"$date":"{wall}"}},"#,
                r#""ns":{{"db":"finance","coll":"expenses"}},"documentKey":{{"_id":{{"$oid":"{oid}"}}}},{extra}"#,
                r#""fullDocument":{{"_id":{{"$oid":"{oid}"}},"employee":"{employee}","approver":"approver{approver}@example.com","#,
                r#""category":"{category}","kind":"k{kind}","amount":{{"$numberDecimal":"{amount}"}},"currency":"EUR","#,
                r#""status":"{status}","submittedAt":{{"$date":"{wall}"}},"items":[{{"sku":"A{sku}","qty":{qty}}}]}}}}"#,
            ),
            i = i,
            operation = operation,
            t = 1_714_558_108 + i / 1000,
            inc = i % 1000 + 1,
            wall = wall,
            oid = oid,
            extra = extra,
            employee = employee,
            approver = doc % 50,
            category = category,
            kind = i % KINDS as u64,
            amount = amount,
            status = status,
            sku = rng.u16(..1000),
            qty = rng.u8(1..5),
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Writes `count` rules into `dir`; rule `j` matches events of kind `k{j}`.
pub fn write_rules(dir: &Path, count: usize) -> anyhow::Result<()> {
    write_rules_spending(dir, count, 0)
}

/// Like [`write_rules`], with each handler spending CPU first: `iterations`
/// rounds of arithmetic whose result goes in the notice, so none of it can
/// be skipped.
pub fn write_rules_spending(dir: &Path, count: usize, iterations: u32) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let (work, field) = if iterations == 0 {
        (String::new(), "")
    } else {
        (
            format!(
                "    let x = e.items.len();\n    for i in 0..{iterations} {{ x = (x * 31 + i) % 1000003; }}\n"
            ),
            ", score: x",
        )
    };
    for j in 0..count {
        let text = format!(
            r#"//! Benchmark rule {j}: expenses of kind k{j}.
const RULE = #{{
    watch: "finance.expenses",
    on: ["insert", "update", "replace"],
    filter: #{{ "fullDocument.kind": "k{j}" }},
}};

fn handle(event) {{
    let e = event.fullDocument;
{work}    notify("bench", #{{ expense: e._id, employee: e.employee, amount: e.amount, status: e.status{field} }});
}}
"#
        );
        std::fs::write(dir.join(format!("r{j:05}.rhai")), text)?;
    }
    Ok(())
}

/// Writes `count` inserts for the timers case, one line each: expense `i`
/// is a document of its own, written `i` ms after the first, so a million
/// of them span well under the hour their reminders wait.
pub fn write_timer_events(path: &Path, count: u64) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut rng = fastrand::Rng::with_seed(11);
    let start_ms: i64 = 1_714_558_108_000;
    for i in 0..count {
        let oid = format!("6632663212a097{i:010x}");
        let wall = DateTime::from_millis(start_ms + i as i64)
            .try_to_rfc3339_string()
            .context("format a date")?;
        let employee = EMPLOYEES[rng.usize(..EMPLOYEES.len())];
        let category = CATEGORIES[rng.usize(..CATEGORIES.len())];
        let amount = format!("{}.{:02}", rng.u32(10..5_000), rng.u32(..100));
        writeln!(
            out,
            concat!(
                r#"{{"_id":{{"_data":"8266321{i:016X}2B042C0100296E5A1004"}},"operationType":"insert","#,
                r#""clusterTime":{{"$timestamp":{{"t":{t},"i":{inc}}}}},"wallTime":{{"$date":"{wall}"}},"#,
                r#""ns":{{"db":"finance","coll":"expenses"}},"documentKey":{{"_id":{{"$oid":"{oid}"}}}},"#,
                r#""fullDocument":{{"_id":{{"$oid":"{oid}"}},"employee":"{employee}","approver":"approver{approver}@example.com","#,
                r#""category":"{category}","amount":{{"$numberDecimal":"{amount}"}},"currency":"EUR","#,
                r#""status":"pending_approval","submittedAt":{{"$date":"{wall}"}}}}}}"#,
            ),
            i = i,
            t = 1_714_558_108 + i / 1000,
            inc = i % 1000 + 1,
            wall = wall,
            oid = oid,
            employee = employee,
            approver = i % 50,
            category = category,
            amount = amount,
        )?;
    }
    out.flush()?;
    Ok(())
}

/// The rule of the timers case: every new expense sets a reminder an hour
/// on, named for the expense; the reminder sends one notice.
pub fn write_timer_rule(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let text = r#"//! Benchmark timer rule: a reminder an hour after each new expense.
const RULE = #{ watch: "finance.expenses", on: ["insert"] };

fn handle(event) {
    let e = event.fullDocument;
    after("1h", `remind:${e._id}`, #{ expense: e._id, employee: e.employee, amount: e.amount });
}

fn on_timer(timer) {
    let p = timer.payload;
    notify("bench", #{ expense: p.expense, employee: p.employee, amount: p.amount, due: timer.due });
}
"#;
    std::fs::write(dir.join("remind.rhai"), text)?;
    Ok(())
}

/// The rule of the live cases: every insert into `db.coll` becomes one notice.
pub fn write_live_rule(dir: &Path, namespace: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let text = format!(
        r#"//! Live benchmark rule: one notice per insert.
const RULE = #{{ watch: "{namespace}", on: ["insert"] }};

fn handle(event) {{
    let e = event.fullDocument;
    notify("bench", #{{ id: e._id, sent_us: e.sent_us, amount: e.amount }});
}}
"#
    );
    std::fs::write(dir.join("live.rhai"), text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::ChangeEvent;

    #[test]
    fn events_are_valid_and_spread_over_the_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.jsonl");
        write_events(&path, 50).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let kinds: Vec<String> = text
            .lines()
            .map(|line| {
                let raw = herald_core::extjson::parse_raw_document(line).unwrap();
                let event = ChangeEvent::from_raw(raw).unwrap();
                let full = event.field("fullDocument").unwrap();
                let full = full.as_document().unwrap();
                full.get_str("kind").unwrap().to_owned()
            })
            .collect();
        assert_eq!(kinds.len(), 50);
        assert_eq!(kinds[0], "k0");
        assert_eq!(kinds[13], "k3");
    }

    #[test]
    fn timer_events_are_inserts_of_distinct_documents_within_an_hour() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        write_timer_events(&path, 1_000).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let events: Vec<ChangeEvent> = text
            .lines()
            .map(|line| {
                ChangeEvent::from_raw(herald_core::extjson::parse_raw_document(line).unwrap())
                    .unwrap()
            })
            .collect();
        assert_eq!(events.len(), 1_000);
        let keys: std::collections::HashSet<String> = events
            .iter()
            .map(|e| {
                assert_eq!(e.field("operationType").unwrap().as_str(), Some("insert"));
                format!("{:?}", e.field("documentKey").unwrap())
            })
            .collect();
        assert_eq!(keys.len(), 1_000);
        let ms = |e: &ChangeEvent| e.time().unwrap().timestamp_millis();
        assert_eq!(ms(&events[999]) - ms(&events[0]), 999);
    }
}
