//! Timers under `herald run`'s wall clock: what came due while herald was
//! down fires at start, in due order; a decision made meanwhile still
//! comes first.

use crate::harness::{
    Recorder, Target, coll, quick_options, rules, start_configured, until_streams_open,
};
use bson::doc;
use herald_store::{Store, Timer};
use std::time::Duration;

const ONE_WORKER: &str = "[engine]\nworkers = 1\ncommit_every = 4\ncommit_interval_ms = 20\n";

/// An engine with one worker (all partitions in one, so "earliest first" is global).
async fn start_one_worker(
    t: &Target,
    rules_dir: &std::path::Path,
    store_dir: &std::path::Path,
    recorder: &Recorder,
) -> crate::harness::Running {
    start_configured(
        t,
        rules_dir,
        store_dir,
        recorder,
        quick_options(),
        ONE_WORKER,
    )
    .await
}

fn timer_rule(target: &str) -> String {
    format!(
        r#"const RULE = #{{ watch: "{target}", on: ["insert", "update"] }};
fn handle(event) {{
    let id = event.documentKey._id;
    notify("out", #{{ op: event.operationType, id: id }});
    if event.operationType == "insert" {{ after(1500, `t:${{id}}`, id); }} else {{ cancel_timer(`t:${{id}}`); }}
}}
fn on_timer(timer) {{ notify("out", #{{ fired: timer.name, due: timer.due }}); }}
"#
    )
}

/// Timers already due when `herald run` starts (it was down) fire at once,
/// earliest first, and leave the store.
#[tokio::test]
async fn timers_due_while_herald_was_down_fire_at_start_in_due_order() {
    let t = Target::any("timers_at_start").await;
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(dir.path(), &[("esc", &timer_rule(&t.ns("d.c")))]);
    let store_dir = dir.path().join("store");
    let now = bson::DateTime::now().timestamp_millis();
    let store = Store::open(&store_dir).unwrap();
    let mut commit = store.begin();
    // Names in another order than their due times.
    for (name, ago) in [("m", 3_000), ("z", 5_000), ("a", 1_000), ("q", 4_000)] {
        commit
            .set_timer(&Timer {
                rule: "esc".into(),
                name: name.into(),
                due_ms: now - ago,
                set_at_ms: now - 10_000,
                payload: bson::Bson::Null,
                ns: t.ns("d.c"),
                document_key: Some(bson::rawdoc! { "_id": name }),
                version: 1,
            })
            .unwrap();
    }
    store.commit(commit).unwrap();
    drop(store);

    let recorder = Recorder::default();
    let running = start_one_worker(&t, &rules_dir, &store_dir, &recorder).await;
    let seen = recorder.wait_for("4 timers", |all| all.len() == 4).await;
    let summary = running.stop().await.unwrap();
    let names: Vec<&str> = seen
        .iter()
        .map(|s| s.args.get_str("fired").unwrap())
        .collect();
    assert_eq!(names, ["z", "q", "m", "a"], "earliest due first");
    assert_eq!((summary.timers_fired, summary.effects), (4, 4));
    assert_eq!(Store::open(&store_dir).unwrap().timers().count(), 0);
}

/// An expense submitted, then decided while herald was down, past its
/// timer's due time: the restart reads the decision before the wall clock
/// fires anything, so only the undecided one fires.
#[tokio::test]
async fn a_decision_made_while_herald_was_down_cancels_its_timer_first() {
    let t = Target::any("timers_downtime").await;
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(dir.path(), &[("esc", &timer_rule(&t.ns("d.c")))]);
    let store_dir = dir.path().join("store");
    let recorder = Recorder::default();
    let running = start_one_worker(&t, &rules_dir, &store_dir, &recorder).await;
    until_streams_open(&t, 1).await;
    let c = coll(&t, "d", "c").await;
    c.insert_one(doc! {"_id": 1}).await.unwrap();
    c.insert_one(doc! {"_id": 2}).await.unwrap();
    recorder
        .wait_for("both inserts", |all| all.len() == 2)
        .await;
    running.stop().await.unwrap();

    // Down: document 1 is decided, and both timers come due.
    c.update_one(doc! {"_id": 1}, doc! {"$set": {"paid": true}})
        .await
        .unwrap();
    let store = Store::open(&store_dir).unwrap();
    let due = store.timers().map(|t| t.unwrap().due_ms).max().unwrap();
    drop(store);
    let wait = due - bson::DateTime::now().timestamp_millis();
    if wait > 0 {
        // Waiting for the clock to pass the due time, not for another task.
        tokio::time::sleep(Duration::from_millis(wait as u64 + 10)).await;
    }

    let running = start_one_worker(&t, &rules_dir, &store_dir, &recorder).await;
    recorder
        .wait_for("timer 2", |all| {
            all.iter().any(|s| s.args.get_str("fired") == Ok("t:2"))
        })
        .await;
    let summary = running.stop().await.unwrap();
    let after_restart: Vec<String> = recorder.all()[2..]
        .iter()
        .map(|s| match s.args.get_str("fired") {
            Ok(name) => format!("fired {name}"),
            Err(_) => format!(
                "{} {}",
                s.args.get_str("op").unwrap(),
                s.args.get_i32("id").unwrap()
            ),
        })
        .collect();
    assert_eq!(after_restart, ["update 1", "fired t:2"]);
    assert_eq!((summary.timers_fired, summary.events), (1, 1));
    assert_eq!(Store::open(&store_dir).unwrap().timers().count(), 0);
}
