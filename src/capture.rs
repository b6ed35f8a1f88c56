//! `herald capture`: a target's live change stream, written as a file of
//! events that `herald replay` reads back.
//!
//! Each line is one change event in canonical Extended JSON, exactly the raw
//! document herald receives: the target's configured `stages` run on the
//! server, so a field they remove is never written, and the stream asks for
//! the strongest `fullDocument` / `fullDocumentBeforeChange` the rules on the
//! target need, so replaying the file feeds the rules what `herald run` would.
//! Unlike `herald run` the stream has no `$match` of the rules' filters: a
//! capture keeps every event of the target (its lifecycle events included).
//!
//! It is a read-only tool: it never opens herald's store (a running herald
//! keeps its lock and checkpoints), and it never overwrites a file.

use crate::cli::CaptureArgs;
use crate::exit::{Failure, Outcome};
use crate::logging::say;
use crate::setup::{Setup, StoreDefault};
use anyhow::{Context, anyhow};
use bson::{Document, RawDocumentBuf, Timestamp};
use futures_util::StreamExt;
use herald_core::{FullDocument, FullDocumentBeforeChange, WatchTarget};
use herald_ingest::mongo::{StreamPlan, plan};
use mongodb::change_stream::ChangeStream;
use mongodb::options::{FullDocumentBeforeChangeType, FullDocumentType};
use serde_json::json;
use std::io::Write;
use std::path::Path;

/// Parses `--since`: an operation time, SECONDS[:INCREMENT].
pub fn parse_since(text: &str) -> Result<Timestamp, String> {
    let (seconds, increment) = text.split_once(':').unwrap_or((text, "0"));
    match (seconds.parse::<u32>(), increment.parse::<u32>()) {
        (Ok(time), Ok(increment)) => Ok(Timestamp { time, increment }),
        _ => Err(format!(
            "expected an operation time SECONDS[:INCREMENT] (e.g. 1700000000 or 1700000000:1), not {text:?}"
        )),
    }
}

/// What the capture's change stream watches and asks for.
struct Capture {
    /// The watch target.
    target: WatchTarget,
    /// The target's configured stages, the whole pipeline.
    stages: Vec<Document>,
    /// The options the rules on the target would have the stream carry.
    full_document: FullDocument,
    before_change: FullDocumentBeforeChange,
    show_expanded_events: bool,
}

impl Capture {
    /// The capture of `target` under `setup`'s stages and rules.
    fn resolve(setup: &Setup, target: WatchTarget) -> Result<Self, Failure> {
        let options = setup
            .config
            .mongodb
            .source_options()
            .map_err(|e| Failure::BadInput(anyhow!(e)))?;
        herald_ingest::mongo::stages::check_targets(&options.stages)
            .map_err(|e| Failure::BadInput(anyhow!("mongodb.streams: {e}")))?;
        // Stages inside the target would apply to only part of its events:
        // capturing the whole would write what they remove.
        if let Some(inner) = options
            .stages
            .keys()
            .find(|t| **t != target && target.contains(t))
        {
            return Err(Failure::BadInput(anyhow!(
                "{inner} has stages in [mongodb.streams], which a capture of {target} cannot apply to its events alone: capture {inner} on its own, or a target that does not contain it"
            )));
        }
        let stages = options
            .stages
            .iter()
            .find(|(staged, _)| staged.contains(&target))
            .map(|(_, stages)| stages.clone())
            .unwrap_or_default();
        let needs = rules_needs(setup, &target)?;
        Ok(Self {
            stages,
            full_document: needs
                .as_ref()
                .map_or(FullDocument::Default, |p| p.full_document),
            before_change: needs
                .as_ref()
                .map_or(FullDocumentBeforeChange::Off, |p| p.before_change),
            show_expanded_events: needs.is_some_and(|p| p.show_expanded_events),
            target,
        })
    }

    /// Opens the change stream at `since` (else now).
    async fn open(
        &self,
        client: &mongodb::Client,
        since: Option<Timestamp>,
    ) -> mongodb::error::Result<ChangeStream<RawDocumentBuf>> {
        let full_document = match self.full_document {
            FullDocument::Default => None,
            FullDocument::UpdateLookup => Some(FullDocumentType::UpdateLookup),
            FullDocument::WhenAvailable => Some(FullDocumentType::WhenAvailable),
            FullDocument::Required => Some(FullDocumentType::Required),
        };
        let before = match self.before_change {
            FullDocumentBeforeChange::Off => None,
            FullDocumentBeforeChange::WhenAvailable => {
                Some(FullDocumentBeforeChangeType::WhenAvailable)
            }
            FullDocumentBeforeChange::Required => Some(FullDocumentBeforeChangeType::Required),
        };
        macro_rules! configure {
            ($watch:expr) => {{
                let mut watch = $watch.pipeline(self.stages.clone());
                if let Some(full) = full_document {
                    watch = watch.full_document(full);
                }
                if let Some(before) = before {
                    watch = watch.full_document_before_change(before);
                }
                if self.show_expanded_events {
                    watch = watch.show_expanded_events(true);
                }
                if let Some(ts) = since {
                    watch = watch.start_at_operation_time(ts);
                }
                watch.await.map(|s| s.with_type::<RawDocumentBuf>())
            }};
        }
        match &self.target {
            WatchTarget::Collection(ns) => {
                let coll = client
                    .database(&ns.db)
                    .collection::<Document>(ns.coll.as_deref().unwrap_or_default());
                configure!(coll.watch())
            }
            WatchTarget::Database(db) => {
                let db = client.database(db);
                configure!(db.watch())
            }
            WatchTarget::Cluster => configure!(client.watch()),
        }
    }
}

/// The stream options the rules on or around `target` need, as one plan of
/// `target` (`None` when the rules directory does not exist: no rules, no needs).
fn rules_needs(setup: &Setup, target: &WatchTarget) -> Result<Option<StreamPlan>, Failure> {
    if !setup.rules.exists() {
        return Ok(None);
    }
    let rules = setup.load_rules()?;
    let mut subscriptions: Vec<_> = herald_engine::engine::subscriptions_of(rules.rules())
        .into_iter()
        .filter(|s| s.target.contains(target) || target.contains(&s.target))
        .collect();
    for s in &mut subscriptions {
        s.target = target.clone();
    }
    Ok(plan(&subscriptions).into_iter().next())
}

/// Runs the command.
pub fn run(args: CaptureArgs) -> Outcome {
    let setup = Setup::resolve(&args.common, StoreDefault::Temporary)?;
    if setup.config.mongodb.resolved_uri().is_none() {
        return Err(Failure::BadInput(anyhow!(
            "no MongoDB connection string: set [mongodb] uri in the config (--config FILE, HERALD_CONFIG or ./herald.toml), or HERALD_MONGODB_URI"
        )));
    }
    let capture = Capture::resolve(&setup, args.target.clone())?;
    let mut out = create_new(&args.out)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Runtime)?;
    let written = runtime.block_on(async {
        let shutdown = crate::signals::shutdown_signal();
        let opened = async {
            let client = setup
                .mongodb_client()
                .await?
                .expect("the uri was checked above");
            capture.open(&client, args.since).await.map_err(|e| {
                Failure::Runtime(anyhow!(
                    "cannot open the change stream of {}: {e}",
                    capture.target
                ))
            })
        };
        let stream = match opened.await {
            Ok(stream) => stream,
            Err(e) => {
                // Nothing was written: leave no empty file to refuse a retry.
                let _ = std::fs::remove_file(&args.out);
                return Err(e);
            }
        };
        write_events(stream, &mut out, args.limit, shutdown).await
    });
    let file = args.out.display().to_string();
    let written = written.map_err(|e| match e {
        Failure::Runtime(e) => Failure::Runtime(e.context(format!("capturing into {file}"))),
        other => other,
    })?;
    say::info(
        format!("herald capture: {written} event(s) written to {file}"),
        json!({ "events": written, "file": file }),
    );
    Ok(())
}

/// Creates `path`, refusing one that exists (exit 2).
fn create_new(path: &Path) -> Result<std::io::BufWriter<std::fs::File>, Failure> {
    match std::fs::File::create_new(path) {
        Ok(file) => Ok(std::io::BufWriter::new(file)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Failure::BadInput(anyhow!(
            "{} exists: herald capture never overwrites a file; name a new one with --out",
            path.display()
        ))),
        Err(e) => Err(Failure::BadInput(anyhow!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// Writes the stream's events, one a line, until `limit` of them, the
/// stream's end or `shutdown`; each line is flushed as it is written, so a
/// capture cut short still holds every event it reported. Returns the count.
async fn write_events(
    mut stream: ChangeStream<RawDocumentBuf>,
    out: &mut impl Write,
    limit: Option<u64>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<u64, Failure> {
    tokio::pin!(shutdown);
    let mut written = 0_u64;
    while limit.is_none_or(|n| written < n) {
        let event = tokio::select! {
            () = &mut shutdown => break,
            event = stream.next() => event,
        };
        let Some(event) = event else { break };
        let event =
            event.map_err(|e| Failure::Runtime(anyhow!("the change stream failed: {e}")))?;
        let doc = event.to_document().map_err(|e| {
            Failure::Runtime(anyhow!("an event the server sent cannot be read: {e}"))
        })?;
        let line = herald_core::extjson::to_canonical(&doc).to_string();
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| Failure::Runtime(e.into()))?;
        written += 1;
    }
    Ok(written)
}
