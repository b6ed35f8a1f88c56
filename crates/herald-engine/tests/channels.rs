//! Channels count an effect done only when it was delivered.

mod support;

use herald_core::{Effect, Position};
use herald_engine::effects::{BoxFuture, Channel, EffectError};
use herald_engine::{Config, Engine, Quiet};
use herald_ingest::FileSource;
use std::sync::{Arc, Mutex};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn a_webhook_redirect_is_a_failure_naming_the_location_host() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(
            ResponseTemplate::new(302).insert_header("Location", "/elsewhere?token=s3cret"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("crm.rhai"),
        "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) { webhook(\"crm\", #{ id: event.documentKey._id }); }\n",
    )
    .unwrap();
    let events = dir.path().join("events.jsonl");
    support::write_inserts(&events, 1);
    let config = Config::parse(&format!(
        "[webhooks.crm]\nurl = \"{}/hook\"\n[retry]\nmax_attempts = 3\ninitial_backoff_ms = 1\nmax_backoff_ms = 2\n",
        server.uri()
    ))
    .unwrap();
    let engine = Engine::builder()
        .rules_dir(dir.path())
        .config(config)
        .build()
        .unwrap();
    let summary = engine
        .run(
            FileSource::open(&events).unwrap(),
            &mut Quiet,
            std::future::pending::<()>(),
        )
        .await
        .unwrap();
    assert_eq!((summary.effects, summary.dead_lettered), (0, 1));
    let letters: Vec<_> = engine
        .store()
        .dead_letters()
        .collect::<Result<_, _>>()
        .unwrap();
    // The Location is shown as scheme and host: its path and query may hold a secret.
    let host = server.uri();
    assert!(
        letters[0].error.contains("302")
            && letters[0].error.contains(&format!("a redirect to {host};")),
        "{}",
        letters[0].error
    );
    assert!(!letters[0].error.contains("s3cret"), "{}", letters[0].error);
    assert_eq!(letters[0].attempts, 1, "a redirect is not retried");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        requests.iter().map(|r| r.url.path()).collect::<Vec<_>>(),
        ["/hook"],
        "the redirect was not followed"
    );
}

/// Records, at each `sync`, the checkpoint the store had then.
#[derive(Clone)]
struct Syncs {
    store: herald_store::Store,
    stream: String,
    syncs: Arc<Mutex<Vec<Option<u64>>>>,
}

impl Syncs {
    fn checkpoint(&self) -> Option<u64> {
        match self.store.checkpoint(&self.stream).unwrap() {
            Some(Position::File { line, .. }) => Some(line),
            _ => None,
        }
    }
}

impl Channel for Syncs {
    fn send<'a>(&'a self, _effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(async { Ok(()) })
    }

    fn sync(&self) -> Result<(), EffectError> {
        self.syncs.lock().unwrap().push(self.checkpoint());
        Ok(())
    }
}

/// A channel is made durable (the file channel fsyncs) before the group that
/// recorded its effects commits, so a checkpoint is never ahead of it.
#[tokio::test]
async fn channels_are_synced_before_each_group_commits() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("orders.rhai"),
        "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) { notify(\"out\", #{ id: event.documentKey._id }); }\n",
    )
    .unwrap();
    let events = dir.path().join("events.jsonl");
    support::write_inserts(&events, 10);
    let store = herald_store::Store::temporary().unwrap();
    let channel = Syncs {
        store: store.clone(),
        stream: format!("file:{}", events.canonicalize().unwrap().display()),
        syncs: Arc::default(),
    };
    let engine = Engine::builder()
        .rules_dir(dir.path())
        .store(store.clone())
        .config(
            Config::parse("[engine]\ncommit_every = 3\ncommit_interval_ms = 600000\nworkers = 1\n")
                .unwrap(),
        )
        .effect("out", channel.clone())
        .build()
        .unwrap();
    engine
        .run(
            FileSource::open(&events).unwrap(),
            &mut Quiet,
            std::future::pending::<()>(),
        )
        .await
        .unwrap();
    let syncs = channel.syncs.lock().unwrap().clone();
    // Groups of 3 events, then the last one at the end: every commit is
    // preceded by a sync, which still sees the checkpoint before it.
    assert_eq!(syncs, [None, Some(3), Some(6), Some(9)]);
    assert_eq!(channel.checkpoint(), Some(10));
}
