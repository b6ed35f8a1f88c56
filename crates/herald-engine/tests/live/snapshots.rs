//! `start_at = "snapshot"`: the documents that exist at a target's first
//! start reach its rules once each, as inserts with `snapshot: true`, and the
//! changes after the snapshot's time follow, none lost and none doubled.

use crate::harness::*;
use bson::{Document, doc};
use herald_ingest::mongo::{MongoSourceOptions, StartAt};

/// Quick options that read snapshots, one event per batch (so the read
/// goes document by document, behind the engine).
fn snapshot_options() -> MongoSourceOptions {
    MongoSourceOptions {
        start_at: StartAt::Snapshot,
        max_batch: 1,
        queue: 1,
        ..quick_options()
    }
}

/// A rule on `d.c` that notifies "out" with what it saw.
/// One worker with a queue of one, so an effect the test holds stops the
/// reading (and the snapshot read) right behind it.
const TIGHT: &str = "[engine]\nworkers = 1\nqueue = 1\ncommit_every = 4\ncommit_interval_ms = 20\n";

/// [`start_configured`] with [`snapshot_options`] and [`TIGHT`].
async fn start_tight(
    t: &Target,
    rules_dir: &std::path::Path,
    store: &std::path::Path,
    recorder: &Recorder,
) -> Running {
    start_configured(t, rules_dir, store, recorder, snapshot_options(), TIGHT).await
}

fn seen_rule(target: &str, on: &str, extra: &str) -> String {
    format!(
        "const RULE = #{{ watch: \"{target}\", on: [{on}]{extra} }};\nfn handle(event) {{ notify(\"out\", #{{ op: event.operationType, id: event.documentKey._id, v: event.fullDocument?.v, snapshot: event.snapshot }}); }}\n"
    )
}

fn summary(seen: &[Seen]) -> Vec<(String, Document)> {
    seen.iter()
        .map(|s| (s.rule.clone(), s.args.clone()))
        .collect()
}

/// Documents that exist before the first start get one effect each per rule
/// that takes snapshots (and none for a rule that says `snapshot: false`, or
/// whose filter they miss); a change after the start follows as usual.
#[tokio::test]
async fn existing_documents_reach_their_rules_once_then_changes_follow() {
    let t = Target::any("snapshot_first_start").await;
    let dir = tempfile::tempdir().unwrap();
    let c = coll(&t, "d", "c").await;
    for (id, v) in [(1, "pending"), (2, "done"), (3, "pending")] {
        c.insert_one(doc! {"_id": id, "v": v}).await.unwrap();
    }
    let target = t.ns("d.c");
    let rules_dir = rules(
        dir.path(),
        &[
            (
                "pending",
                &seen_rule(
                    &target,
                    "\"insert\"",
                    ", filter: #{ \"fullDocument.v\": \"pending\" }",
                ),
            ),
            (
                "live_only",
                &seen_rule(&target, "\"insert\"", ", snapshot: false"),
            ),
        ],
    );
    let (recorder, running) = launch_with(&t, &rules_dir, dir.path(), 1, snapshot_options()).await;
    recorder
        .wait_for("the snapshot's two pending documents", |s| s.len() == 2)
        .await;
    c.insert_one(doc! {"_id": 4, "v": "pending"}).await.unwrap();
    let seen = recorder
        .wait_for("the insert after the start", |s| s.len() == 4)
        .await;
    let run = running.stop().await.unwrap();
    assert_eq!(recorder.all(), seen, "nothing more after");
    let mut got = summary(&seen);
    got.sort_by_key(|(rule, args)| (rule.clone(), args.get_i32("id").unwrap()));
    assert_eq!(
        got,
        [
            (
                "live_only".into(),
                doc! {"op": "insert", "id": 4, "v": "pending", "snapshot": false}
            ),
            (
                "pending".into(),
                doc! {"op": "insert", "id": 1, "v": "pending", "snapshot": true}
            ),
            (
                "pending".into(),
                doc! {"op": "insert", "id": 3, "v": "pending", "snapshot": true}
            ),
            (
                "pending".into(),
                doc! {"op": "insert", "id": 4, "v": "pending", "snapshot": false}
            ),
        ]
    );
    assert_eq!((run.effects, run.dead_lettered), (4, 0), "{run:?}");
}

/// A rule on every change of `target`, saying what it saw.
fn every_change(target: &str) -> String {
    format!(
        "const RULE = #{{ watch: \"{target}\", on: [\"insert\", \"update\", \"replace\", \"delete\"] }};\nfn handle(event) {{ notify(\"out\", #{{ op: event.operationType, id: event.documentKey._id, v: event.fullDocument?.v ?? event.updateDescription?.updatedFields?.v, snapshot: event.snapshot }}); }}\n"
    )
}

fn sorted(seen: &[Seen]) -> Vec<Document> {
    let mut args: Vec<Document> = seen.iter().map(|s| s.args.clone()).collect();
    args.sort_by_key(|a| {
        (
            a.get_bool("snapshot").unwrap(),
            a.get_i32("id").unwrap(),
            a.get_str("op").unwrap().to_owned(),
        )
    });
    args
}

/// Writes made while the snapshot is being read (the engine holds it back)
/// are neither lost nor doubled: the read shows each document as of the
/// snapshot's time, and the changes after it come from the stream.
#[tokio::test]
async fn writes_during_the_read_are_neither_lost_nor_doubled() {
    let t = Target::any("snapshot_concurrent_writes").await;
    let dir = tempfile::tempdir().unwrap();
    let c = coll(&t, "d", "c").await;
    for id in 1..=6 {
        c.insert_one(doc! {"_id": id, "v": 0}).await.unwrap();
    }
    let rules_dir = rules(dir.path(), &[("all", &every_change(&t.ns("d.c")))]);
    let recorder = Recorder::gated(2);
    let running = start_tight(&t, &rules_dir, &dir.path().join("store"), &recorder).await;
    recorder
        .wait_for("the first two documents", |s| s.len() == 2)
        .await;
    // The read has started (at a time before these writes) and is held back.
    c.update_one(doc! {"_id": 5}, doc! {"$set": {"v": 1}})
        .await
        .unwrap();
    c.delete_one(doc! {"_id": 6}).await.unwrap();
    c.insert_one(doc! {"_id": 0, "v": 0}).await.unwrap();
    c.update_one(doc! {"_id": 1}, doc! {"$set": {"v": 1}})
        .await
        .unwrap();
    recorder.release(1_000);
    let seen = recorder
        .wait_for("six documents and four changes", |s| s.len() == 10)
        .await;
    let run = running.stop().await.unwrap();
    assert_eq!(recorder.all(), seen, "nothing more after");
    let mut expected: Vec<Document> = (1..=6)
        .map(|id| doc! {"op": "insert", "id": id, "v": 0, "snapshot": true})
        .collect();
    expected.extend([
        doc! {"op": "insert", "id": 0, "v": 0, "snapshot": false},
        doc! {"op": "update", "id": 1, "v": 1, "snapshot": false},
        doc! {"op": "update", "id": 5, "v": 1, "snapshot": false},
        doc! {"op": "delete", "id": 6, "v": bson::Bson::Null, "snapshot": false},
    ]);
    let mut want = expected.clone();
    want.sort_by_key(|a| {
        (
            a.get_bool("snapshot").unwrap(),
            a.get_i32("id").unwrap(),
            a.get_str("op").unwrap().to_owned(),
        )
    });
    assert_eq!(sorted(&seen), want);
    assert_eq!((run.effects, run.snapshot_overlap), (10, 0), "{run:?}");
}

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
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let at = running.store.checkpoint(&stream).unwrap();
        if at.as_ref().and_then(|p| p.snapshot_after()) == Some(bson::Bson::Int32(3)) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "checkpoint {at:?}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
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
    want.sort_by_key(|a| {
        (
            a.get_bool("snapshot").unwrap(),
            a.get_i32("id").unwrap(),
            a.get_str("op").unwrap().to_owned(),
        )
    });
    assert_eq!(sorted(&all), want);
    let keys: std::collections::HashSet<&String> = all.iter().map(|s| &s.key).collect();
    assert_eq!(keys.len(), 7, "every effect has its own key");
}

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
    let client = mongodb::Client::with_uri_str(t.uri()).await.unwrap();
    client
        .database("admin")
        .run_command(doc! {
            "configureFailPoint": "failCommand",
            "mode": {"times": 1},
            "data": {"failCommands": ["aggregate"], "errorCode": 239},
        })
        .await
        .unwrap();
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
    want.sort_by_key(|a| {
        (
            a.get_bool("snapshot").unwrap(),
            a.get_i32("id").unwrap(),
            a.get_str("op").unwrap().to_owned(),
        )
    });
    assert_eq!(sorted(&seen), want);
    assert_eq!((run.effects, run.snapshot_overlap), (6, 1), "{run:?}");
    let info = store
        .info(&format!("{}{stream}", herald_engine::SNAPSHOT_OVERLAP_INFO))
        .unwrap()
        .expect("the overlap is recorded");
    assert_eq!(info["changes"], 1, "{info}");
    assert!(info["reason"].as_str().unwrap().contains("239"), "{info}");
}

/// A target's `stages` apply to its snapshot events as to its changes: a
/// field a stage removes never reaches the rules.
#[tokio::test]
async fn stages_apply_to_snapshot_events() {
    let t = Target::any("snapshot_stages").await;
    let dir = tempfile::tempdir().unwrap();
    let c = coll(&t, "d", "c").await;
    c.insert_one(doc! {"_id": 1, "v": 0, "card": "4111"})
        .await
        .unwrap();
    let target = t.ns("d.c");
    let rule = format!(
        "const RULE = #{{ watch: \"{target}\", on: [\"insert\"] }};\nfn handle(event) {{ notify(\"out\", #{{ id: event.documentKey._id, card: event.fullDocument?.card, snapshot: event.snapshot }}); }}\n"
    );
    let rules_dir = rules(dir.path(), &[("cards", &rule)]);
    let mut options = snapshot_options();
    options.stages.insert(
        target.parse().unwrap(),
        // Removing `snapshot` does not hide what a snapshot's event is.
        vec![doc! {"$unset": ["fullDocument.card", "snapshot"]}],
    );
    let recorder = Recorder::default();
    let running = start_configured(
        &t,
        &rules_dir,
        &dir.path().join("store"),
        &recorder,
        options,
        TIGHT,
    )
    .await;
    recorder.wait_for("the snapshot", |s| s.len() == 1).await;
    c.insert_one(doc! {"_id": 2, "v": 0, "card": "5500"})
        .await
        .unwrap();
    let seen = recorder.wait_for("the insert", |s| s.len() == 2).await;
    running.stop().await.unwrap();
    let mut got: Vec<Document> = seen.iter().map(|s| s.args.clone()).collect();
    got.sort_by_key(|d| d.get_i32("id").unwrap());
    assert_eq!(
        got,
        [
            doc! {"id": 1, "card": bson::Bson::Null, "snapshot": true},
            doc! {"id": 2, "card": bson::Bson::Null, "snapshot": false},
        ]
    );
}

/// Waits (up to 15 s) until `stream`'s checkpoint satisfies `done`.
async fn until_checkpoint(
    running: &Running,
    stream: &str,
    done: impl Fn(Option<&herald_core::Position>) -> bool,
) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let at = running.store.checkpoint(stream).unwrap();
        if done(at.as_ref()) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "checkpoint {at:?}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
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

fn sorted_docs(mut docs: Vec<Document>) -> Vec<Document> {
    docs.sort_by_key(|a| {
        (
            a.get_bool("snapshot").unwrap(),
            a.get_i32("id").unwrap(),
            a.get_str("op").unwrap().to_owned(),
        )
    });
    docs
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

/// A database target's snapshot reads each of its collections; a rule on
/// one of them with its own snapshot gets that collection's documents, and
/// the database's rule gets every document once (not once per target).
#[tokio::test]
async fn a_database_snapshot_reads_every_collection_once_per_target() {
    let t = Target::any("snapshot_database").await;
    let dir = tempfile::tempdir().unwrap();
    let a = coll(&t, "d", "a").await;
    let b = coll(&t, "d", "b").await;
    a.insert_one(doc! {"_id": 1, "v": 0}).await.unwrap();
    b.insert_one(doc! {"_id": 2, "v": 0}).await.unwrap();
    b.insert_one(doc! {"_id": 3, "v": 0}).await.unwrap();
    let rules_dir = rules(
        dir.path(),
        &[
            ("whole", &every_change(&t.ns("d"))),
            ("only_b", &every_change(&t.ns("d.b"))),
        ],
    );
    let recorder = Recorder::default();
    let running = start_tight(&t, &rules_dir, &dir.path().join("store"), &recorder).await;
    let seen = recorder.wait_for("the snapshots", |s| s.len() == 5).await;
    running.stop().await.unwrap();
    assert_eq!(
        by_rule(&seen),
        [
            ("only_b".into(), 2, true),
            ("only_b".into(), 3, true),
            ("whole".into(), 1, true),
            ("whole".into(), 2, true),
            ("whole".into(), 3, true),
        ]
    );
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
    // A later write takes the stream past the read's window.
    let overlap = format!("{}{stream}", herald_engine::SNAPSHOT_OVERLAP_INFO);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut n = 10;
    while store.info(&overlap).unwrap().is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no overlap recorded"
        );
        other.insert_one(doc! {"_id": n}).await.unwrap();
        n += 1;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let run = running.stop().await.unwrap();
    let ids: std::collections::BTreeSet<i32> = recorder
        .all()
        .iter()
        .map(|s| s.args.get_i32("id").unwrap())
        .collect();
    assert_eq!(ids.len(), 20);
    assert_eq!((run.effects, run.snapshot_overlap), (20, 0), "{run:?}");
    let info = store.info(&overlap).unwrap().unwrap();
    assert!(info["reason"].as_str().unwrap().contains("239"), "{info}");
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

/// A cluster snapshot reads every database's collections but the server's own.
#[tokio::test]
async fn a_cluster_snapshot_reads_every_database() {
    let t = Target::sim(mongosim::MongoSim::builder().start().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    coll(&t, "app", "a")
        .await
        .insert_one(doc! {"_id": 1, "v": 0})
        .await
        .unwrap();
    coll(&t, "app-x", "b")
        .await
        .insert_one(doc! {"_id": 2, "v": 0})
        .await
        .unwrap();
    coll(&t, "admin", "kept")
        .await
        .insert_one(doc! {"_id": 3, "v": 0})
        .await
        .unwrap();
    let rules_dir = rules(dir.path(), &[("all", &every_change("*"))]);
    let recorder = Recorder::default();
    let running = start_tight(&t, &rules_dir, &dir.path().join("store"), &recorder).await;
    recorder.wait_for("both documents", |s| s.len() == 2).await;
    coll(&t, "app", "a")
        .await
        .insert_one(doc! {"_id": 4, "v": 0})
        .await
        .unwrap();
    let seen = recorder.wait_for("the change", |s| s.len() == 3).await;
    running.stop().await.unwrap();
    let want = vec![
        doc! {"op": "insert", "id": 1, "v": 0, "snapshot": true},
        doc! {"op": "insert", "id": 2, "v": 0, "snapshot": true},
        doc! {"op": "insert", "id": 4, "v": 0, "snapshot": false},
    ];
    assert_eq!(sorted(&seen), sorted_docs(want));
}

/// A database snapshot would read a collection with stages of its own
/// without them: herald refuses to start, and says so.
#[tokio::test]
async fn a_database_snapshot_over_a_staged_collection_is_refused() {
    let t = Target::any("snapshot_staged").await;
    let dir = tempfile::tempdir().unwrap();
    let staged = t.ns("d.cards");
    let rules_dir = rules(dir.path(), &[("all", &every_change(&t.ns("d")))]);
    let mut options = snapshot_options();
    options.stages.insert(
        staged.parse().unwrap(),
        vec![doc! {"$unset": "fullDocument.card"}],
    );
    let recorder = Recorder::default();
    let running = start_configured(
        &t,
        &rules_dir,
        &dir.path().join("store"),
        &recorder,
        options,
        TIGHT,
    )
    .await;
    let err = running.finished().await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("would read {staged} without its stages")),
        "{err}"
    );
}

/// (rule, document id, snapshot?) of each effect, sorted.
fn by_rule(seen: &[Seen]) -> Vec<(String, i32, bool)> {
    let mut got: Vec<(String, i32, bool)> = seen
        .iter()
        .map(|s| {
            (
                s.rule.clone(),
                s.args.get_i32("id").unwrap(),
                s.args.get_bool("snapshot").unwrap(),
            )
        })
        .collect();
    got.sort();
    got
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
    let client = mongodb::Client::with_uri_str(t.uri()).await.unwrap();
    client
        .database("admin")
        .run_command(doc! {
            "configureFailPoint": "failCommand",
            "mode": {"times": 1},
            "data": {"failCommands": ["aggregate"], "errorCode": 246},
        })
        .await
        .unwrap();
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
    let overlap = format!("{}mongodb:d", herald_engine::SNAPSHOT_OVERLAP_INFO);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut n = 0;
    while store.info(&overlap).unwrap().is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no overlap recorded"
        );
        coll(&t, "elsewhere", "x")
            .await
            .insert_one(doc! {"_id": n})
            .await
            .unwrap();
        n += 1;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let run = running.stop().await.unwrap();
    let mut want: Vec<Document> = (1..=9)
        .map(|id| doc! {"op": "insert", "id": id, "v": 0, "snapshot": true})
        .collect();
    want.push(doc! {"op": "insert", "id": 10, "v": 0, "snapshot": true});
    want.push(doc! {"op": "update", "id": 10, "v": 1, "snapshot": false});
    assert_eq!(sorted(&recorder.all()), sorted_docs(want));
    assert_eq!(run.snapshot_overlap, 1, "{run:?}");
}
