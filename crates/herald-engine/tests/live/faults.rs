//! Server faults beyond the driver's own resume: nothing lost, nothing repeated.

use crate::harness::*;
use bson::{Document, doc};
use mongosim::MongoSim;
use std::collections::HashSet;

async fn fail(t: &Target, mode: Document, data: Document) {
    let client = mongodb::Client::with_uri_str(t.uri()).await.unwrap();
    client
        .database("admin")
        .run_command(doc! {"configureFailPoint": "failCommand", "mode": mode, "data": data})
        .await
        .unwrap();
}

async fn survives(data: Document) {
    let t = Target::sim(MongoSim::builder().start().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(dir.path(), &[("a", &rule(&t.ns("d.c"), "\"insert\"", ""))]);
    let (recorder, running) = launch(&t, &rules_dir, dir.path(), 1).await;
    let c = coll(&t, "d", "c").await;
    c.insert_one(doc! {"_id": 0}).await.unwrap();
    recorder
        .wait_for("the first event", |s| !s.is_empty())
        .await;
    // Each getMore fails, and so does the aggregate the driver resumes with: more
    // than the driver's own retry, so herald must reopen the stream itself.
    fail(&t, doc! {"times": 6}, data).await;
    for i in 1..=5 {
        c.insert_one(doc! {"_id": i}).await.unwrap();
    }
    recorder.wait_for("all events", |s| s.len() >= 6).await;
    let summary = running.stop().await.unwrap();
    let seen = recorder.wait_for("the run's effects", |_| true).await;
    let mut ids: Vec<i32> = seen.iter().map(|s| s.args.get_i32("id").unwrap()).collect();
    // Different documents run in parallel: their order is not promised.
    ids.sort_unstable();
    assert_eq!(ids, (0..=5).collect::<Vec<_>>(), "none lost, none repeated");
    assert_eq!(seen.iter().map(|s| &s.key).collect::<HashSet<_>>().len(), 6);
    assert!(
        summary.stream_retries >= 1,
        "herald reopened the stream: {summary:?}"
    );
}

#[tokio::test]
async fn resumable_errors_beyond_the_drivers_retry() {
    survives(doc! {"failCommands": ["getMore", "aggregate"], "errorCode": 91, "errorLabels": ["ResumableChangeStreamError"]}).await;
}

#[tokio::test]
async fn dropped_connections_beyond_the_drivers_retry() {
    survives(doc! {"failCommands": ["getMore", "aggregate"], "closeConnection": true}).await;
}

#[tokio::test]
async fn a_non_resumable_error_stops_only_that_stream() {
    let t = Target::sim(MongoSim::builder().start().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[
            ("a", &rule(&t.ns("d.a"), "\"insert\"", "")),
            ("b", &rule(&t.ns("d.b"), "\"insert\"", "")),
        ],
    );
    let (recorder, running) = launch(&t, &rules_dir, dir.path(), 2).await;
    // One getMore fails without the resumable label: whichever stream gets it stops.
    fail(
        &t,
        doc! {"times": 1},
        doc! {"failCommands": ["getMore"], "errorCode": 8000},
    )
    .await;
    let a = coll(&t, "d", "a").await;
    let b = coll(&t, "d", "b").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while open_streams(&t) > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a stream should have stopped"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    a.insert_one(doc! {"_id": 1}).await.unwrap();
    b.insert_one(doc! {"_id": 2}).await.unwrap();
    let seen = recorder
        .wait_for("the surviving stream's event", |s| !s.is_empty())
        .await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    let summary = running.stop().await.unwrap();
    assert_eq!(summary.streams_failed, 1, "{summary:?}");
}

/// `CappedPositionLost` (136) is the older servers' way of saying the resume
/// point left the oplog: it is history lost, not a stream error to retry.
#[tokio::test]
async fn capped_position_lost_is_history_lost() {
    let t = Target::sim(MongoSim::builder().start().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(dir.path(), &[("a", &rule(&t.ns("d.c"), "\"insert\"", ""))]);
    fail(
        &t,
        doc! {"times": 1},
        doc! {"failCommands": ["aggregate"], "errorCode": 136},
    )
    .await;
    let (_recorder, running) = launch(&t, &rules_dir, dir.path(), 0).await;
    let err = running.finished().await.unwrap_err();
    assert!(
        matches!(
            &err,
            herald_engine::EngineError::Source(herald_ingest::SourceError::HistoryLost { .. })
        ),
        "{err}"
    );
}

/// An event over 16 MiB without `$changeStreamSplitLargeEvent` stops the
/// stream with a message that names the option that fixes it.
#[tokio::test]
async fn an_event_too_large_names_split_large_events() {
    let t = Target::sim(MongoSim::builder().start().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(dir.path(), &[("a", &rule(&t.ns("d.c"), "\"insert\"", ""))]);
    fail(
        &t,
        doc! {"times": 1},
        doc! {"failCommands": ["aggregate"], "errorCode": 10334},
    )
    .await;
    let (_recorder, running) = launch(&t, &rules_dir, dir.path(), 0).await;
    let summary = running.finished().await.unwrap();
    assert_eq!(summary.streams_failed, 1, "{summary:?}");
    assert!(
        summary.stream_failures[0].contains("set split_large_events = true"),
        "{summary:?}"
    );
}
