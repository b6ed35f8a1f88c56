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

/// A rule on the database is added beside one on its collection: the new
/// database stream starts where the collection's stream stood, so the events
/// written while herald was down reach the collection's rule, once each.
#[tokio::test]
async fn a_new_covering_stream_takes_over_the_old_checkpoint() {
    let t = Target::any("take_over").await;
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[("coll", &rule(&t.ns("d.c"), "\"insert\"", ""))],
    );
    let c = coll(&t, "d", "c").await;
    let (recorder, running) = launch(&t, &rules_dir, dir.path(), 1).await;
    for i in 1..=3 {
        c.insert_one(doc! {"_id": i}).await.unwrap();
    }
    recorder.wait_for("3 effects", |s| s.len() >= 3).await;
    let store = running.store.clone();
    running.stop().await.unwrap();
    let old = format!("mongodb:{}", t.ns("d.c"));
    assert!(store.checkpoint(&old).unwrap().is_some());
    drop(store);

    // Written while herald is down; then a database rule joins.
    for i in 4..=6 {
        c.insert_one(doc! {"_id": i}).await.unwrap();
    }
    rules(dir.path(), &[("db", &rule(&t.ns("d"), "\"insert\"", ""))]);
    let options = herald_ingest::mongo::MongoSourceOptions {
        // Without the take-over, a new stream would start now and miss 4..=6.
        start_at: herald_ingest::mongo::StartAt::Now,
        ..quick_options()
    };
    let recorder2 = Recorder::default();
    let running = start(
        &t,
        &rules_dir,
        &dir.path().join("store"),
        &recorder2,
        options,
    )
    .await;
    until_streams_open(&t, 1).await;
    recorder2
        .wait_for("the coll rule's 3 missed events", |s| {
            s.iter().filter(|e| e.rule == "coll").count() >= 3
        })
        .await;
    c.insert_one(doc! {"_id": 7}).await.unwrap();
    recorder2
        .wait_for("event 7 for both rules", |s| {
            s.iter().filter(|e| e.args.get_i32("id") == Ok(7)).count() >= 2
        })
        .await;
    let store = running.store.clone();
    running.stop().await.unwrap();
    let mut coll_ids: Vec<i32> = recorder
        .all()
        .iter()
        .chain(recorder2.all().iter())
        .filter(|s| s.rule == "coll")
        .map(|s| s.args.get_i32("id").unwrap())
        .collect();
    coll_ids.sort_unstable();
    assert_eq!(
        coll_ids,
        (1..=7).collect::<Vec<_>>(),
        "each event once, none lost"
    );
    let new = format!("mongodb:{}", t.ns("d"));
    assert!(store.checkpoint(&new).unwrap().is_some());
    assert_eq!(
        store.checkpoint(&old).unwrap(),
        None,
        "the old stream's checkpoint is removed once the new one has its own"
    );
}
