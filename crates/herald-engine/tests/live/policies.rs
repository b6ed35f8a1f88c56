//! History loss, invalidation, and quiet streams.

use crate::harness::*;
use bson::doc;
use herald_engine::EngineError;
use herald_ingest::SourceError;
use herald_ingest::mongo::{HistoryLostPolicy, InvalidatePolicy, MongoSourceOptions};
use mongosim::MongoSim;

/// Runs until one event is handled and committed, stops, then rolls the oplog past the checkpoint.
async fn lose_history(t: &Target, rules_dir: &std::path::Path, store: &std::path::Path) {
    let recorder = Recorder::default();
    let running = start(t, rules_dir, store, &recorder, quick_options()).await;
    until_streams_open(t, 1).await;
    let c = coll(t, "d", "c").await;
    c.insert_one(doc! {"_id": 0}).await.unwrap();
    recorder
        .wait_for("the first event", |s| !s.is_empty())
        .await;
    running.stop().await.unwrap();
    c.insert_many((1..100).map(|i| doc! {"_id": i}))
        .await
        .unwrap();
}

#[tokio::test]
async fn history_lost_fails_by_default_with_an_explanation() {
    let t = Target::sim(
        MongoSim::builder()
            .oplog_capacity(20)
            .start()
            .await
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(dir.path(), &[("a", &rule(&t.ns("d.c"), "\"insert\"", ""))]);
    let store = dir.path().join("store");
    lose_history(&t, &rules_dir, &store).await;
    let running = start(
        &t,
        &rules_dir,
        &store,
        &Recorder::default(),
        quick_options(),
    )
    .await;
    let err = running.finished().await.unwrap_err();
    let EngineError::Source(SourceError::HistoryLost { stream, .. }) = &err else {
        panic!("{err}")
    };
    assert_eq!(stream, "mongodb:d.c");
    assert!(
        err.to_string().contains("from_now"),
        "says how to go on: {err}"
    );
}

#[tokio::test]
async fn history_lost_from_now_records_the_gap_and_continues() {
    let t = Target::sim(
        MongoSim::builder()
            .oplog_capacity(20)
            .start()
            .await
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(dir.path(), &[("a", &rule(&t.ns("d.c"), "\"insert\"", ""))]);
    let store = dir.path().join("store");
    lose_history(&t, &rules_dir, &store).await;
    let options = MongoSourceOptions {
        on_history_lost: HistoryLostPolicy::FromNow,
        ..quick_options()
    };
    let recorder = Recorder::default();
    let running = start(&t, &rules_dir, &store, &recorder, options).await;
    until_streams_open(&t, 1).await;
    coll(&t, "d", "c")
        .await
        .insert_one(doc! {"_id": 500})
        .await
        .unwrap();
    let seen = recorder
        .wait_for("the event after the gap", |s| !s.is_empty())
        .await;
    assert_eq!(seen[0].args.get_i32("id"), Ok(500));
    let summary = running.stop().await.unwrap();
    assert_eq!(summary.gaps, 1);
    let gaps = herald_store::Store::open(&store).unwrap().gaps().unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0].stream, "mongodb:d.c");
    assert!(
        gaps[0].last.as_deref().is_some_and(|l| l.contains("_data")),
        "{gaps:?}"
    );
}

#[tokio::test]
async fn invalidate_stop_ends_the_stream() {
    let t = Target::any("invalidate_stop").await;
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[("a", &rule(&t.ns("d.c"), "\"insert\", \"drop\"", ""))],
    );
    let (recorder, running) = launch(&t, &rules_dir, dir.path(), 1).await;
    let c = coll(&t, "d", "c").await;
    c.insert_one(doc! {"_id": 1}).await.unwrap();
    c.drop().await.unwrap();
    let summary = running.finished().await.unwrap();
    assert_eq!(
        (summary.events, summary.streams_failed),
        (3, 0),
        "insert, drop, invalidate; stopped cleanly: {summary:?}"
    );
    let mut ops: Vec<String> = recorder
        .all()
        .iter()
        .map(|s| s.args.get_str("op").unwrap().to_owned())
        .collect();
    // The insert and the drop are not one document's events: their workers
    // may send them in either order.
    ops.sort();
    assert_eq!(ops, ["drop", "insert"]);
}

#[tokio::test]
async fn invalidate_restart_follows_the_recreated_collection() {
    let t = Target::any("invalidate_restart").await;
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(dir.path(), &[("a", &rule(&t.ns("d.c"), "\"insert\"", ""))]);
    let options = MongoSourceOptions {
        on_invalidate: InvalidatePolicy::Restart,
        ..quick_options()
    };
    let (recorder, running) = launch_with(&t, &rules_dir, dir.path(), 1, options).await;
    let c = coll(&t, "d", "c").await;
    c.insert_one(doc! {"_id": 1}).await.unwrap();
    c.drop().await.unwrap();
    c.insert_one(doc! {"_id": 2}).await.unwrap();
    let seen = recorder.wait_for("both inserts", |s| s.len() >= 2).await;
    assert_eq!(
        seen.iter()
            .map(|s| s.args.get_i32("id").unwrap())
            .collect::<Vec<_>>(),
        [1, 2]
    );
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_quiet_stream_advances_its_checkpoint() {
    let t = Target::sim(MongoSim::builder().start().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[("a", &rule(&t.ns("d.quiet"), "\"insert\"", ""))],
    );
    let store = dir.path().join("store");
    let recorder = Recorder::default();
    let running = start(&t, &rules_dir, &store, &recorder, quick_options()).await;
    until_streams_open(&t, 1).await;
    let busy = coll(&t, "d", "busy").await;
    busy.insert_one(doc! {"_id": 0}).await.unwrap();
    running.stop().await.unwrap();
    let first = herald_store::Store::open(&store)
        .unwrap()
        .checkpoint("mongodb:d.quiet")
        .unwrap()
        .expect("a checkpoint from the postBatchResumeToken");
    busy.insert_many((1..50).map(|i| doc! {"_id": i}))
        .await
        .unwrap();
    let running = start(&t, &rules_dir, &store, &recorder, quick_options()).await;
    // The engine commits the postBatchResumeToken of empty batches; wait until it has.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while running
        .store
        .checkpoint("mongodb:d.quiet")
        .unwrap()
        .as_ref()
        == Some(&first)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the checkpoint never moved"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let moved = running
        .store
        .checkpoint("mongodb:d.quiet")
        .unwrap()
        .unwrap();
    // The checkpoint's own time moves too: `herald status` measures lag from it,
    // so a quiet stream does not look as if it were falling behind.
    assert!(
        moved.cluster_time().unwrap() > first.cluster_time().unwrap(),
        "{moved} is not later than {first}"
    );
    let stopped = running.stop().await.unwrap();
    assert_eq!(stopped.events, 0, "no event of the quiet collection");
    assert!(recorder.all().is_empty());
}

/// Under a database stream (a rule watches the database too), a dropped
/// collection is not an invalidate of the stream, but its target's policy
/// holds all the same: "stop" ends its rules, "restart" follows the
/// re-created collection; the database's rule goes on either way.
#[tokio::test]
async fn a_collection_policy_holds_under_a_database_stream() {
    for restart in [false, true] {
        let t = Target::any(if restart {
            "cover_restart"
        } else {
            "cover_stop"
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let rules_dir = rules(
            dir.path(),
            &[
                ("coll", &rule(&t.ns("d.c"), "\"insert\", \"drop\"", "")),
                ("db", &rule(&t.ns("d"), "\"insert\"", "")),
            ],
        );
        let mut options = quick_options();
        if restart {
            options
                .on_invalidate_for
                .insert(t.ns("d.c").parse().unwrap(), InvalidatePolicy::Restart);
        }
        let (recorder, running) = launch_with(&t, &rules_dir, dir.path(), 1, options).await;
        let c = coll(&t, "d", "c").await;
        c.insert_one(doc! {"_id": 1}).await.unwrap();
        c.drop().await.unwrap();
        c.insert_one(doc! {"_id": 2}).await.unwrap();
        recorder
            .wait_for("the db rule's second insert", |s| {
                s.iter()
                    .any(|e| e.rule == "db" && e.args.get_i32("id") == Ok(2))
            })
            .await;
        running.stop().await.unwrap();
        let mut got: Vec<(String, String, Option<i32>)> = recorder
            .all()
            .iter()
            .map(|s| {
                (
                    s.rule.clone(),
                    s.args.get_str("op").unwrap().to_owned(),
                    s.args.get_i32("id").ok(),
                )
            })
            .collect();
        got.sort();
        let e = |r: &str, op: &str, id: Option<i32>| (r.to_owned(), op.to_owned(), id);
        let mut want = vec![
            e("coll", "drop", None),
            e("coll", "insert", Some(1)),
            e("db", "insert", Some(1)),
            e("db", "insert", Some(2)),
        ];
        if restart {
            want.push(e("coll", "insert", Some(2)));
            want.sort();
        }
        assert_eq!(got, want, "restart = {restart}");
    }
}

/// A stop lasts: after `on_invalidate = "stop"`, a restart does not follow the
/// re-created collection (its stream is not even opened), until the target
/// is resumed; then its rules go on from then, not from the stop.
#[tokio::test]
async fn a_stopped_target_stays_stopped_until_resumed() {
    let t = Target::any("stop_lasts").await;
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[("a", &rule(&t.ns("d.c"), "\"insert\", \"drop\"", ""))],
    );
    let store_dir = dir.path().join("store");
    let (recorder, running) = launch(&t, &rules_dir, dir.path(), 1).await;
    let c = coll(&t, "d", "c").await;
    c.insert_one(doc! {"_id": 1}).await.unwrap();
    c.drop().await.unwrap();
    let first = running.finished().await.unwrap();
    assert_eq!(first.stream_stops.len(), 1, "{first:?}");
    assert!(first.stream_stops[0].starts_with(&t.ns("d.c")), "{first:?}");

    // The collection comes back while herald is down; herald comes back too.
    c.insert_one(doc! {"_id": 2}).await.unwrap();
    let again = start(&t, &rules_dir, &store_dir, &recorder, quick_options()).await;
    let summary = again.finished().await.unwrap();
    assert_eq!(
        summary.events, 0,
        "no stream for a stopped target: {summary:?}"
    );

    let store = herald_store::Store::open(&store_dir).unwrap();
    let stopped = herald_engine::stops::stopped(&store).unwrap();
    assert_eq!(stopped.keys().collect::<Vec<_>>(), [&t.ns("d.c")]);
    let lifted = herald_engine::stops::resume(
        &store,
        &t.ns("d.c").parse().unwrap(),
        herald_engine::stops::ResumeFrom::Now,
        false,
    )
    .unwrap();
    assert!(lifted.is_some());
    drop(store);
    let resumed = start(
        &t,
        &rules_dir,
        &store_dir,
        &recorder,
        MongoSourceOptions {
            start_at: herald_ingest::mongo::StartAt::Now,
            ..quick_options()
        },
    )
    .await;
    until_streams_open(&t, 1).await;
    c.insert_one(doc! {"_id": 3}).await.unwrap();
    recorder
        .wait_for("insert 3", |s| {
            s.iter().any(|e| e.args.get_i32("id") == Ok(3))
        })
        .await;
    resumed.stop().await.unwrap();
    let mut got: Vec<(String, Option<i32>)> = recorder
        .all()
        .iter()
        .map(|s| {
            (
                s.args.get_str("op").unwrap().to_owned(),
                s.args.get_i32("id").ok(),
            )
        })
        .collect();
    // The insert and the drop are other documents' events, which may run in
    // parallel: each once, in either order, before what came after the resume.
    got[..2].sort_unstable();
    assert_eq!(
        got,
        [
            ("drop".to_owned(), None),
            ("insert".to_owned(), Some(1)),
            ("insert".to_owned(), Some(3)),
        ],
        "2 came while stopped: not followed, not replayed"
    );
}
