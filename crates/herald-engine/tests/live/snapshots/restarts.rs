//! Crashes and restarts around a snapshot: nothing lost, nothing repeated.

use super::*;

/// A crash in the middle of the snapshot goes on after the last document
/// done, at the same time: across both runs each document is handled once,
/// and the change after the snapshot once.
#[tokio::test]
async fn a_crash_mid_snapshot_goes_on_without_repeats() {
    let t = Target::any("snapshot_crash").await;
    let dir = tempfile::tempdir().unwrap();
    let c = coll(&t, "d", "c").await;
    for id in 1..=6 {
        c.insert_one(doc! {"_id": id, "v": 0}).await.unwrap();
    }
    let stream = format!("mongodb:{}", t.ns("d.c"));
    let rules_dir = rules(dir.path(), &[("all", &every_change(&t.ns("d.c")))]);
    let store = dir.path().join("store");
    let first = Recorder::gated(3);
    let running = start_tight(&t, &rules_dir, &store, &first).await;
    first.wait_for("three documents", |s| s.len() == 3).await;
    // The fourth is held: wait for the checkpoint after the third.
    until_checkpoint(&running, &stream, |p| {
        p.and_then(|p| p.snapshot_after()) == Some(bson::Bson::Int32(3))
    })
    .await;
    running.kill().await;
    // Written while herald is down, after the snapshot's time: a change.
    c.update_one(doc! {"_id": 2}, doc! {"$set": {"v": 2}})
        .await
        .unwrap();

    let second = Recorder::default();
    let running = start_tight(&t, &rules_dir, &store, &second).await;
    let seen = second
        .wait_for("the rest and the change", |s| s.len() == 4)
        .await;
    running.stop().await.unwrap();
    let mut all = first.all();
    all.extend(seen);
    let mut want: Vec<Document> = (1..=6)
        .map(|id| doc! {"op": "insert", "id": id, "v": 0, "snapshot": true})
        .collect();
    want.push(doc! {"op": "update", "id": 2, "v": 2, "snapshot": false});
    assert_eq!(sorted(&all), sorted_docs(want));
    let keys: std::collections::HashSet<&String> = all.iter().map(|s| &s.key).collect();
    assert_eq!(keys.len(), 7, "every effect has its own key");
}

/// A crash before the snapshot's first checkpoint: the floors recorded the
/// snapshot, so the next start reads it (nothing is skipped).
#[tokio::test]
async fn a_crash_before_the_first_checkpoint_reads_the_snapshot_again() {
    let t = Target::any("snapshot_crash_first").await;
    let dir = tempfile::tempdir().unwrap();
    let c = coll(&t, "d", "c").await;
    for id in 1..=3 {
        c.insert_one(doc! {"_id": id, "v": 0}).await.unwrap();
    }
    let rules_dir = rules(dir.path(), &[("all", &every_change(&t.ns("d.c")))]);
    let store = dir.path().join("store");
    let held = Recorder::gated(0);
    let running = start_tight(&t, &rules_dir, &store, &held).await;
    // The first effect is held: nothing is checkpointed.
    let stream = format!("mongodb:{}", t.ns("d.c"));
    assert_eq!(running.store.checkpoint(&stream).unwrap(), None);
    running.kill().await;
    // Time moves on (a write elsewhere) before the restart.
    coll(&t, "elsewhere", "x")
        .await
        .insert_one(doc! {"_id": 1})
        .await
        .unwrap();
    let second = Recorder::default();
    let running = start_tight(&t, &rules_dir, &store, &second).await;
    second.wait_for("the snapshot", |s| s.len() == 3).await;
    c.insert_one(doc! {"_id": 4, "v": 0}).await.unwrap();
    let seen = second.wait_for("the insert", |s| s.len() == 4).await;
    running.stop().await.unwrap();
    let mut want: Vec<Document> = (1..=3)
        .map(|id| doc! {"op": "insert", "id": id, "v": 0, "snapshot": true})
        .collect();
    want.push(doc! {"op": "insert", "id": 4, "v": 0, "snapshot": false});
    assert_eq!(sorted(&seen), sorted_docs(want));
    assert!(held.all().is_empty());
}

/// A snapshot read whole is never read again: after `--snapshot-only`, a
/// run long after (past the server's history window) takes only changes.
#[tokio::test]
async fn a_snapshot_read_whole_is_not_read_again() {
    let t = Target::sim(
        mongosim::MongoSim::builder()
            .snapshot_history_writes(2)
            .start()
            .await
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let c = coll(&t, "d", "c").await;
    for id in 1..=3 {
        c.insert_one(doc! {"_id": id, "v": 0}).await.unwrap();
    }
    let rules_dir = rules(dir.path(), &[("all", &every_change(&t.ns("d.c")))]);
    let store = dir.path().join("store");
    let first = Recorder::default();
    let only = MongoSourceOptions {
        snapshot_only: true,
        ..snapshot_options()
    };
    let running = start_configured(&t, &rules_dir, &store, &first, only, TIGHT).await;
    let stream = format!("mongodb:{}", t.ns("d.c"));
    let checkpoints = running.store.clone();
    running.finished().await.unwrap();
    assert!(
        matches!(
            checkpoints.checkpoint(&stream).unwrap(),
            Some(herald_core::Position::SnapshotDone { .. })
        ),
        "the checkpoint says the snapshot is read whole"
    );
    drop(checkpoints);
    assert_eq!(first.all().len(), 3);
    // Past the history window of the snapshot's time.
    for id in 4..=6 {
        c.insert_one(doc! {"_id": id, "v": 0}).await.unwrap();
    }
    let second = Recorder::default();
    let running = start_tight(&t, &rules_dir, &store, &second).await;
    let seen = second.wait_for("the inserts", |s| s.len() == 3).await;
    c.insert_one(doc! {"_id": 7, "v": 0}).await.unwrap();
    let seen_more = second.wait_for("one more", |s| s.len() == 4).await;
    running.stop().await.unwrap();
    assert_eq!(second.all(), seen_more, "nothing more after");
    assert_eq!(seen.len(), 3);
    let want: Vec<Document> = (4..=7)
        .map(|id| doc! {"op": "insert", "id": id, "v": 0, "snapshot": false})
        .collect();
    assert_eq!(sorted(&seen_more), sorted_docs(want));
}

/// A rule added while its target's snapshot is being read takes none of it
/// (it would get only part): it takes the changes from its start on.
#[tokio::test]
async fn a_rule_added_mid_snapshot_takes_none_of_it() {
    let t = Target::any("snapshot_new_rule").await;
    let dir = tempfile::tempdir().unwrap();
    let c = coll(&t, "d", "c").await;
    for id in 1..=3 {
        c.insert_one(doc! {"_id": id, "v": 0}).await.unwrap();
    }
    let target = t.ns("d.c");
    let rules_dir = rules(dir.path(), &[("first", &every_change(&target))]);
    let store = dir.path().join("store");
    let held = Recorder::gated(1);
    let running = start_tight(&t, &rules_dir, &store, &held).await;
    let stream = format!("mongodb:{target}");
    until_checkpoint(&running, &stream, |p| {
        p.and_then(|p| p.snapshot_after()) == Some(bson::Bson::Int32(1))
    })
    .await;
    running.kill().await;
    rules(dir.path(), &[("second", &every_change(&target))]);
    let recorder = Recorder::default();
    let running = start_tight(&t, &rules_dir, &store, &recorder).await;
    recorder
        .wait_for("the rest of the snapshot", |s| s.len() == 2)
        .await;
    c.insert_one(doc! {"_id": 4, "v": 0}).await.unwrap();
    let seen = recorder
        .wait_for("the insert, twice", |s| s.len() == 4)
        .await;
    running.stop().await.unwrap();
    assert_eq!(
        by_rule(&seen),
        [
            ("first".into(), 2, true),
            ("first".into(), 3, true),
            ("first".into(), 4, false),
            ("second".into(), 4, false),
        ]
    );
}

/// A finished snapshot stays finished when the streams change (a rule that
/// made a wider stream is removed): no snapshot is read again, and the
/// changes made in between arrive once.
#[tokio::test]
async fn a_finished_snapshot_stays_finished_when_the_streams_change() {
    let t = Target::any("snapshot_plan_change").await;
    let dir = tempfile::tempdir().unwrap();
    let c = coll(&t, "d", "c").await;
    c.insert_one(doc! {"_id": 1, "v": 0}).await.unwrap();
    let rules_dir = rules(
        dir.path(),
        &[
            ("one", &every_change(&t.ns("d.c"))),
            ("wide", &every_change(&t.ns("d"))),
        ],
    );
    let store = dir.path().join("store");
    let first = Recorder::default();
    let running = start_tight(&t, &rules_dir, &store, &first).await;
    first
        .wait_for("the snapshot, for each rule", |s| s.len() == 2)
        .await;
    c.insert_one(doc! {"_id": 2, "v": 0}).await.unwrap();
    first
        .wait_for("a change, for each rule", |s| s.len() == 4)
        .await;
    running.stop().await.unwrap();
    // The database rule goes (`d.c` gets a stream of its own) and a rule
    // comes: it starts now, with no snapshot (its target started before).
    std::fs::remove_file(rules_dir.join("wide.rhai")).unwrap();
    rules(dir.path(), &[("late", &every_change(&t.ns("d.c")))]);
    c.insert_one(doc! {"_id": 3, "v": 0}).await.unwrap();
    let second = Recorder::default();
    let running = start_tight(&t, &rules_dir, &store, &second).await;
    second
        .wait_for("the change made in between", |s| !s.is_empty())
        .await;
    c.insert_one(doc! {"_id": 4, "v": 0}).await.unwrap();
    let seen = second.wait_for("a change after", |s| s.len() == 3).await;
    running.stop().await.unwrap();
    assert_eq!(second.all(), seen, "nothing more after");
    assert_eq!(
        by_rule(&seen),
        [
            ("late".into(), 4, false),
            ("one".into(), 3, false),
            ("one".into(), 4, false),
        ]
    );
}

/// An effect done but not committed when herald dies is done again after
/// the restart with the same idempotency key: a snapshot event's token is
/// (target, collection, T, `_id`), and T is the same after the crash.
#[tokio::test]
async fn an_effect_redone_after_a_crash_keeps_its_key() {
    let t = Target::any("snapshot_keys").await;
    let dir = tempfile::tempdir().unwrap();
    let c = coll(&t, "d", "c").await;
    for id in 1..=2 {
        c.insert_one(doc! {"_id": id, "v": 0}).await.unwrap();
    }
    let rules_dir = rules(dir.path(), &[("all", &every_change(&t.ns("d.c")))]);
    let store = dir.path().join("store");
    // Nothing commits on its own for a minute: the crash comes first.
    let slow =
        "[engine]\nworkers = 1\nqueue = 1\ncommit_every = 1000\ncommit_interval_ms = 60000\n";
    let first = Recorder::gated(1);
    let running = start_configured(&t, &rules_dir, &store, &first, snapshot_options(), slow).await;
    first.wait_for("the first effect", |s| s.len() == 1).await;
    running.kill().await;
    let second = Recorder::default();
    let running = start_tight(&t, &rules_dir, &store, &second).await;
    second.wait_for("both documents", |s| s.len() == 2).await;
    running.stop().await.unwrap();
    let done = &first.all()[0];
    let again = second
        .all()
        .into_iter()
        .find(|s| s.args == done.args)
        .expect("the first document's effect again");
    assert_eq!(again.key, done.key);
    assert_eq!(second.all().len(), 2);
}
