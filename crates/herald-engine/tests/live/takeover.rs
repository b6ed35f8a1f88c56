//! When the streams covering the rules change, nothing is lost and nothing
//! is done again: streams start where the last plan's streams stood, each
//! rule after the checkpoint of the stream that served it, a new rule from
//! now, and stale checkpoints are dropped.

use crate::harness::*;
use bson::doc;
use futures_util::StreamExt;
use herald_core::Position;
use herald_ingest::mongo::{MongoSourceOptions, StartAt};

/// Starts at `now`: without a take-over, a new stream would miss what came before.
fn from_now() -> MongoSourceOptions {
    MongoSourceOptions {
        start_at: StartAt::Now,
        ..quick_options()
    }
}

/// The `_id`s seen by `rule`, sorted.
fn ids(seen: &[Seen], rule: &str) -> Vec<i32> {
    let mut ids: Vec<i32> = seen
        .iter()
        .filter(|s| s.rule == rule)
        .map(|s| s.args.get_i32("id").unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

/// The resume tokens of the next `n` events in database `db`, from `since`.
async fn tokens(
    t: &Target,
    db: &str,
    since: bson::Timestamp,
    n: usize,
) -> Vec<(Position, bson::Timestamp)> {
    let client = mongodb::Client::with_uri_str(t.uri()).await.unwrap();
    let mut stream = client
        .database(&t.ns(db))
        .watch()
        .start_at_operation_time(since)
        .await
        .unwrap()
        .with_type::<bson::RawDocumentBuf>();
    let mut out = Vec::new();
    while out.len() < n {
        let raw = stream.next().await.unwrap().unwrap();
        let event = herald_core::ChangeEvent::from_raw(raw).unwrap();
        out.push((
            Position::Token {
                bytes: event.token().as_bytes().to_vec(),
            },
            event.cluster_time().unwrap(),
        ));
    }
    out
}

fn checkpoint(position: &Position, time: bson::Timestamp) -> herald_store::Checkpoint {
    let mut c = herald_store::Checkpoint::new(position.clone());
    c.cluster_time = Some([time.time, time.increment]);
    c
}

/// Now, as an operation time a second in the past (to catch what follows).
fn a_second_ago() -> bson::Timestamp {
    match quick_options().start_at {
        StartAt::OperationTime(t) => t,
        StartAt::Now | StartAt::Snapshot => unreachable!(),
    }
}

/// A first run with a rule on `d.c` sees inserts 1..=3 and stops; 4..=6 are
/// written while herald is down, and a rule on the database `d` joins.
/// Returns the directory, the rules, the collection and the first run's effects.
async fn a_database_rule_joins(
    t: &Target,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    mongodb::Collection<bson::Document>,
    Recorder,
) {
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[("coll", &rule(&t.ns("d.c"), "\"insert\"", ""))],
    );
    let c = coll(t, "d", "c").await;
    let (recorder, running) = launch(t, &rules_dir, dir.path(), 1).await;
    for i in 1..=3 {
        c.insert_one(doc! {"_id": i}).await.unwrap();
    }
    recorder.wait_for("3 effects", |s| s.len() >= 3).await;
    let store = running.store.clone();
    running.stop().await.unwrap();
    assert!(
        store
            .checkpoint(&format!("mongodb:{}", t.ns("d.c")))
            .unwrap()
            .is_some()
    );
    drop(store);
    for i in 4..=6 {
        c.insert_one(doc! {"_id": i}).await.unwrap();
    }
    rules(dir.path(), &[("db", &rule(&t.ns("d"), "\"insert\"", ""))]);
    (dir, rules_dir, c, recorder)
}

/// A rule on the database is added beside one on its collection: the new
/// database stream starts where the collection's stream stood, so the events
/// written while herald was down reach the collection's rule, once each; the
/// new rule starts now.
#[tokio::test]
async fn a_new_covering_stream_takes_over_the_old_checkpoint() {
    let t = Target::any("take_over").await;
    let (dir, rules_dir, c, recorder) = a_database_rule_joins(&t).await;
    let old = format!("mongodb:{}", t.ns("d.c"));
    let recorder2 = Recorder::default();
    let store_dir = dir.path().join("store");
    let running = start(&t, &rules_dir, &store_dir, &recorder2, from_now()).await;
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
    let all: Vec<Seen> = recorder.all().into_iter().chain(recorder2.all()).collect();
    assert_eq!(
        ids(&all, "coll"),
        (1..=7).collect::<Vec<_>>(),
        "each event once, none lost"
    );
    assert_eq!(
        ids(&all, "db"),
        [7],
        "a new rule starts now, not at the old checkpoint"
    );
    let new = format!("mongodb:{}", t.ns("d"));
    assert!(store.checkpoint(&new).unwrap().is_some());
    assert_eq!(
        store.checkpoint(&old).unwrap(),
        None,
        "the old stream's checkpoint is removed once the new one has its own"
    );
}

/// A store from before plans were recorded, with a stream per target: the
/// collection's stream stood at event 2, the database's at event 4. The one
/// database stream now starts at the earlier, and each rule takes only the
/// events after its own old stream's checkpoint.
#[tokio::test]
async fn merged_streams_start_at_the_earliest_and_each_rule_after_its_own() {
    let t = Target::any("merge_own").await;
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[
            ("coll", &rule(&t.ns("d.c"), "\"insert\"", "")),
            ("db", &rule(&t.ns("d"), "\"insert\"", "")),
        ],
    );
    let since = a_second_ago();
    let c = coll(&t, "d", "c").await;
    for i in 1..=6 {
        c.insert_one(doc! {"_id": i}).await.unwrap();
    }
    let events = tokens(&t, "d", since, 6).await;
    {
        // What the earlier herald left: checkpoints, and the marks of the
        // events at them (completed, like every event before them).
        let store = herald_store::Store::open(dir.path().join("store")).unwrap();
        let mut commit = store.begin();
        let (at2, time2) = &events[1];
        let (at4, time4) = &events[3];
        commit.checkpoint_at(
            &format!("mongodb:{}", t.ns("d.c")),
            &checkpoint(at2, *time2),
        );
        commit.checkpoint_at(&format!("mongodb:{}", t.ns("d")), &checkpoint(at4, *time4));
        let token = |p: &Position| match p {
            Position::Token { bytes } => bytes.clone(),
            Position::File { .. } | Position::Snapshot { .. } | Position::SnapshotDone { .. } => {
                unreachable!()
            }
        };
        commit.mark_done("coll", &token(at2));
        commit.mark_done("db", &token(at4));
        store.commit(commit).unwrap();
    }
    let (recorder, running) = launch_with(&t, &rules_dir, dir.path(), 1, from_now()).await;
    recorder
        .wait_for("coll's 3..=6 and db's 5..=6", |s| s.len() >= 6)
        .await;
    c.insert_one(doc! {"_id": 7}).await.unwrap();
    recorder
        .wait_for("event 7 for both rules", |s| {
            s.iter().filter(|e| e.args.get_i32("id") == Ok(7)).count() >= 2
        })
        .await;
    let store = running.store.clone();
    running.stop().await.unwrap();
    let seen = recorder.all();
    assert_eq!(ids(&seen, "coll"), [3, 4, 5, 6, 7]);
    assert_eq!(ids(&seen, "db"), [5, 6, 7]);
    assert_eq!(
        store
            .checkpoint(&format!("mongodb:{}", t.ns("d.c")))
            .unwrap(),
        None
    );
}

/// A checkpoint of a stream that served no rule in the last run (its rule was
/// removed since) is stale: a new cluster stream does not start there (the
/// oplog no longer reaches back to it, so starting there would fail), and it
/// is dropped.
#[tokio::test]
async fn a_stale_checkpoint_is_not_taken_over() {
    let t = Target::sim(
        mongosim::MongoSim::builder()
            .oplog_capacity(40)
            .start()
            .await
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let since = a_second_ago();
    let returns = coll(&t, "shop", "returns").await;
    returns.insert_one(doc! {"_id": 100}).await.unwrap();
    let stale = tokens(&t, "shop", since, 1).await.remove(0);
    // Enough writes that the stale event leaves the capped oplog.
    let filler = coll(&t, "shop", "filler").await;
    filler
        .insert_many((0..60).map(|i| doc! {"_id": i}))
        .await
        .unwrap();
    let rules_dir = rules(
        dir.path(),
        &[("coll", &rule(&t.ns("d.c"), "\"insert\"", ""))],
    );
    let c = coll(&t, "d", "c").await;
    let (recorder, running) = launch_with(&t, &rules_dir, dir.path(), 1, from_now()).await;
    c.insert_one(doc! {"_id": 1}).await.unwrap();
    recorder.wait_for("event 1", |s| !s.is_empty()).await;
    let store = running.store.clone();
    running.stop().await.unwrap();
    let stale_id = format!("mongodb:{}", t.ns("shop.returns"));
    let mut commit = store.begin();
    commit.checkpoint_at(&stale_id, &checkpoint(&stale.0, stale.1));
    store.commit(commit).unwrap();
    drop(store);

    // While herald is down; then a rule on the whole cluster joins.
    c.insert_one(doc! {"_id": 2}).await.unwrap();
    returns.insert_one(doc! {"_id": 101}).await.unwrap();
    let all = format!(
        "\"ns.db\": #{{ \"$in\": [\"{}\", \"{}\"] }}",
        t.ns("d"),
        t.ns("shop")
    );
    rules(dir.path(), &[("all", &rule("*", "\"insert\"", &all))]);
    let recorder2 = Recorder::default();
    let store_dir = dir.path().join("store");
    let running = start(&t, &rules_dir, &store_dir, &recorder2, from_now()).await;
    until_streams_open(&t, 1).await;
    recorder2
        .wait_for("event 2 for coll", |s| s.iter().any(|e| e.rule == "coll"))
        .await;
    c.insert_one(doc! {"_id": 3}).await.unwrap();
    recorder2
        .wait_for("event 3 for both rules", |s| {
            s.iter().filter(|e| e.args.get_i32("id") == Ok(3)).count() >= 2
        })
        .await;
    let store = running.store.clone();
    running.stop().await.unwrap();
    let seen = recorder2.all();
    assert_eq!(ids(&seen, "coll"), [2, 3]);
    assert_eq!(ids(&seen, "all"), [3], "the new rule starts now");
    assert_eq!(
        store.checkpoint(&stale_id).unwrap(),
        None,
        "the stale checkpoint is dropped"
    );
}

/// A channel whose deliveries never finish: the run that uses it is killed
/// before it can commit anything.
#[derive(Clone)]
struct Stuck;

impl herald_engine::effects::Channel for Stuck {
    fn send<'a>(
        &'a self,
        _effect: &'a herald_core::Effect,
    ) -> herald_engine::effects::BoxFuture<'a, Result<(), herald_engine::effects::EffectError>>
    {
        Box::pin(std::future::pending())
    }
}

/// The run that takes over is killed before its new stream commits: the
/// old checkpoint is gone (it was dropped when the plan was recorded), but the
/// plan carries each rule's progress, so the next run loses nothing and the
/// rule added in between still starts from when it was added.
#[tokio::test]
async fn a_take_over_survives_a_crash_before_the_first_commit() {
    let t = Target::any("take_over_crash").await;
    let (dir, rules_dir, c, _first) = a_database_rule_joins(&t).await;
    let store_dir = dir.path().join("store");
    {
        // Run 2: its deliveries never finish; it is killed holding events 4..=6.
        let client = mongodb::Client::with_uri_str(t.uri()).await.unwrap();
        let engine = herald_engine::Engine::builder()
            .rules_dir(&rules_dir)
            .store_path(&store_dir)
            .effect("out", Stuck)
            .build()
            .unwrap();
        let source = herald_ingest::mongo::MongoSource::new(
            client,
            herald_ingest::mongo::plan(&engine.subscriptions().unwrap()),
            from_now(),
        );
        let task = tokio::spawn(async move {
            engine
                .run(
                    source,
                    &mut herald_engine::Quiet,
                    std::future::pending::<()>(),
                )
                .await
        });
        until_streams_open(&t, 1).await;
        task.abort();
        let _ = task.await;
    }
    let recorder3 = Recorder::default();
    let running = start(&t, &rules_dir, &store_dir, &recorder3, from_now()).await;
    recorder3
        .wait_for("coll's 4..=6", |s| {
            s.iter().filter(|e| e.rule == "coll").count() >= 3
        })
        .await;
    c.insert_one(doc! {"_id": 7}).await.unwrap();
    recorder3
        .wait_for("event 7 for both rules", |s| {
            s.iter().filter(|e| e.args.get_i32("id") == Ok(7)).count() >= 2
        })
        .await;
    running.stop().await.unwrap();
    let seen = recorder3.all();
    assert_eq!(
        ids(&seen, "coll"),
        [4, 5, 6, 7],
        "nothing lost across the crash"
    );
    assert_eq!(
        ids(&seen, "db"),
        [7],
        "the rule added in run 2 starts from then"
    );
}

/// A file replay keeps its own checkpoint in a store that live runs use too.
#[tokio::test]
async fn a_replay_resumes_in_a_store_with_a_plan() {
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[("coll", &rule("shop.orders", "\"insert\"", ""))],
    );
    let store = herald_store::Store::open(dir.path().join("store")).unwrap();
    let mut commit = store.begin();
    commit.set_info(
        "plan",
        &serde_json::json!({"streams": {"mongodb:shop": ["coll"]}, "rules": {}}),
    );
    store.commit(commit).unwrap();
    let events = dir.path().join("events.jsonl");
    let line = |n: u32| {
        format!(
            r#"{{"_id":{{"_data":"{n:04}"}},"operationType":"insert","ns":{{"db":"shop","coll":"orders"}},"documentKey":{{"_id":{n}}},"fullDocument":{{"_id":{n}}}}}"#
        )
    };
    std::fs::write(&events, format!("{}\n{}\n", line(1), line(2))).unwrap();
    let recorder = Recorder::default();
    let engine = herald_engine::Engine::builder()
        .rules_dir(&rules_dir)
        .store(store)
        .effect("out", recorder.clone())
        .build()
        .unwrap();
    for expected in [2, 0] {
        let summary = engine
            .run(
                herald_ingest::FileSource::open(&events).unwrap(),
                &mut herald_engine::Quiet,
                std::future::pending::<()>(),
            )
            .await
            .unwrap();
        assert_eq!(
            summary.events, expected,
            "the second replay resumes past both lines"
        );
    }
    assert_eq!(recorder.all().len(), 2);
}

/// A rule moved to another target has no progress there: it starts from now,
/// not from the time its old target's stream stood at. (Another rule keeps
/// the new target's stream resuming from before, so the event written while
/// herald was down does arrive, and only the moved rule must skip it.)
#[tokio::test]
async fn a_rule_moved_to_another_target_starts_from_now() {
    let t = Target::any("moved_rule").await;
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[
            ("r", &rule(&t.ns("d.a"), "\"insert\"", "")),
            ("other", &rule(&t.ns("d.b"), "\"insert\"", "")),
        ],
    );
    let (a, b) = (coll(&t, "d", "a").await, coll(&t, "d", "b").await);
    let (recorder, running) = launch(&t, &rules_dir, dir.path(), 2).await;
    a.insert_one(doc! {"_id": 1}).await.unwrap();
    recorder.wait_for("event 1", |s| !s.is_empty()).await;
    running.stop().await.unwrap();
    // While herald is down; then the rule watches d.b instead.
    b.insert_one(doc! {"_id": 2}).await.unwrap();
    rules(dir.path(), &[("r", &rule(&t.ns("d.b"), "\"insert\"", ""))]);
    let recorder2 = Recorder::default();
    let store_dir = dir.path().join("store");
    let running = start(&t, &rules_dir, &store_dir, &recorder2, from_now()).await;
    recorder2
        .wait_for("event 2 for the other rule", |s| !s.is_empty())
        .await;
    b.insert_one(doc! {"_id": 3}).await.unwrap();
    recorder2
        .wait_for("event 3 for both", |s| {
            s.iter().filter(|e| e.args.get_i32("id") == Ok(3)).count() >= 2
        })
        .await;
    running.stop().await.unwrap();
    let seen = recorder2.all();
    assert_eq!(ids(&seen, "other"), [2, 3]);
    assert_eq!(ids(&seen, "r"), [3]);
}
