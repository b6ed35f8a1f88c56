//! `start_at = "snapshot"`: the documents that exist at a target's first
//! start reach its rules once each, as inserts with `snapshot: true`, and the
//! changes after the snapshot's time follow, none lost and none doubled.

use crate::harness::*;
use bson::{Document, doc};
use herald_ingest::mongo::{MongoSourceOptions, StartAt};

mod fallback;
mod first_start;
mod restarts;

/// Quick options that read snapshots, one event per batch (so the read
/// goes document by document, behind the engine).
fn snapshot_options() -> MongoSourceOptions {
    MongoSourceOptions {
        start_at: StartAt::Snapshot,
        max_batch: 1,
        queue: 1,
        ..quick_options()
    }
}

/// A rule on `d.c` that notifies "out" with what it saw.
/// One worker with a queue of one, so an effect the test holds stops the
/// reading (and the snapshot read) right behind it.
const TIGHT: &str = "[engine]\nworkers = 1\nqueue = 1\ncommit_every = 4\ncommit_interval_ms = 20\n";

/// [`start_configured`] with [`snapshot_options`] and [`TIGHT`].
async fn start_tight(
    t: &Target,
    rules_dir: &std::path::Path,
    store: &std::path::Path,
    recorder: &Recorder,
) -> Running {
    start_configured(t, rules_dir, store, recorder, snapshot_options(), TIGHT).await
}

fn seen_rule(target: &str, on: &str, extra: &str) -> String {
    format!(
        "const RULE = #{{ watch: \"{target}\", on: [{on}]{extra} }};\nfn handle(event) {{ notify(\"out\", #{{ op: event.operationType, id: event.documentKey._id, v: event.fullDocument?.v, snapshot: event.snapshot }}); }}\n"
    )
}

fn summary(seen: &[Seen]) -> Vec<(String, Document)> {
    seen.iter()
        .map(|s| (s.rule.clone(), s.args.clone()))
        .collect()
}

/// A rule on every change of `target`, saying what it saw.
fn every_change(target: &str) -> String {
    format!(
        "const RULE = #{{ watch: \"{target}\", on: [\"insert\", \"update\", \"replace\", \"delete\"] }};\nfn handle(event) {{ notify(\"out\", #{{ op: event.operationType, id: event.documentKey._id, v: event.fullDocument?.v ?? event.updateDescription?.updatedFields?.v, snapshot: event.snapshot }}); }}\n"
    )
}

/// What was seen, in a stable order (see [`sorted_docs`]).
fn sorted(seen: &[Seen]) -> Vec<Document> {
    sorted_docs(seen.iter().map(|s| s.args.clone()).collect())
}

/// Waits (up to 15 s) until `stream`'s checkpoint satisfies `done`.
async fn until_checkpoint(
    running: &Running,
    stream: &str,
    done: impl Fn(Option<&herald_core::Position>) -> bool,
) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let at = running.store.checkpoint(stream).unwrap();
        if done(at.as_ref()) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "checkpoint {at:?}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Effects' arguments by snapshot or not, document id, operation.
fn sorted_docs(mut docs: Vec<Document>) -> Vec<Document> {
    docs.sort_by_key(|a| {
        (
            a.get_bool("snapshot").unwrap(),
            a.get_i32("id").unwrap(),
            a.get_str("op").unwrap().to_owned(),
        )
    });
    docs
}

/// (rule, document id, snapshot?) of each effect, sorted.
fn by_rule(seen: &[Seen]) -> Vec<(String, i32, bool)> {
    let mut got: Vec<(String, i32, bool)> = seen
        .iter()
        .map(|s| {
            (
                s.rule.clone(),
                s.args.get_i32("id").unwrap(),
                s.args.get_bool("snapshot").unwrap(),
            )
        })
        .collect();
    got.sort();
    got
}

/// Makes the server refuse the next `aggregate` (the snapshot's first read)
/// with `code`, once.
async fn fail_next_aggregate(t: &Target, code: i32) {
    mongodb::Client::with_uri_str(t.uri())
        .await
        .unwrap()
        .database("admin")
        .run_command(doc! {
            "configureFailPoint": "failCommand",
            "mode": {"times": 1},
            "data": {"failCommands": ["aggregate"], "errorCode": code},
        })
        .await
        .unwrap();
}

/// Waits (up to 15 s) for `stream`'s recorded overlap, writing elsewhere
/// (not watched, so not counted) to move the stream past the read's window.
async fn until_overlap(t: &Target, store: &herald_store::Store, stream: &str) -> serde_json::Value {
    let overlap = format!("{}{stream}", herald_engine::SNAPSHOT_OVERLAP_INFO);
    let elsewhere = coll(t, "elsewhere", "noise").await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Some(info) = store.info(&overlap).unwrap() {
            return info;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no overlap recorded"
        );
        elsewhere.insert_one(doc! {}).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
