//! The engine end to end on event files: effects, retries, dead letters, dedupe.

mod support;

use bson::doc;
use herald_core::{IdempotencyKey, Position};
use herald_engine::{Config, Engine, Quiet, RunOptions, RunSummary};
use herald_ingest::FileSource;
use herald_store::Store;
use std::path::Path;
use support::{Keys, STATEFUL_RULE, write_inserts, write_rule};
use wiremock::matchers::{header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WEBHOOK_RULE: &str = r#"
const RULE = #{ watch: "shop.orders", on: ["insert"], filter: #{ "fullDocument.total": #{ "$gte": 20 } } };
fn handle(event) { webhook("crm", #{ order: event.documentKey._id, total: event.fullDocument.total }); }
"#;

async fn run(engine: &Engine, events: &Path) -> RunSummary {
    let source = FileSource::open(events).unwrap();
    engine
        .run(source, &mut Quiet, std::future::pending::<()>())
        .await
        .unwrap()
}

fn fast_retries(url: &str) -> Config {
    Config::parse(&format!(
        "[webhooks.crm]\nurl = \"{url}/hook\"\ntimeout_ms = 2000\n[retry]\nmax_attempts = 3\ninitial_backoff_ms = 1\nmax_backoff_ms = 2\n"
    ))
    .unwrap()
}

#[tokio::test]
async fn webhooks_carry_the_idempotency_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(header_exists("Idempotency-Key"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    write_rule(dir.path(), "crm", WEBHOOK_RULE);
    let events = dir.path().join("events.jsonl");
    write_inserts(&events, 3);
    let engine = Engine::builder()
        .rules_dir(dir.path())
        .config(fast_retries(&server.uri()))
        .build()
        .unwrap();
    let summary = run(&engine, &events).await;
    assert_eq!(
        (
            summary.events,
            summary.matched,
            summary.effects,
            summary.dead_lettered
        ),
        (3, 2, 2, 0)
    );

    let mut requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    // Different documents run in parallel: take the requests in order of their body.
    let order_of = |r: &wiremock::Request| {
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["order"].as_i64()
    };
    requests.sort_by_key(order_of);
    for (request, order) in requests.iter().zip([2, 3]) {
        let token = herald_core::ResumeToken::new(bson::RawBson::Document(
            bson::RawDocumentBuf::from_document(&doc! {"_data": format!("{order:06}")}).unwrap(),
        ));
        let expected = IdempotencyKey::derive("crm", &token, 0);
        assert_eq!(
            request
                .headers
                .get("Idempotency-Key")
                .unwrap()
                .to_str()
                .unwrap(),
            expected.as_str()
        );
        assert_eq!(
            request
                .headers
                .get("X-Herald-Rule")
                .unwrap()
                .to_str()
                .unwrap(),
            "crm"
        );
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"order": order, "total": order * 10})
        );
    }
}

#[tokio::test]
async fn transient_failures_are_retried_with_the_same_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    write_rule(dir.path(), "crm", WEBHOOK_RULE);
    let events = dir.path().join("events.jsonl");
    write_inserts(&events, 2);
    let engine = Engine::builder()
        .rules_dir(dir.path())
        .config(fast_retries(&server.uri()))
        .build()
        .unwrap();
    let summary = run(&engine, &events).await;
    assert_eq!((summary.effects, summary.dead_lettered), (1, 0));
    let keys: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.headers["Idempotency-Key"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
}

#[tokio::test]
async fn permanent_failures_go_to_the_dead_letter_queue_and_the_run_goes_on() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(422))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    write_rule(dir.path(), "crm", WEBHOOK_RULE);
    let events = dir.path().join("events.jsonl");
    write_inserts(&events, 3);
    let store = Store::temporary().unwrap();
    let engine = Engine::builder()
        .rules_dir(dir.path())
        .store(store.clone())
        .config(fast_retries(&server.uri()))
        .build()
        .unwrap();
    let summary = run(&engine, &events).await;
    assert_eq!(
        (summary.events, summary.effects, summary.dead_lettered),
        (3, 0, 2)
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "a 422 is not retried"
    );
    let letters: Vec<_> = store.dead_letters().collect::<Result<_, _>>().unwrap();
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0].rule, "crm");
    assert!(letters[0].error.contains("422"), "{}", letters[0].error);
    assert_eq!(letters[0].attempts, 1);
    let mut keys: Vec<bson::Document> = letters
        .iter()
        .map(|l| {
            bson::Document::try_from(l.event.as_ref())
                .unwrap()
                .get_document("documentKey")
                .unwrap()
                .clone()
        })
        .collect();
    // Different documents run in parallel: dead letters are numbered as they fail.
    keys.sort_by_key(|k| k.get_i32("_id").unwrap());
    assert_eq!(keys, vec![doc! {"_id": 2}, doc! {"_id": 3}]);
    // The checkpoint still moved past every event: nothing is retried by accident, the DLQ owns them.
    let checkpoint = store
        .checkpoint(FileSource::open(&events).unwrap().id())
        .unwrap();
    assert_eq!(
        checkpoint,
        Some(Position::File {
            offset: std::fs::metadata(&events).unwrap().len(),
            line: 3
        })
    );
}

#[tokio::test]
async fn a_failing_handler_dead_letters_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    write_rule(
        dir.path(),
        "spin",
        "const RULE = #{ watch: \"shop\" };\nfn handle(event) {\n    loop { }\n}\n",
    );
    let events = dir.path().join("events.jsonl");
    write_inserts(&events, 1);
    let store = Store::temporary().unwrap();
    let engine = Engine::builder()
        .rules_dir(dir.path())
        .store(store.clone())
        // A debug build may need more than the default second for a million operations.
        .config(Config::parse("[engine]\nhandler_timeout_ms = 60000\n").unwrap())
        .build()
        .unwrap();
    let summary = run(&engine, &events).await;
    assert_eq!(summary.dead_lettered, 1);
    let letter = store.dead_letters().next().unwrap().unwrap();
    assert!(
        letter.error.contains("spin.rhai:2:1") && letter.error.contains("endless loop"),
        "{}",
        letter.error
    );
}

#[tokio::test]
async fn the_ledger_and_checkpoint_prevent_repeats_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    write_rule(dir.path(), "count", STATEFUL_RULE);
    let events = dir.path().join("events.jsonl");
    write_inserts(&events, 5);
    let store_dir = dir.path().join("store");
    let sent = Keys::default();
    let build = |options| {
        Engine::builder()
            .rules_dir(dir.path())
            .store_path(&store_dir)
            .config(Config::parse("[engine]\ncommit_every = 2\nworkers = 1\n").unwrap())
            .effect("sms", sent.clone())
            .options(options)
            .build()
            .unwrap()
    };

    let first = run(&build(RunOptions::default()), &events).await;
    assert_eq!((first.events, first.effects), (5, 5));
    // State written by one event is visible to the next, within and across commit groups.
    let stored = Store::open(&store_dir)
        .unwrap()
        .get_state("count", "seen")
        .unwrap();
    assert_eq!(stored, Some(bson::Bson::Int32(5)));
    drop(stored);

    let second = run(&build(RunOptions::default()), &events).await;
    assert_eq!(
        (second.events, second.effects),
        (0, 0),
        "resumed past the end"
    );

    // The same events under another file name: the checkpoint does not apply, the ledger does.
    let copy = dir.path().join("copy.jsonl");
    std::fs::copy(&events, &copy).unwrap();
    let third = run(&build(RunOptions::default()), &copy).await;
    assert_eq!(
        (
            third.events,
            third.matched,
            third.deduplicated,
            third.effects
        ),
        (5, 5, 5, 0)
    );

    let fourth = run(
        &build(RunOptions {
            from_start: true,
            ..RunOptions::default()
        }),
        &events,
    )
    .await;
    assert_eq!(
        (fourth.events, fourth.effects),
        (5, 5),
        "--from-start repeats"
    );
    let keys = sent.0.lock().unwrap().clone();
    assert_eq!(keys.len(), 10);
    assert_eq!(
        keys[..5],
        keys[5..],
        "repeats carry the same idempotency keys"
    );
}

#[tokio::test]
async fn shutdown_commits_what_was_done() {
    let dir = tempfile::tempdir().unwrap();
    write_rule(dir.path(), "count", STATEFUL_RULE);
    let events = dir.path().join("events.jsonl");
    write_inserts(&events, 3);
    let store = Store::temporary().unwrap();
    let engine = Engine::builder()
        .rules_dir(dir.path())
        .store(store.clone())
        .effect("sms", Keys::default())
        .build()
        .unwrap();
    let source = FileSource::open(&events).unwrap();
    let id = source.id().to_owned();
    // The shutdown future is already complete: the engine stops before reading.
    let summary = engine
        .run(source, &mut Quiet, std::future::ready(()))
        .await
        .unwrap();
    assert!(summary.interrupted);
    assert_eq!(summary.events, 0);
    assert_eq!(store.checkpoint(&id).unwrap(), None);
}

#[tokio::test]
async fn attempts_can_be_set_per_channel() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    write_rule(dir.path(), "crm", WEBHOOK_RULE);
    let events = dir.path().join("events.jsonl");
    write_inserts(&events, 2);
    let config = Config::parse(&format!(
        "[webhooks.crm]\nurl = \"{}/hook\"\n[retry]\nmax_attempts = 5\ninitial_backoff_ms = 1\nmax_backoff_ms = 2\nmax_attempts_for = {{ crm = 2 }}\n",
        server.uri()
    ))
    .unwrap();
    let store = Store::temporary().unwrap();
    let engine = Engine::builder()
        .rules_dir(dir.path())
        .store(store.clone())
        .config(config)
        .build()
        .unwrap();
    let summary = run(&engine, &events).await;
    assert_eq!(summary.dead_lettered, 1);
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "two attempts for crm, not five"
    );
    assert_eq!(store.dead_letters().next().unwrap().unwrap().attempts, 2);
}

/// Cluster mode: an event without a document key (a drop) reaches every
/// partition's engine, and its rules run only in partition 0's; an event
/// with one runs in whichever engine reads it.
#[tokio::test]
async fn keyless_events_run_their_rules_only_in_partition_zero() {
    use herald_core::partition::Partition;
    let dir = tempfile::tempdir().unwrap();
    write_rule(
        dir.path(),
        "drops",
        r#"
const RULE = #{ watch: "shop.orders", on: ["drop", "insert"] };
fn handle(event) { set_state(`seen:${event.operationType}`, true); }
"#,
    );
    let events = dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        concat!(
            r#"{"_id":{"_data":"01"},"operationType":"insert","ns":{"db":"shop","coll":"orders"},"documentKey":{"_id":1},"fullDocument":{"_id":1}}"#,
            "\n",
            r#"{"_id":{"_data":"02"},"operationType":"drop","ns":{"db":"shop","coll":"orders"}}"#,
            "\n",
        ),
    )
    .unwrap();
    for partition in Partition::all(2) {
        let store = Store::temporary().unwrap();
        let engine = Engine::builder()
            .rules_dir(dir.path())
            .store(store.clone())
            .options(RunOptions {
                partition: Some(partition),
                ..RunOptions::default()
            })
            .build()
            .unwrap();
        let summary = run(&engine, &events).await;
        assert_eq!(
            summary.matched,
            if partition.index == 0 { 2 } else { 1 },
            "{partition}"
        );
        let drop_seen = store.get_state("drops", "seen:drop").unwrap();
        assert_eq!(drop_seen.is_some(), partition.index == 0, "{partition}");
        assert!(store.get_state("drops", "seen:insert").unwrap().is_some());
    }
}

/// Cluster mode on a server before 7.0: the source reads every partition's
/// events, and each partition's engine runs rules only on its own, so every
/// event's rules run in exactly one partition.
#[tokio::test]
async fn partitions_selected_in_herald_run_each_event_in_exactly_one() {
    use herald_core::partition::Partition;
    let dir = tempfile::tempdir().unwrap();
    write_rule(
        dir.path(),
        "mine",
        r#"
const RULE = #{ watch: "shop.orders", on: ["insert"] };
fn handle(event) { set_state(`seen:${event.documentKey._id}`, true); }
"#,
    );
    let events = dir.path().join("events.jsonl");
    let lines: String = (1..=40)
        .map(|id| {
            format!(
                r#"{{"_id":{{"_data":"{id:02}"}},"operationType":"insert","ns":{{"db":"shop","coll":"orders"}},"documentKey":{{"_id":{id}}},"fullDocument":{{"_id":{id}}}}}"#
            ) + "\n"
        })
        .collect();
    std::fs::write(&events, lines).unwrap();
    let mut total = 0;
    for partition in Partition::all(4) {
        let store = Store::temporary().unwrap();
        let engine = Engine::builder()
            .rules_dir(dir.path())
            .store(store.clone())
            .options(RunOptions {
                partition: Some(partition),
                partition_in_herald: true,
                ..RunOptions::default()
            })
            .build()
            .unwrap();
        let summary = run(&engine, &events).await;
        let ours: Vec<i32> = (1..=40)
            .filter(|id| {
                let key = bson::Bson::Document(bson::doc! {"_id": *id});
                Partition::of_key(Some(&key), 4) == Some(partition)
            })
            .collect();
        assert_eq!(summary.events, 40, "{partition} reads every event");
        assert_eq!(summary.matched as usize, ours.len(), "{partition}");
        for id in 1..=40 {
            let seen = store.get_state("mine", &format!("seen:{id}")).unwrap();
            assert_eq!(seen.is_some(), ours.contains(&id), "{partition}: {id}");
        }
        total += ours.len();
    }
    assert_eq!(total, 40);
}
