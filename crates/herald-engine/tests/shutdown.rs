//! Graceful shutdown: stop pulling, finish in-flight events within the deadline, commit.

use herald_core::Effect;
use herald_engine::effects::{BoxFuture, Channel, EffectError};
use herald_engine::{Config, Engine, Quiet};
use herald_ingest::FileSource;
use herald_store::Store;
use std::io::Write;
use std::sync::Arc;
use tokio::sync::{Notify, Semaphore};

/// An effect channel that waits for a permit per effect, and says when one is waiting.
#[derive(Clone)]
struct Gate {
    permits: Arc<Semaphore>,
    entered: Arc<Notify>,
}

impl Channel for Gate {
    fn send<'a>(&'a self, _effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(async move {
            self.entered.notify_one();
            self.permits.acquire().await.expect("open").forget();
            Ok(())
        })
    }
}

fn setup(events: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.rhai"), "const RULE = #{ watch: \"d.c\", on: [\"insert\"] };\nfn handle(event) { notify(\"gate\", #{ id: event.documentKey._id }); }\n").unwrap();
    let path = dir.path().join("events.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    for i in 1..=events {
        writeln!(f, r#"{{"_id":{{"_data":"{i:04}"}},"operationType":"insert","ns":{{"db":"d","coll":"c"}},"documentKey":{{"_id":{i}}}}}"#).unwrap();
    }
    (dir, path)
}

fn engine(dir: &std::path::Path, store: &Store, gate: &Gate, timeout_ms: u64) -> Engine {
    let config = Config::parse(&format!(
        "[engine]\nworkers = 1\nqueue = 1\nshutdown_timeout_ms = {timeout_ms}\n"
    ))
    .unwrap();
    Engine::builder()
        .rules_dir(dir)
        .store(store.clone())
        .config(config)
        .effect("gate", gate.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn shutdown_lets_in_flight_events_finish_and_commits_them() {
    let (dir, events) = setup(50);
    let store = Store::temporary().unwrap();
    let gate = Gate {
        permits: Arc::new(Semaphore::new(0)),
        entered: Arc::new(Notify::new()),
    };
    let engine = engine(dir.path(), &store, &gate, 30_000);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let source = FileSource::open(&events).unwrap();
    let id = source.id().to_owned();
    let run = tokio::spawn(async move {
        engine
            .run(source, &mut Quiet, async {
                let _ = stopped.await;
            })
            .await
    });
    gate.entered.notified().await; // the first effect is in flight
    stop.send(()).unwrap();
    gate.permits.add_permits(1_000);
    let summary = run.await.unwrap().unwrap();
    assert!(summary.interrupted);
    assert_eq!(summary.abandoned, 0);
    assert!(
        summary.events >= 1 && summary.events < 50,
        "stopped pulling: {summary:?}"
    );
    let checkpoint = store.checkpoint(&id).unwrap().expect("committed");
    let herald_core::Position::File { line, .. } = checkpoint else {
        panic!()
    };
    assert_eq!(
        line, summary.events,
        "the checkpoint covers exactly the finished events"
    );
}

#[tokio::test]
async fn the_deadline_abandons_stuck_events_without_checkpointing_them() {
    let (dir, events) = setup(3);
    let store = Store::temporary().unwrap();
    let gate = Gate {
        permits: Arc::new(Semaphore::new(0)),
        entered: Arc::new(Notify::new()),
    };
    let engine = engine(dir.path(), &store, &gate, 50);
    let source = FileSource::open(&events).unwrap();
    let id = source.id().to_owned();
    let entered = gate.entered.clone();
    let summary = engine
        .run(source, &mut Quiet, async move { entered.notified().await })
        .await
        .unwrap();
    assert!(summary.interrupted);
    assert_eq!(summary.events, 0);
    assert!(summary.abandoned >= 1, "{summary:?}");
    assert_eq!(
        store.checkpoint(&id).unwrap(),
        None,
        "nothing past the stuck event is checkpointed"
    );
}
