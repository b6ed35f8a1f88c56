//! Stopped targets: what a stop keeps, where a resumed target goes on from,
//! and which rules a stop reaches on every stream.

use crate::harness::*;
use bson::doc;
use herald_engine::stops::{self, ResumeFrom};
use herald_ingest::mongo::{InvalidatePolicy, MongoSourceOptions};
use herald_store::Store;
use mongosim::MongoSim;
use std::path::Path;
use std::time::Duration;

/// Waits (up to 15 s) until the store of a running engine records `target` as stopped.
async fn until_stopped(store: &Store, target: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !stops::stopped(store).unwrap().contains_key(target) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{target} never stopped"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The ids the rule `rule` was given, in order.
fn ids_of(recorder: &Recorder, rule: &str) -> Vec<i32> {
    recorder
        .all()
        .iter()
        .filter(|s| s.rule == rule)
        .filter_map(|s| s.args.get_i32("id").ok())
        .collect()
}

fn staged(t: &Target, ns: &str) -> MongoSourceOptions {
    let mut options = quick_options();
    options.stages.insert(
        t.ns(ns).parse().unwrap(),
        vec![doc! {"$unset": "fullDocument.card"}],
    );
    options
}

/// A typo in a stage passes the load check, and the server refuses it: the
/// target stops. Fixed and restarted, the target is still stopped, but its
/// checkpoint and its rule's progress are kept, so resuming it (by default
/// from where it stopped) delivers what happened while it was stopped.
#[tokio::test]
async fn a_target_stopped_by_an_error_resumes_where_it_stopped() {
    let t = Target::sim(MongoSim::builder().start().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let rules_dir = rules(
        dir.path(),
        &[
            ("a", &rule(&t.ns("d.c"), "\"insert\"", "")),
            ("b", &rule(&t.ns("e.c"), "\"insert\"", "")),
        ],
    );
    let recorder = Recorder::default();
    let c = coll(&t, "d", "c").await;
    let healthy = start(&t, &rules_dir, &store_dir, &recorder, quick_options()).await;
    until_streams_open(&t, 2).await;
    c.insert_one(doc! {"_id": 1}).await.unwrap();
    recorder.wait_for("insert 1", |s| s.len() == 1).await;
    healthy.stop().await.unwrap();

    let mut typo = quick_options();
    typo.stages.insert(
        t.ns("d.c").parse().unwrap(),
        vec![doc! {"$set": {"fullDocument.x": {"$toUpperr": "$a"}}}],
    );
    let failing = start(&t, &rules_dir, &store_dir, &recorder, typo).await;
    until_stopped(&failing.store, &t.ns("d.c")).await;
    c.insert_one(doc! {"_id": 2}).await.unwrap();
    let summary = failing.stop().await.unwrap();
    let reason = &summary.stream_failures[0];
    assert!(
        reason.contains("herald streams resume") && !reason.contains("restart herald"),
        "{reason}"
    );
    assert!(reason.contains("168"), "the server's code: {reason}");
    assert!(!reason.contains("raw"), "no raw reply: {reason}");

    // Fixed and restarted: still stopped, its checkpoint and progress kept.
    let fixed = start(&t, &rules_dir, &store_dir, &recorder, quick_options()).await;
    until_streams_open(&t, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    fixed.stop().await.unwrap();
    c.insert_one(doc! {"_id": 3}).await.unwrap();
    let store = Store::open(&store_dir).unwrap();
    assert!(stops::stopped(&store).unwrap().contains_key(&t.ns("d.c")));
    let checkpoints: Vec<String> = store
        .checkpoints()
        .unwrap()
        .into_iter()
        .map(|c| c.0)
        .collect();
    assert!(
        checkpoints.contains(&format!("mongodb:{}", t.ns("d.c"))),
        "{checkpoints:?}"
    );
    let plan = store.info("plan").unwrap().unwrap();
    assert!(plan["rules"].get("a").is_some(), "{plan}");

    stops::resume(
        &store,
        &t.ns("d.c").parse().unwrap(),
        ResumeFrom::Stop,
        false,
    )
    .unwrap();
    drop(store);
    let resumed = start(&t, &rules_dir, &store_dir, &recorder, quick_options()).await;
    until_streams_open(&t, 2).await;
    c.insert_one(doc! {"_id": 4}).await.unwrap();
    recorder
        .wait_for("insert 4", |_| ids_of(&recorder, "a").contains(&4))
        .await;
    resumed.stop().await.unwrap();
    // Each once; 2, 3 and 4 (other documents) may run in parallel.
    let mut ids = ids_of(&recorder, "a");
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3, 4]);
}

/// Resuming a target that is not stopped is refused: its rules keep their
/// progress, and the backlog is delivered.
#[tokio::test]
async fn resuming_a_target_that_is_not_stopped_is_refused() {
    let t = Target::any("resume_running").await;
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let rules_dir = rules(dir.path(), &[("a", &rule(&t.ns("d.c"), "\"insert\"", ""))]);
    let (recorder, running) = launch(&t, &rules_dir, dir.path(), 1).await;
    let c = coll(&t, "d", "c").await;
    c.insert_one(doc! {"_id": 1}).await.unwrap();
    recorder.wait_for("insert 1", |s| s.len() == 1).await;
    running.stop().await.unwrap();
    c.insert_one(doc! {"_id": 2}).await.unwrap();

    let store = Store::open(&store_dir).unwrap();
    let refused = stops::resume(
        &store,
        &t.ns("d.c").parse().unwrap(),
        ResumeFrom::Now,
        false,
    );
    assert!(refused.is_err(), "{refused:?}");
    drop(store);
    let again = start(&t, &rules_dir, &store_dir, &recorder, quick_options()).await;
    recorder.wait_for("the backlog", |s| s.len() == 2).await;
    again.stop().await.unwrap();
    assert_eq!(ids_of(&recorder, "a"), [1, 2]);
}

/// A stream that stops whole (here: its database dropped, policy "stop")
/// stops its targets' rules for every stream, in this run as after a
/// restart: a staged collection stream that follows its re-created
/// collection no longer brings them its events.
#[tokio::test]
async fn a_stream_that_stops_stops_its_rules_on_every_stream() {
    let t = Target::sim(MongoSim::builder().start().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[("shop", &rule(&t.ns("shop"), "\"insert\"", ""))],
    );
    let mut options = staged(&t, "shop.orders");
    options.on_invalidate_for.insert(
        t.ns("shop.orders").parse().unwrap(),
        InvalidatePolicy::Restart,
    );
    let (recorder, running) = launch_with(&t, &rules_dir, dir.path(), 2, options).await;
    let orders = coll(&t, "shop", "orders").await;
    orders.insert_one(doc! {"_id": 1}).await.unwrap();
    recorder.wait_for("insert 1", |s| s.len() == 1).await;
    orders
        .client()
        .database(&t.ns("shop"))
        .drop()
        .await
        .unwrap();
    until_stopped(&running.store, &t.ns("shop")).await;
    until_streams_open(&t, 1).await;
    orders.insert_one(doc! {"_id": 2}).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.stop().await.unwrap();
    assert_eq!(ids_of(&recorder, "shop"), [1]);
}

/// The events of the rule on `*` in `shop`: inserts 1 (shop.orders), a drop
/// and re-creation of shop.orders with 2, then 3 (shop.other); with `narrow`,
/// also a rule on shop.orders, which the drop stops.
async fn wider_rule_across_a_drop(
    t: &Target,
    options: MongoSourceOptions,
    narrow: bool,
    dir: &Path,
) -> (Vec<i32>, Vec<i32>, Vec<String>) {
    let all = format!(
        "const RULE = #{{ watch: \"*\", on: [\"insert\"], filter: #{{ \"ns.db\": \"{}\" }} }};\nfn handle(event) {{ notify(\"out\", #{{ id: event.documentKey._id }}); }}\n",
        t.ns("shop")
    );
    let orders_rule = rule(&t.ns("shop.orders"), "\"insert\"", "");
    let mut list: Vec<(&str, &str)> = vec![("all", &all)];
    if narrow {
        list.push(("orders", &orders_rule));
    }
    let rules_dir = rules(dir, &list);
    let streams = if options.stages.is_empty() { 1 } else { 2 };
    let (recorder, running) = launch_with(t, &rules_dir, dir, streams, options).await;
    let orders = coll(t, "shop", "orders").await;
    orders.insert_one(doc! {"_id": 1}).await.unwrap();
    recorder
        .wait_for("insert 1", |_| ids_of(&recorder, "all") == [1])
        .await;
    orders.drop().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    orders.insert_one(doc! {"_id": 2}).await.unwrap();
    coll(t, "shop", "other")
        .await
        .insert_one(doc! {"_id": 3})
        .await
        .unwrap();
    let _ = tokio::time::timeout(
        Duration::from_secs(3),
        recorder.wait_for("3 events", |_| ids_of(&recorder, "all").len() >= 3),
    )
    .await;
    running.stop().await.unwrap();
    let store = Store::open(dir.join("store")).unwrap();
    let stopped = stops::stopped(&store).unwrap().into_keys().collect();
    let mut all_ids = ids_of(&recorder, "all");
    all_ids.sort();
    (all_ids, ids_of(&recorder, "orders"), stopped)
}

/// A staged collection stream that carries a wider rule's events follows a
/// drop and re-creation for that rule, as the wider rule's own stream would;
/// only its own narrow targets with policy "stop" stop.
#[tokio::test]
async fn a_staged_stream_follows_a_drop_for_wider_rules() {
    for narrow in [false, true] {
        let t = Target::sim(MongoSim::builder().start().await.unwrap());
        let plain_dir = tempfile::tempdir().unwrap();
        let plain = wider_rule_across_a_drop(&t, quick_options(), narrow, plain_dir.path()).await;
        let t = Target::sim(MongoSim::builder().start().await.unwrap());
        let staged_dir = tempfile::tempdir().unwrap();
        let with_stages =
            wider_rule_across_a_drop(&t, staged(&t, "shop.orders"), narrow, staged_dir.path())
                .await;
        assert_eq!(plain.0, [1, 2, 3], "narrow = {narrow}");
        assert_eq!(with_stages, plain, "narrow = {narrow}");
    }
}

/// A drop that stops a target hands on its stop in the same batch, after
/// the drop and before the batch's end position: the engine commits the
/// stop no later than the checkpoint past the drop, so a crash between the
/// two cannot lose the stop.
#[tokio::test]
async fn a_stop_travels_in_the_batch_of_the_event_that_causes_it() {
    use herald_core::{FullDocument, FullDocumentBeforeChange, OperationType};
    use herald_ingest::{Source, StreamNotice};
    let t = Target::sim(MongoSim::builder().start().await.unwrap());
    let sub = |rule: &str, target: &str| herald_ingest::mongo::Subscription {
        rule: rule.into(),
        target: t.ns(target).parse().unwrap(),
        on: vec![OperationType::Insert],
        filter: doc! {},
        full_document: FullDocument::Default,
        before_change: FullDocumentBeforeChange::Off,
        snapshot: true,
    };
    let plans = herald_ingest::mongo::plan(&[sub("db", "d"), sub("coll", "d.c")]);
    let client = mongodb::Client::with_uri_str(t.uri()).await.unwrap();
    let mut source = herald_ingest::mongo::MongoSource::new(client, plans, quick_options());
    let c = coll(&t, "d", "c").await;
    c.insert_one(doc! {"_id": 1}).await.unwrap();
    c.drop().await.unwrap();
    loop {
        let batch = tokio::time::timeout(Duration::from_secs(15), source.next_batch())
            .await
            .expect("a batch with the drop")
            .unwrap()
            .expect("the stream goes on");
        let dropped = batch
            .events
            .iter()
            .any(|e| e.event.operation_type() == &OperationType::Drop);
        if dropped {
            assert!(
                matches!(&batch.notices[..], [StreamNotice::TargetStopped { target, .. }] if target.to_string() == t.ns("d.c")),
                "{:?}",
                batch.notices
            );
            assert!(batch.end.is_some());
            break;
        }
        assert!(batch.notices.is_empty(), "{:?}", batch.notices);
    }
}

/// A target stopped by a drop, resumed from where it stopped, follows the
/// re-created collection from the drop on: what was inserted while it was
/// stopped arrives, nothing before the drop comes again. Under its own
/// collection stream (invalidated) and under a database stream alike.
#[tokio::test]
async fn a_dropped_target_resumed_from_its_stop_gets_what_came_after_the_drop() {
    for under_db in [false, true] {
        let t = Target::sim(MongoSim::builder().start().await.unwrap());
        let dir = tempfile::tempdir().unwrap();
        let store_dir = dir.path().join("store");
        let mut list = vec![("coll", rule(&t.ns("d.c"), "\"insert\", \"drop\"", ""))];
        if under_db {
            list.push(("db", rule(&t.ns("d"), "\"insert\"", "")));
        }
        let list: Vec<(&str, &str)> = list.iter().map(|(n, r)| (*n, r.as_str())).collect();
        let rules_dir = rules(dir.path(), &list);
        let (recorder, running) = launch(&t, &rules_dir, dir.path(), 1).await;
        let c = coll(&t, "d", "c").await;
        c.insert_one(doc! {"_id": 1}).await.unwrap();
        c.drop().await.unwrap();
        until_stopped(&running.store, &t.ns("d.c")).await;
        c.insert_one(doc! {"_id": 2}).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        running.stop().await.unwrap();

        let store = Store::open(&store_dir).unwrap();
        stops::resume(
            &store,
            &t.ns("d.c").parse().unwrap(),
            ResumeFrom::Stop,
            false,
        )
        .unwrap();
        drop(store);
        let resumed = start(&t, &rules_dir, &store_dir, &recorder, quick_options()).await;
        until_streams_open(&t, 1).await;
        c.insert_one(doc! {"_id": 3}).await.unwrap();
        recorder
            .wait_for("insert 3", |_| ids_of(&recorder, "coll").contains(&3))
            .await;
        resumed.stop().await.unwrap();
        // The drop has no document key: it runs beside insert 1, in either
        // order (cross-document order is not promised), and once.
        let mut ops: Vec<String> = recorder
            .all()
            .iter()
            .filter(|s| s.rule == "coll")
            .map(|s| s.args.get_str("op").unwrap().to_owned())
            .collect();
        ops.sort_unstable();
        assert_eq!(
            ops,
            ["drop", "insert", "insert", "insert"],
            "under_db = {under_db}"
        );
        // 2 and 3 are other documents, which may run in parallel.
        let mut ids = ids_of(&recorder, "coll");
        ids[1..].sort_unstable();
        assert_eq!(ids, [1, 2, 3], "under_db = {under_db}");
    }
}
