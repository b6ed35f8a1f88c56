//! A target's first start: each document once, to the right rules.

use super::*;

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
    assert_eq!(sorted(&seen), sorted_docs(expected));
    assert_eq!((run.effects, run.snapshot_overlap), (10, 0), "{run:?}");
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
