//! Reads the server refuses at the snapshot's time: the fallback, counted.

use super::*;

/// When the server cannot read at the snapshot's time (here it says
/// `SnapshotTooOld`), the read goes on at the current time and the stream
/// still starts after the snapshot's time: nothing is lost, and the changes
/// made while the read ran, which may repeat documents read, are counted
/// and recorded for `herald status`.
#[tokio::test]
async fn a_refused_point_in_time_falls_back_and_counts_the_overlap() {
    let t = Target::sim(mongosim::MongoSim::builder().start().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let c = coll(&t, "d", "c").await;
    for id in 1..=4 {
        c.insert_one(doc! {"_id": id, "v": 0}).await.unwrap();
    }
    fail_next_aggregate(&t, 239).await;
    let stream = format!("mongodb:{}", t.ns("d.c"));
    let rules_dir = rules(dir.path(), &[("all", &every_change(&t.ns("d.c")))]);
    let recorder = Recorder::gated(1);
    let running = start_tight(&t, &rules_dir, &dir.path().join("store"), &recorder).await;
    recorder
        .wait_for("the first document", |s| s.len() == 1)
        .await;
    // While the read runs: a change it may or may not see.
    c.update_one(doc! {"_id": 4}, doc! {"$set": {"v": 1}})
        .await
        .unwrap();
    recorder.release(1_000);
    recorder
        .wait_for("the read and the change", |s| s.len() == 5)
        .await;
    // A change after the read ends takes the stream past its window.
    c.insert_one(doc! {"_id": 9, "v": 0}).await.unwrap();
    let seen = recorder
        .wait_for("the later insert", |s| s.len() == 6)
        .await;
    let store = running.store.clone();
    let run = running.stop().await.unwrap();
    let mut want: Vec<Document> = (1..=4)
        .map(|id| doc! {"op": "insert", "id": id, "v": 0, "snapshot": true})
        .collect();
    want.push(doc! {"op": "update", "id": 4, "v": 1, "snapshot": false});
    want.push(doc! {"op": "insert", "id": 9, "v": 0, "snapshot": false});
    assert_eq!(sorted(&seen), sorted_docs(want));
    assert_eq!((run.effects, run.snapshot_overlap), (6, 1), "{run:?}");
    let info = until_overlap(&t, &store, &stream).await;
    assert_eq!(info["changes"], 1, "{info}");
    assert!(info["reason"].as_str().unwrap().contains("239"), "{info}");
}

/// The history window passes while the snapshot is read (a getMore gets
/// `SnapshotTooOld`): the read goes on from the last document handed over,
/// at the current time, without losing or repeating one.
#[tokio::test]
async fn a_read_that_outlives_the_history_window_goes_on_from_where_it_was() {
    let t = Target::sim(
        mongosim::MongoSim::builder()
            .snapshot_history_writes(2)
            .start()
            .await
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let c = coll(&t, "d", "c").await;
    for id in 1..=20 {
        c.insert_one(doc! {"_id": id, "v": 0}).await.unwrap();
    }
    let stream = format!("mongodb:{}", t.ns("d.c"));
    let rules_dir = rules(dir.path(), &[("all", &every_change(&t.ns("d.c")))]);
    let recorder = Recorder::gated(1);
    let running = start_tight(&t, &rules_dir, &dir.path().join("store"), &recorder).await;
    recorder
        .wait_for("the first document", |s| s.len() == 1)
        .await;
    // Writes elsewhere: the snapshot's time leaves the server's history.
    let other = coll(&t, "elsewhere", "x").await;
    for id in 1..=3 {
        other.insert_one(doc! {"_id": id}).await.unwrap();
    }
    recorder.release(1_000);
    recorder.wait_for("every document", |s| s.len() == 20).await;
    let store = running.store.clone();
    let info = until_overlap(&t, &store, &stream).await;
    let run = running.stop().await.unwrap();
    let ids: std::collections::BTreeSet<i32> = recorder
        .all()
        .iter()
        .map(|s| s.args.get_i32("id").unwrap())
        .collect();
    assert_eq!(ids.len(), 20);
    assert_eq!((run.effects, run.snapshot_overlap), (20, 0), "{run:?}");
    assert!(info["reason"].as_str().unwrap().contains("239"), "{info}");
}

/// `SnapshotUnavailable` (246: one collection's catalog changed since the
/// snapshot's time) makes only that collection read at the current time;
/// the next is still read at the snapshot's time.
#[tokio::test]
async fn snapshot_unavailable_falls_back_for_its_collection_only() {
    let t = Target::sim(mongosim::MongoSim::builder().start().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let a = coll(&t, "d", "a").await;
    let b = coll(&t, "d", "b").await;
    // Enough that the read is held back inside `a`.
    for id in 1..=9 {
        a.insert_one(doc! {"_id": id, "v": 0}).await.unwrap();
    }
    b.insert_one(doc! {"_id": 10, "v": 0}).await.unwrap();
    fail_next_aggregate(&t, 246).await;
    let rules_dir = rules(dir.path(), &[("all", &every_change("d"))]);
    let recorder = Recorder::gated(1);
    let running = start_tight(&t, &rules_dir, &dir.path().join("store"), &recorder).await;
    recorder
        .wait_for("the first document of a", |s| s.len() == 1)
        .await;
    // Before `b` is read: its snapshot must still show the value at T.
    b.update_one(doc! {"_id": 10}, doc! {"$set": {"v": 1}})
        .await
        .unwrap();
    recorder.release(1_000);
    recorder
        .wait_for("a, b and b's change", |s| s.len() == 11)
        .await;
    let store = running.store.clone();
    until_overlap(&t, &store, "mongodb:d").await;
    let run = running.stop().await.unwrap();
    let mut want: Vec<Document> = (1..=9)
        .map(|id| doc! {"op": "insert", "id": id, "v": 0, "snapshot": true})
        .collect();
    want.push(doc! {"op": "insert", "id": 10, "v": 0, "snapshot": true});
    want.push(doc! {"op": "update", "id": 10, "v": 1, "snapshot": false});
    assert_eq!(sorted(&recorder.all()), sorted_docs(want));
    assert_eq!(run.snapshot_overlap, 1, "{run:?}");
}
