//! `herald timers list|cancel` and the timers section of `herald status`, on
//! a store whose timers a real `herald replay` set.
//!
//! Two rules set timers on each insert, 48 hours (`esc`) and 36 hours
//! (`remind`) after the event's `wallTime`; the file spans 14 hours, so all
//! six stay pending, their due times interleaved:
//!
//! | timer | set at | due |
//! |---|---|---|
//! | remind:1 | 2024-05-01T10:00:00Z | 2024-05-02T22:00:00Z |
//! | remind:2 | 2024-05-01T11:00:00Z | 2024-05-02T23:00:00Z |
//! | esc:1 | 2024-05-01T10:00:00Z | 2024-05-03T10:00:00Z |
//! | esc:2 | 2024-05-01T11:00:00Z | 2024-05-03T11:00:00Z |
//! | remind:3 | 2024-05-02T00:00:00Z | 2024-05-03T12:00:00Z |
//! | esc:3 | 2024-05-02T00:00:00Z | 2024-05-04T00:00:00Z |

use crate::util::{Dir, herald, stderr, stdout};
use std::path::{Path, PathBuf};

const ESC: &str = r#"
const RULE = #{ watch: "shop.orders", on: ["insert"] };
fn handle(event) {
    let id = event.documentKey._id;
    after("48h", `esc:${id}`, #{ id: id, level: 1 });
}
fn on_timer(timer) {
    log("info", `escalate ${timer.payload.id}`);
}
"#;

const REMIND: &str = r#"
const RULE = #{ watch: "shop.orders", on: ["insert"] };
fn handle(event) {
    let id = event.documentKey._id;
    after("36h", `remind:${id}`, `order ${id}`);
}
fn on_timer(timer) {
    log("info", timer.payload);
}
"#;

const HOUR: i64 = 3_600_000;
/// 2024-05-01T10:00:00Z.
const T0: i64 = 1_714_557_600_000;

/// An insert of document `id` into `shop.orders` at `at` (ms), with its wallTime.
fn insert(id: i64, at: i64) -> String {
    let seconds = at / 1000;
    format!(
        r#"{{"_id":{{"_data":"{id:04}{seconds}"}},"operationType":"insert","clusterTime":{{"$timestamp":{{"t":{seconds},"i":1}}}},"wallTime":{{"$date":{{"$numberLong":"{at}"}}}},"ns":{{"db":"shop","coll":"orders"}},"documentKey":{{"_id":{id}}},"fullDocument":{{"_id":{id}}}}}"#
    )
}

/// Replays three inserts through `esc` and `remind` into a store: the six
/// pending timers of the table above.
fn six_timers(dir: &Dir) -> PathBuf {
    dir.write("rules/esc.rhai", ESC);
    dir.write("rules/remind.rhai", REMIND);
    let lines = [
        insert(1, T0),
        insert(2, T0 + HOUR),
        insert(3, T0 + 14 * HOUR),
    ];
    let events = dir.write("events.jsonl", &(lines.join("\n") + "\n"));
    let store = dir.join("store");
    let output = herald()
        .arg("replay")
        .arg(&events)
        .arg("--rules")
        .arg(dir.join("rules"))
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(", 6 timers set, 0 timers fired,"),
        "{}",
        stderr(&output)
    );
    store
}

/// The timers of the table above as `list --json` prints them.
const REMIND_1: &str = r#"{"rule":"remind","name":"remind:1","due_at":"2024-05-02T22:00:00Z","set_at":"2024-05-01T10:00:00Z","ns":"shop.orders","document_key":{"_id":1},"payload":"order 1"}"#;
const REMIND_2: &str = r#"{"rule":"remind","name":"remind:2","due_at":"2024-05-02T23:00:00Z","set_at":"2024-05-01T11:00:00Z","ns":"shop.orders","document_key":{"_id":2},"payload":"order 2"}"#;
const ESC_1: &str = r#"{"rule":"esc","name":"esc:1","due_at":"2024-05-03T10:00:00Z","set_at":"2024-05-01T10:00:00Z","ns":"shop.orders","document_key":{"_id":1},"payload":{"id":1,"level":1}}"#;
const ESC_2: &str = r#"{"rule":"esc","name":"esc:2","due_at":"2024-05-03T11:00:00Z","set_at":"2024-05-01T11:00:00Z","ns":"shop.orders","document_key":{"_id":2},"payload":{"id":2,"level":1}}"#;
const REMIND_3: &str = r#"{"rule":"remind","name":"remind:3","due_at":"2024-05-03T12:00:00Z","set_at":"2024-05-02T00:00:00Z","ns":"shop.orders","document_key":{"_id":3},"payload":"order 3"}"#;
const ESC_3: &str = r#"{"rule":"esc","name":"esc:3","due_at":"2024-05-04T00:00:00Z","set_at":"2024-05-02T00:00:00Z","ns":"shop.orders","document_key":{"_id":3},"payload":{"id":3,"level":1}}"#;

/// `herald timers ARGS --store STORE`.
fn timers(store: &Path, args: &[&str]) -> std::process::Output {
    herald()
        .arg("timers")
        .args(args)
        .arg("--store")
        .arg(store)
        .output()
        .unwrap()
}

/// Asserts a command exited with `code`, printing exactly `out` and `err`.
fn assert_output(output: &std::process::Output, code: i32, out: &str, err: &str) {
    assert_eq!(
        (
            output.status.code(),
            stdout(output).as_str(),
            stderr(output).as_str()
        ),
        (Some(code), out, err)
    );
}

/// The lines of one timer as `list` prints it.
fn row(due: &str, rule: &str, name: &str, set: &str, id: i64, payload: &str) -> String {
    format!(
        "{due:<24}  {rule:<16}  {name:<24}  set {set:<24}  shop.orders {{\"_id\":{id}}}  {payload}\n"
    )
}

fn esc(n: i64) -> String {
    let (set, due) = match n {
        1 => ("2024-05-01T10:00:00Z", "2024-05-03T10:00:00Z"),
        2 => ("2024-05-01T11:00:00Z", "2024-05-03T11:00:00Z"),
        _ => ("2024-05-02T00:00:00Z", "2024-05-04T00:00:00Z"),
    };
    row(
        due,
        "esc",
        &format!("esc:{n}"),
        set,
        n,
        &format!(r#"{{"id":{n},"level":1}}"#),
    )
}

fn remind(n: i64) -> String {
    let (set, due) = match n {
        1 => ("2024-05-01T10:00:00Z", "2024-05-02T22:00:00Z"),
        2 => ("2024-05-01T11:00:00Z", "2024-05-02T23:00:00Z"),
        _ => ("2024-05-02T00:00:00Z", "2024-05-03T12:00:00Z"),
    };
    row(
        due,
        "remind",
        &format!("remind:{n}"),
        set,
        n,
        &format!("\"order {n}\""),
    )
}

/// The timers section of `herald status`: its first line and the indented
/// ones under it.
fn status_timers(store: &Path) -> Vec<String> {
    let output = herald()
        .arg("status")
        .arg("--store")
        .arg(store)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    let mut lines = out
        .lines()
        .skip_while(|l| !l.starts_with("timers:") && *l != "no pending timers");
    let first = lines.next().expect("a timers section").to_owned();
    std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with("  ")).map(str::to_owned))
        .collect()
}

herald_test!(list_shows_every_pending_timer_in_due_order, |dir| {
    let store = six_timers(&dir);
    let expected =
        [remind(1), remind(2), esc(1), esc(2), remind(3), esc(3)].concat() + "6 pending timer(s)\n";
    assert_output(&timers(&store, &["list"]), 0, &expected, "");

    let json = timers(&store, &["list", "--json"]);
    let expected = [REMIND_1, REMIND_2, ESC_1, ESC_2, REMIND_3, ESC_3]
        .map(|l| format!("{l}\n"))
        .concat();
    assert_output(&json, 0, &expected, "");

    assert_eq!(
        status_timers(&store),
        [
            "timers: 6 pending (`herald timers list` lists them)",
            "  rule esc: 3 pending, the next due at 2024-05-03T10:00:00Z",
            "  rule remind: 3 pending, the next due at 2024-05-02T22:00:00Z",
        ]
    );
});

herald_test!(list_rule_shows_only_that_rules_timers, |dir| {
    let store = six_timers(&dir);
    let expected = [esc(1), esc(2), esc(3)].concat() + "3 pending timer(s)\n";
    assert_output(
        &timers(&store, &["list", "--rule", "esc"]),
        0,
        &expected,
        "",
    );

    let json = timers(&store, &["list", "--rule", "remind", "--json"]);
    let expected = [REMIND_1, REMIND_2, REMIND_3]
        .map(|l| format!("{l}\n"))
        .concat();
    assert_output(&json, 0, &expected, "");

    // A rule without timers (a misspelt name) lists nothing and says so.
    assert_output(
        &timers(&store, &["list", "--rule", "escalate"]),
        0,
        "",
        "no pending timers for rule \"escalate\" (rules with pending timers: esc, remind)\n",
    );
});

herald_test!(cancel_one_removes_it_from_list_and_status, |dir| {
    let store = six_timers(&dir);
    assert_output(
        &timers(&store, &["cancel", "esc", "esc:1"]),
        0,
        "cancelled timer \"esc:1\" of rule \"esc\" (it was due at 2024-05-03T10:00:00Z)\n",
        "",
    );
    let expected =
        [remind(1), remind(2), esc(2), remind(3), esc(3)].concat() + "5 pending timer(s)\n";
    assert_output(&timers(&store, &["list"]), 0, &expected, "");
    let expected = [REMIND_1, REMIND_2, ESC_2, REMIND_3, ESC_3]
        .map(|l| format!("{l}\n"))
        .concat();
    assert_output(&timers(&store, &["list", "--json"]), 0, &expected, "");
    assert_eq!(
        status_timers(&store),
        [
            "timers: 5 pending (`herald timers list` lists them)",
            "  rule esc: 2 pending, the next due at 2024-05-03T11:00:00Z",
            "  rule remind: 3 pending, the next due at 2024-05-02T22:00:00Z",
        ]
    );

    // Cancelled is gone: cancelling it again is a timer that does not exist.
    assert_output(
        &timers(&store, &["cancel", "esc", "esc:1"]),
        2,
        "",
        "error: rule \"esc\" has no pending timer named \"esc:1\" (`herald timers list --rule esc` lists its timers)\n",
    );
});

herald_test!(cancel_of_a_missing_timer_is_bad_input, |dir| {
    let store = six_timers(&dir);
    // Names are scoped to their rule: `esc:1` is esc's, not remind's.
    assert_output(
        &timers(&store, &["cancel", "remind", "esc:1"]),
        2,
        "",
        "error: rule \"remind\" has no pending timer named \"esc:1\" (`herald timers list --rule remind` lists its timers)\n",
    );
    // Neither a name nor --all: a usage error.
    let neither = timers(&store, &["cancel", "esc"]);
    assert_eq!(neither.status.code(), Some(2), "{}", stderr(&neither));
    assert!(
        stderr(&neither)
            .starts_with("error: the following required arguments were not provided:\n  <NAME>\n"),
        "{}",
        stderr(&neither)
    );
    // Nothing was cancelled.
    assert_eq!(
        status_timers(&store),
        [
            "timers: 6 pending (`herald timers list` lists them)",
            "  rule esc: 3 pending, the next due at 2024-05-03T10:00:00Z",
            "  rule remind: 3 pending, the next due at 2024-05-02T22:00:00Z",
        ]
    );
});

herald_test!(cancel_all_removes_every_timer_of_the_rule, |dir| {
    let store = six_timers(&dir);
    assert_output(
        &timers(&store, &["cancel", "remind", "--all"]),
        0,
        "cancelled 3 timer(s) of rule \"remind\"\n",
        "",
    );
    let expected = [esc(1), esc(2), esc(3)].concat() + "3 pending timer(s)\n";
    assert_output(&timers(&store, &["list"]), 0, &expected, "");
    assert_eq!(
        status_timers(&store),
        [
            "timers: 3 pending (`herald timers list` lists them)",
            "  rule esc: 3 pending, the next due at 2024-05-03T10:00:00Z",
        ]
    );

    // Again: the rule has none left, which is not "done".
    assert_output(
        &timers(&store, &["cancel", "remind", "--all"]),
        2,
        "",
        "error: no pending timers for rule \"remind\" (rules with pending timers: esc)\n",
    );

    assert_output(
        &timers(&store, &["cancel", "esc", "--all"]),
        0,
        "cancelled 3 timer(s) of rule \"esc\"\n",
        "",
    );
    assert_output(&timers(&store, &["list"]), 0, "", "no pending timers\n");
    assert_output(
        &timers(&store, &["list", "--json"]),
        0,
        "",
        "no pending timers\n",
    );
    assert_eq!(status_timers(&store), ["no pending timers"]);
});

herald_test!(cancel_refuses_a_store_another_process_holds, |dir| {
    let store = six_timers(&dir);
    // This process holds the store, as a running `herald run` would.
    let held = herald_store::Store::open(&store).unwrap();
    assert_output(
        &timers(&store, &["cancel", "esc", "esc:1"]),
        2,
        "",
        &format!(
            "error: the store at {} is in use by another process (one herald at a time may open a store); stop it, or point --store elsewhere\n",
            store.display()
        ),
    );
    drop(held);
    let list = timers(&store, &["list"]);
    assert!(
        stdout(&list).ends_with("6 pending timer(s)\n"),
        "{}",
        stdout(&list)
    );
});

herald_test!(
    a_damaged_timer_record_is_bad_input_naming_the_store,
    |dir| {
        let store = six_timers(&dir);
        {
            let db = sled::Config::new().path(&store).open().unwrap();
            let key = herald_store::keys::timer_due(T0 + 49 * HOUR, "esc", "esc:2");
            let tree = db.open_tree("herald").unwrap();
            assert!(tree.insert(key, &b"not bson"[..]).unwrap().is_some());
            db.flush().unwrap();
        }
        // The timers before it are listed; the listing stops at it.
        assert_output(
            &timers(&store, &["list"]),
            2,
            &[remind(1), remind(2), esc(1)].concat(),
            &format!(
                "error: the store at {} is damaged: a stored timer cannot be decoded (malformed value: \"document length incorrect\"); restore it from a backup, or move it aside to start afresh (events are then replayed from the source's start position)\n",
                store.display()
            ),
        );
        // `status` counts from the index by name, so it still answers.
        assert_eq!(
            status_timers(&store)[0],
            "timers: 6 pending (`herald timers list` lists them)"
        );
    }
);
