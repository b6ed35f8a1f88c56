//! Restarts: every event after the checkpoint is handled once, none is missed.

use crate::harness::*;
use bson::doc;
use std::collections::HashSet;

#[tokio::test]
async fn a_killed_engine_resumes_from_its_checkpoint() {
    let t = Target::any("killed_engine").await;
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[
            ("a", &rule(&t.ns("d.c"), "\"insert\"", "")),
            (
                "b",
                &rule(&t.ns("d.c"), "\"insert\"", "\"fullDocument.even\": true"),
            ),
        ],
    );
    let store = dir.path().join("store");
    let recorder = Recorder::default();
    let c = coll(&t, "d", "c").await;
    let expected = |n: i32| -> usize { (n + n / 2) as usize };

    let running = start(&t, &rules_dir, &store, &recorder, quick_options()).await;
    until_streams_open(&t, 1).await;
    for i in 1..=10 {
        c.insert_one(doc! {"_id": i, "even": i % 2 == 0})
            .await
            .unwrap();
    }
    recorder
        .wait_for("the first 10 events", |s| {
            s.iter().map(|e| &e.key).collect::<HashSet<_>>().len() >= expected(10)
        })
        .await;
    running.kill().await;

    // Written while herald is down: the oplog keeps them.
    for i in 11..=20 {
        c.insert_one(doc! {"_id": i, "even": i % 2 == 0})
            .await
            .unwrap();
    }
    let running = start(&t, &rules_dir, &store, &recorder, quick_options()).await;
    let seen = recorder
        .wait_for("all 20 events", |s| {
            s.iter().map(|e| &e.key).collect::<HashSet<_>>().len() >= expected(20)
        })
        .await;
    running.stop().await.unwrap();

    let keys: HashSet<&String> = seen.iter().map(|s| &s.key).collect();
    assert_eq!(
        keys.len(),
        expected(20),
        "each (rule, event) exactly once by idempotency key"
    );
    for rule in ["a", "b"] {
        let ids: HashSet<i32> = seen
            .iter()
            .filter(|s| s.rule == rule)
            .map(|s| s.args.get_i32("id").unwrap())
            .collect();
        let want: HashSet<i32> = (1..=20).filter(|i| rule == "a" || i % 2 == 0).collect();
        assert_eq!(ids, want, "rule {rule} saw every event it matches");
    }
    let repeats = seen.len() - keys.len();
    println!(
        "raw repeats after the kill: {repeats} (only events after the last committed group may repeat)"
    );
    assert!(
        repeats <= 2 * 4 + 2,
        "at most about one group (commit_every = 4) is redone, got {repeats}"
    );
}

/// A backlog read in server batches of 3 (many getMores, engine batches
/// ending mid server batch) reaches the rule whole: each event once, and
/// the run's count says none was read twice.
#[tokio::test]
async fn a_backlog_in_small_server_batches_arrives_once_each() {
    let t = Target::any("small_server_batches").await;
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(dir.path(), &[("a", &rule(&t.ns("d.c"), "\"insert\"", ""))]);
    // Its start is taken before the writes: they are a backlog when it opens.
    let options = herald_ingest::mongo::MongoSourceOptions {
        server_batch: 3,
        max_batch: 4,
        ..quick_options()
    };
    let c = coll(&t, "d", "c").await;
    c.insert_many((1..=50).map(|i| doc! {"_id": i}))
        .await
        .unwrap();
    let (recorder, running) = launch_with(&t, &rules_dir, dir.path(), 1, options).await;
    let seen = recorder.wait_for("50 events", |s| s.len() >= 50).await;
    let summary = running.stop().await.unwrap();
    let mut ids: Vec<i32> = seen.iter().map(|s| s.args.get_i32("id").unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=50).collect::<Vec<_>>());
    assert_eq!(summary.events, 50, "{summary:?}");
}
