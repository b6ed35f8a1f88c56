//! A dry run executes nothing and writes nothing, but state still flows
//! between its events.

mod support;

use herald_core::Effect;
use herald_engine::{Config, Engine, RunOptions};
use herald_ingest::FileSource;
use herald_store::Store;
use support::{Keys, STATEFUL_RULE, write_inserts, write_rule};

#[tokio::test]
async fn a_dry_run_executes_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_rule(dir.path(), "count", STATEFUL_RULE);
    let events = dir.path().join("events.jsonl");
    write_inserts(&events, 3);
    let store_dir = dir.path().join("store");
    let sent = Keys::default();
    struct Collect(Vec<String>);
    impl herald_engine::Observer for Collect {
        fn dry_run(&mut self, effect: &Effect) {
            self.0.push(effect.intent.to_json().to_string());
        }
        fn dry_run_intent(
            &mut self,
            _rule: &str,
            _token: &herald_core::ResumeToken,
            intent: &herald_core::Intent,
        ) {
            self.0.push(intent.to_json().to_string());
        }
    }
    let engine = Engine::builder()
        .rules_dir(dir.path())
        .store_path(&store_dir)
        .config(Config::parse("[engine]\nworkers = 1\n").unwrap())
        .effect("sms", sent.clone())
        .options(RunOptions {
            dry_run: true,
            ..RunOptions::default()
        })
        .build()
        .unwrap();
    let mut seen = Collect(Vec::new());
    let summary = engine
        .run(
            FileSource::open(&events).unwrap(),
            &mut seen,
            std::future::pending::<()>(),
        )
        .await
        .unwrap();
    assert_eq!(
        summary.effects, 3,
        "one notice per event; state changes are not effects"
    );
    assert_eq!(
        summary.state_writes, 3,
        "one state write per event, counted apart from the effects"
    );
    assert_eq!(seen.0.len(), 6, "each event's state change and notice");
    assert!(sent.0.lock().unwrap().is_empty());
    assert_eq!(
        seen.0[1],
        r#"{"kind":"notify","target":"sms","args":{"n":1}}"#
    );
    assert_eq!(
        seen.0[3], r#"{"kind":"notify","target":"sms","args":{"n":2}}"#,
        "state flows between events in a dry run"
    );
    drop(engine);
    let store = Store::open(&store_dir).unwrap();
    assert!(store.checkpoints().unwrap().is_empty());
    assert_eq!(store.get_state("count", "seen").unwrap(), None);
}
