//! `herald run`: the rules on live MongoDB change streams.

use crate::cli::RunArgs;
use crate::exit::{Failure, Outcome};
use crate::report;
use anyhow::{Context, anyhow};
use herald_engine::{Config, Engine, EngineError, Quiet};
use herald_ingest::SourceError;
use herald_ingest::mongo::{MongoSource, plan, uri::redact};
use std::path::PathBuf;

/// The store directory when neither the flag nor the config names one.
pub const DEFAULT_STORE: &str = "data/herald";

/// Loads the config named by a flag (or none).
pub fn load_config(path: Option<&PathBuf>) -> Result<Config, Failure> {
    match path {
        Some(path) => Config::load(path).map_err(|e| Failure::BadInput(e.into())),
        None => Ok(Config::default()),
    }
}

/// Runs the command.
pub fn run(args: RunArgs) -> Outcome {
    let config = load_config(args.config.as_ref())?;
    let rules = args
        .rules
        .clone()
        .or_else(|| config.rules.clone())
        .unwrap_or_else(|| PathBuf::from("rules"));
    let store = args
        .store
        .clone()
        .or_else(|| config.store.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE));
    let uri = config.mongodb.resolved_uri().ok_or_else(|| {
        Failure::BadInput(anyhow!(
            "no MongoDB connection string: set [mongodb] uri in the config, or HERALD_MONGODB_URI"
        ))
    })?;
    let options = config
        .mongodb
        .source_options()
        .map_err(|e| Failure::BadInput(anyhow!(e)))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Runtime)?;
    runtime.block_on(async move {
        let client = mongodb::Client::with_uri_str(&uri)
            .await
            .map_err(|e| Failure::BadInput(anyhow!("invalid MongoDB connection string {}: {e}", redact(&uri))))?;
        let engine = Engine::builder()
            .rules_dir(&rules)
            .store_path(&store)
            .config(config)
            .mongodb(client.clone())
            .build()
            .map_err(|e| match e {
                EngineError::Rules(diagnostics) => {
                    diagnostics.iter().for_each(report::print);
                    Failure::Reported(2)
                }
                other => Failure::BadInput(other.into()),
            })?;
        let plans = plan(&engine.subscriptions());
        for p in &plans {
            tracing::info!(stream = %p.id, rules = ?p.rules, full_document = p.full_document.as_str(), "opening change stream");
        }
        eprintln!("herald: {} rule(s) on {} change stream(s) at {}; store {}", engine.rules().len(), plans.len(), redact(&uri), store.display());
        let source = MongoSource::new(client, plans, options);
        let result = engine.run(source, &mut Quiet, shutdown_signal()).await;
        match result {
            Ok(summary) => {
                eprintln!(
                    "herald stopped: {} events, {} matched, {} effects, {} deduplicated, {} dead-lettered, {} stream retries, {} gaps",
                    summary.events, summary.matched, summary.effects, summary.deduplicated, summary.dead_lettered, summary.stream_retries, summary.gaps
                );
                if summary.streams_failed > 0 {
                    return Err(Failure::Runtime(anyhow!("{} change stream(s) stopped with an error (see the log above)", summary.streams_failed)));
                }
                Ok(())
            }
            Err(EngineError::Source(e @ SourceError::HistoryLost { .. })) => Err(Failure::Runtime(e.into())),
            Err(e @ (EngineError::Store(_) | EngineError::Config(_))) => Err(Failure::BadInput(e.into())),
            Err(e) => Err(Failure::Runtime(e.into())),
        }
    })
}

/// Completes on SIGINT or SIGTERM: the engine then stops pulling, finishes and commits.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    eprintln!(
        "herald: shutting down: finishing in-flight events (send the signal again to exit at once)"
    );
    // A second signal exits at once. Commits are atomic, so the store stays
    // consistent; events not yet committed are redone on the next run.
    tokio::spawn(async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let second_term = async {
            match terminate.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = second_term => {}
        }
        eprintln!("herald: second signal: exiting now");
        std::process::exit(130);
    });
}
