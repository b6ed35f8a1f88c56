//! A running engine on a mongosim, with a channel that records every effect.

use bson::Document;
use herald_core::Effect;
use herald_engine::effects::{BoxFuture, Channel, EffectError};
use herald_engine::{Config, Engine, EngineError, Quiet, RunSummary};
use herald_ingest::mongo::{MongoSource, MongoSourceOptions, plan};
use mongosim::MongoSim;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// One effect as the test sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub rule: String,
    pub key: String,
    pub args: Document,
}

/// Records effects sent to `notify("out", ...)` and wakes waiters.
#[derive(Clone, Default)]
pub struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    changed: Arc<Notify>,
}

impl Channel for Recorder {
    fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        self.seen.lock().unwrap().push(Seen {
            rule: effect.rule.to_string(),
            key: effect.key.to_string(),
            args: effect.intent.args(),
        });
        self.changed.notify_waiters();
        Box::pin(async { Ok(()) })
    }
}

impl Recorder {
    pub fn all(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what was recorded, for at most 15 s.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Seen]) -> bool) -> Vec<Seen> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let notified = self.changed.notified();
            let all = self.all();
            if done(&all) {
                return all;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("timed out waiting for {what}; recorded: {all:#?}");
            }
        }
    }
}

/// Writes rule files into a directory.
pub fn rules(dir: &Path, rules: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("rules");
    std::fs::create_dir_all(&path).unwrap();
    for (name, body) in rules {
        std::fs::write(path.join(format!("{name}.rhai")), body).unwrap();
    }
    path
}

/// A rule that notifies "out" with the document key and operation type.
pub fn rule(target: &str, on: &str, filter: &str) -> String {
    format!(
        "const RULE = #{{ watch: \"{target}\", on: [{on}], filter: #{{ {filter} }} }};\nfn handle(event) {{ notify(\"out\", #{{ op: event.operationType, id: if event.documentKey == () {{ () }} else {{ event.documentKey._id }} }}); }}\n"
    )
}

/// A running engine.
pub struct Running {
    /// The engine's store (a handle on the same open database).
    pub store: herald_store::Store,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<RunSummary, EngineError>>,
}

impl Running {
    /// Asks it to stop, and returns how the run ended.
    pub async fn stop(mut self) -> Result<RunSummary, EngineError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.expect("the engine task does not panic")
    }

    /// Kills it without a graceful stop (dropping its task mid-flight).
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    /// Waits for the run to end on its own.
    pub async fn finished(self) -> Result<RunSummary, EngineError> {
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("the run ends")
            .expect("no panic")
    }
}

/// Options for tests: short waits, so quiet streams report and groups commit quickly.
pub fn quick_options() -> MongoSourceOptions {
    MongoSourceOptions {
        max_await: Duration::from_millis(50),
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        ..MongoSourceOptions::default()
    }
}

/// Starts an engine on `sim` with the rules in `rules_dir` and the store in `store`.
pub async fn start(
    sim: &MongoSim,
    rules_dir: &Path,
    store: &Path,
    recorder: &Recorder,
    options: MongoSourceOptions,
) -> Running {
    let client = mongodb::Client::with_uri_str(sim.uri()).await.unwrap();
    let config = Config::parse("[engine]\ncommit_every = 4\ncommit_interval_ms = 20\n").unwrap();
    let engine = Engine::builder()
        .rules_dir(rules_dir)
        .store_path(store)
        .config(config)
        .mongodb(client.clone())
        .effect("out", recorder.clone())
        .build()
        .unwrap();
    let source = MongoSource::new(client, plan(&engine.subscriptions()), options);
    let store = engine.store().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        engine
            .run(source, &mut Quiet, async move {
                let _ = stopped.await;
            })
            .await
    });
    Running {
        store,
        stop: Some(stop),
        task,
    }
}

/// Counts the change stream cursors open on the server.
pub fn open_streams(sim: &MongoSim) -> usize {
    sim.shared().lock().open_change_streams()
}

/// Waits (up to 15 s) until the server has `n` change streams open.
pub async fn until_streams_open(sim: &MongoSim, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while open_streams(sim) < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} change streams opened",
            open_streams(sim)
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A collection on the simulator.
pub async fn coll(sim: &MongoSim, db: &str, coll: &str) -> mongodb::Collection<Document> {
    mongodb::Client::with_uri_str(sim.uri())
        .await
        .unwrap()
        .database(db)
        .collection(coll)
}
