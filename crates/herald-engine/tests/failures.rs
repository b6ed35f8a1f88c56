//! Failures inside the pipeline: a panicking channel, a store that cannot commit.

mod support;

use herald_core::{Effect, Position};
use herald_engine::effects::{BoxFuture, Channel, EffectError};
use herald_engine::{Engine, EngineError, Quiet, RunSummary};
use herald_ingest::FileSource;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const RULE: &str = r#"
const RULE = #{ watch: "shop.orders", on: ["insert"] };
fn handle(event) { notify("out", #{ order: event.documentKey._id }); }
"#;

/// Records orders; panics on one of them.
#[derive(Clone, Default)]
struct PanicsOn {
    order: i32,
    seen: Arc<Mutex<Vec<i32>>>,
}

impl Channel for PanicsOn {
    fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(async move {
            let order = effect.intent.args().get_i32("order").unwrap();
            if order == self.order {
                panic!("the channel broke on order {order}");
            }
            self.seen.lock().unwrap().push(order);
            Ok(())
        })
    }
}

async fn run_file(engine: &Engine, events: &Path) -> Result<RunSummary, EngineError> {
    let source = FileSource::open(events).unwrap();
    tokio::time::timeout(
        Duration::from_secs(20),
        engine.run(source, &mut Quiet, std::future::pending::<()>()),
    )
    .await
    .expect("the run ends instead of hanging")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_channel_dead_letters_that_event_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("orders.rhai"), RULE).unwrap();
    let events = dir.path().join("events.jsonl");
    support::write_inserts(&events, 4);
    let channel = PanicsOn {
        order: 2,
        ..PanicsOn::default()
    };
    let engine = Engine::builder()
        .rules_dir(dir.path())
        .effect("out", channel.clone())
        .build()
        .unwrap();
    let summary = run_file(&engine, &events).await.unwrap();
    assert_eq!(
        (
            summary.events,
            summary.matched,
            summary.effects,
            summary.dead_lettered
        ),
        (4, 4, 3, 1)
    );
    let mut seen = channel.seen.lock().unwrap().clone();
    seen.sort_unstable();
    assert_eq!(seen, [1, 3, 4]);
    let letters: Vec<_> = engine
        .store()
        .dead_letters()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].error.contains("the channel broke on order 2"),
        "{}",
        letters[0].error
    );
    assert!(
        letters[0].error.contains("panicked"),
        "{}",
        letters[0].error
    );
    let stream = format!("file:{}", events.canonicalize().unwrap().display());
    assert!(
        matches!(
            engine.store().checkpoint(&stream).unwrap(),
            Some(Position::File { line: 4, .. })
        ),
        "the checkpoint moves past the dead-lettered event"
    );
}

#[tokio::test]
async fn a_failed_commit_stops_the_run_and_nothing_after_it_commits() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("orders.rhai"), RULE).unwrap();
    let events = dir.path().join("events.jsonl");
    support::write_inserts(&events, 10);
    let store = herald_store::Store::open(dir.path().join("store")).unwrap();
    // Groups of two events; the third group's commit fails, later ones would succeed.
    store.fail_one_commit_after(2);
    let channel = PanicsOn::default();
    let engine = Engine::builder()
        .rules_dir(dir.path())
        .store(store.clone())
        .config(
            herald_engine::Config::parse(
                "[engine]\ncommit_every = 2\ncommit_interval_ms = 600000\nworkers = 1\n",
            )
            .unwrap(),
        )
        .effect("out", channel)
        .build()
        .unwrap();
    let err = run_file(&engine, &events).await.unwrap_err();
    assert!(matches!(err, EngineError::CommitFailed(_)), "{err}");
    assert!(err.to_string().contains("injected store failure"), "{err}");
    let stream = format!("file:{}", events.canonicalize().unwrap().display());
    assert!(
        matches!(
            store.checkpoint(&stream).unwrap(),
            Some(Position::File { line: 4, .. })
        ),
        "{:?}",
        store.checkpoint(&stream).unwrap()
    );
    let token = |n: u32| {
        herald_core::ResumeToken::new(bson::RawBson::Document(
            bson::RawDocumentBuf::from_document(&bson::doc! {"_data": format!("{n:06}")}).unwrap(),
        ))
    };
    for n in 1..=4 {
        assert!(store.is_done("orders", token(n).as_bytes()).unwrap(), "{n}");
    }
    for n in 5..=10 {
        assert!(
            !store.is_done("orders", token(n).as_bytes()).unwrap(),
            "{n}"
        );
    }
}

/// A dead letter from before effects were numbered apart from `log` and
/// state is retried with the numbering its keys were made with.
#[tokio::test]
async fn an_old_dead_letter_keeps_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("orders.rhai"),
        "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) {\n    log(\"info\", \"an order\");\n    notify(\"out\", #{ id: event.documentKey._id });\n}\n",
    )
    .unwrap();
    let store = herald_store::Store::temporary().unwrap();
    let raw = bson::RawDocumentBuf::from_document(&bson::doc! {
        "_id": {"_data": "000001"}, "operationType": "insert", "ns": {"db": "shop", "coll": "orders"},
        "documentKey": {"_id": 1}, "fullDocument": {"_id": 1},
    })
    .unwrap();
    let event = herald_core::ChangeEvent::from_raw(raw.clone()).unwrap();
    let id = store.next_id().unwrap();
    let mut commit = store.begin();
    commit
        .dead_letter(&herald_store::DeadLetter {
            id,
            rule: "orders".into(),
            token: event.token().as_bytes().to_vec(),
            event: raw,
            error: "earlier".into(),
            attempts: 1,
            keys: herald_store::KeyScheme::AllIntents,
            done: Vec::new(),
            first_at: bson::DateTime::now(),
            at: bson::DateTime::now(),
        })
        .unwrap();
    store.commit(commit).unwrap();
    let keys = support::Keys::default();
    let engine = Engine::builder()
        .rules_dir(dir.path())
        .store(store)
        .effect("out", keys.clone())
        .build()
        .unwrap();
    engine.retry_dead_letter(id).await.unwrap();
    // The notice was intent 1 (after the log) when the letter was written.
    let expected = herald_core::IdempotencyKey::derive("orders", event.token(), 1);
    assert_eq!(*keys.0.lock().unwrap(), [expected.to_string()]);
}
