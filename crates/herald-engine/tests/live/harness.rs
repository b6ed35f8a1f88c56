//! A running engine on a mongosim, with a channel that records every effect.

use bson::Document;
use herald_core::Effect;
use herald_engine::effects::{BoxFuture, Channel, EffectError};
use herald_engine::{Config, Engine, EngineError, Quiet, RunSummary};
use herald_ingest::mongo::{MongoSource, MongoSourceOptions, plan_with};
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
    /// When set, each effect takes a permit first: the test holds the
    /// engine's effects (and so, by backpressure, its reading) until it
    /// lets them through.
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

impl Channel for Recorder {
    fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(async move {
            if let Some(gate) = &self.gate {
                gate.acquire().await.expect("the gate stays open").forget();
            }
            self.seen.lock().unwrap().push(Seen {
                rule: effect.rule.to_string(),
                key: effect.key.to_string(),
                args: effect.intent.args(),
            });
            self.changed.notify_waiters();
            Ok(())
        })
    }
}

impl Recorder {
    /// A recorder that lets `permits` effects through, then holds the
    /// next until [`Recorder::release`].
    pub fn gated(permits: usize) -> Self {
        Self {
            gate: Some(Arc::new(tokio::sync::Semaphore::new(permits))),
            ..Self::default()
        }
    }

    /// Lets `n` more effects through.
    pub fn release(&self, n: usize) {
        if let Some(gate) = &self.gate {
            gate.add_permits(n);
        }
    }

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

/// Where a test runs: a fresh mongosim, or the real replica set of `HERALD_TEST_MONGODB_URI`
/// (in databases named for the test, so runs do not meet).
pub struct Target {
    /// The simulator, when the target is one.
    pub sim: Option<MongoSim>,
    uri: String,
    prefix: String,
}

impl Target {
    /// A real replica set if `HERALD_TEST_MONGODB_URI` is set, else a fresh mongosim.
    pub async fn any(test: &str) -> Self {
        match std::env::var("HERALD_TEST_MONGODB_URI") {
            Ok(uri) if !uri.is_empty() => {
                eprintln!("{test}: against the real replica set");
                Self {
                    sim: None,
                    uri,
                    prefix: format!("hl_{test}_"),
                }
            }
            _ => {
                eprintln!(
                    "{test}: against mongosim (set HERALD_TEST_MONGODB_URI to also run against a real replica set)"
                );
                Self::sim(MongoSim::builder().start().await.unwrap())
            }
        }
    }

    /// A mongosim, for tests that need its knobs or its insides.
    pub fn sim(sim: MongoSim) -> Self {
        Self {
            uri: sim.uri(),
            sim: Some(sim),
            prefix: String::new(),
        }
    }

    /// The connection string.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// A database or namespace name for this test (`d.c` → `<prefix>d.c`).
    pub fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

/// Options for tests: short waits, so quiet streams report and groups commit quickly.
/// Streams start a second in the past, so writes made right after start are never missed.
pub fn quick_options() -> MongoSourceOptions {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    MongoSourceOptions {
        start_at: herald_ingest::mongo::StartAt::OperationTime(bson::Timestamp {
            time: now - 1,
            increment: 0,
        }),
        max_await: Duration::from_millis(50),
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        ..MongoSourceOptions::default()
    }
}

/// Starts an engine on `sim` with the rules in `rules_dir` and the store in `store`.
pub async fn start(
    target: &Target,
    rules_dir: &Path,
    store: &Path,
    recorder: &Recorder,
    options: MongoSourceOptions,
) -> Running {
    let engine = "[engine]\ncommit_every = 4\ncommit_interval_ms = 20\n";
    start_configured(target, rules_dir, store, recorder, options, engine).await
}

/// [`start`] with another configuration (say, one worker and a short queue,
/// so a held effect holds the reading back at once).
pub async fn start_configured(
    target: &Target,
    rules_dir: &Path,
    store: &Path,
    recorder: &Recorder,
    options: MongoSourceOptions,
    config: &str,
) -> Running {
    let client = mongodb::Client::with_uri_str(target.uri()).await.unwrap();
    let config = Config::parse(config).unwrap();
    let engine = Engine::builder()
        .rules_dir(rules_dir)
        .store_path(store)
        .config(config)
        .mongodb(client.clone())
        .effect("out", recorder.clone())
        .build()
        .unwrap();
    let plans = plan_with(&engine.subscriptions().unwrap(), &options.stages).expect("valid stages");
    let source = MongoSource::new(client, plans, options);
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

/// Counts the change stream cursors open on the server (mongosim only).
pub fn open_streams(target: &Target) -> usize {
    target
        .sim
        .as_ref()
        .expect("counting streams needs mongosim")
        .shared()
        .lock()
        .open_change_streams()
}

/// Waits (up to 15 s) until mongosim has `n` change streams open; on a real server
/// streams start in the past (see [`quick_options`]), so there is nothing to wait for.
pub async fn until_streams_open(target: &Target, n: usize) {
    if target.sim.is_none() {
        return;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while open_streams(target) < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} change streams opened",
            open_streams(target)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A collection of this test (`db` is prefixed for a real server).
pub async fn coll(target: &Target, db: &str, coll: &str) -> mongodb::Collection<Document> {
    mongodb::Client::with_uri_str(target.uri())
        .await
        .unwrap()
        .database(&target.ns(db))
        .collection(coll)
}

/// Starts an engine with a fresh recorder, the store in `dir/store` and quick options,
/// and waits for its `streams` change streams to open.
pub async fn launch(
    target: &Target,
    rules_dir: &Path,
    dir: &Path,
    streams: usize,
) -> (Recorder, Running) {
    launch_with(target, rules_dir, dir, streams, quick_options()).await
}

/// [`launch`] with other source options.
pub async fn launch_with(
    target: &Target,
    rules_dir: &Path,
    dir: &Path,
    streams: usize,
    options: MongoSourceOptions,
) -> (Recorder, Running) {
    let recorder = Recorder::default();
    let running = start(target, rules_dir, &dir.join("store"), &recorder, options).await;
    until_streams_open(target, streams).await;
    (recorder, running)
}
