//! `herald run`: the rules on live MongoDB change streams.

use crate::cli::RunArgs;
use crate::exit::{self, Failure, Outcome};
use crate::logging::say;
use crate::setup::{Setup, StoreDefault};
use anyhow::{Context, anyhow};
use herald_engine::{Observer, RunOptions};
use herald_ingest::mongo::{MongoSource, StartAt, StreamPlan, plan_with, summary, uri::redact};
use herald_script::RuleSet;
use serde_json::json;

/// What a live run reads.
pub enum Mode {
    /// Every rule, on change streams until a signal (`herald run`); the
    /// rules reload on SIGHUP, and with `watch` when a rule file changes.
    Streams {
        /// Reload when a rule file changes.
        watch: bool,
    },
    /// The snapshots first starts read, then exit (`herald run --snapshot-only`).
    SnapshotOnly,
    /// One rule over the documents of its target (or of the narrower
    /// target given), then exit (`herald backfill`).
    Backfill(Box<herald_script::Rule>, Option<herald_core::WatchTarget>),
}

/// Runs the command.
pub fn run(args: RunArgs) -> Outcome {
    let mut setup = Setup::resolve(&args.common, StoreDefault::Persistent)?;
    if let Some(addr) = args.http {
        setup.config.http.listen = Some(addr);
    }
    if setup.config.cluster.enabled() {
        if args.snapshot_only || args.watch {
            return Err(Failure::BadInput(anyhow!(
                "--snapshot-only and --watch are not available in cluster mode yet ([cluster] store = \"mongodb\")"
            )));
        }
        return crate::cluster::run(setup);
    }
    let mode = if args.snapshot_only {
        Mode::SnapshotOnly
    } else {
        Mode::Streams { watch: args.watch }
    };
    live(setup, mode)
}

/// A backfill keeps its timers in its own store, where `herald run` does not
/// fire them: say how many are left there.
fn warn_pending_timers(rule: &str, engine: &herald_engine::Engine) -> Outcome {
    let pending: u64 = engine
        .store()
        .timer_stats()
        .map_err(|e| Failure::Runtime(e.into()))?
        .iter()
        .map(|s| s.pending)
        .sum();
    if pending > 0 {
        let store = engine
            .store()
            .path()
            .map_or_else(|| "its store".to_owned(), |p| p.display().to_string());
        say::warn(
            format!(
                "the backfill of {rule} left {pending} timer(s) pending in {store}: they fire only while a backfill runs there (herald timers list --store {store})"
            ),
            json!({ "rule": rule, "pending_timers": pending, "store": store }),
        );
    }
    Ok(())
}

/// Reads MongoDB as `mode` says, through the engine, until done or a signal.
pub fn live(setup: Setup, mode: Mode) -> Outcome {
    let uri = setup.config.mongodb.resolved_uri().ok_or_else(|| {
        Failure::BadInput(anyhow!(
            "no MongoDB connection string: set [mongodb] uri in the config (--config FILE, HERALD_CONFIG or ./herald.toml), or HERALD_MONGODB_URI"
        ))
    })?;
    let mut options = setup
        .config
        .mongodb
        .source_options()
        .map_err(|e| Failure::BadInput(anyhow!(e)))?;
    options.snapshot_only = !matches!(mode, Mode::Streams { .. });
    if let Mode::Backfill(rule, within) = &mode {
        // Its own store has no progress: the snapshot is taken now.
        options.start_at = StartAt::Snapshot;
        options
            .start_at_for
            .insert(rule.spec().watch.clone(), StartAt::Snapshot);
        options.snapshot_within.clone_from(within);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Runtime)?;
    runtime.block_on(async move {
        // Listening from the start: a signal while herald connects and plans
        // stops it as gracefully as one later.
        let stopping = crate::signals::Stopping::new(crate::signals::shutdown_signal());
        // SIGHUP reloads in `herald run`; elsewhere it is ignored, never fatal.
        let _hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
        let mut triggers = match &mode {
            Mode::Streams { watch } => Some(
                crate::reload::Triggers::new(&setup.rules, *watch)
                    .map_err(|e| Failure::Runtime(e.context("cannot set up rule reloads")))?,
            ),
            _ => None,
        };
        // Before the engine is built, which takes its metrics' handles.
        // Only `herald run` serves: a backfill or a snapshot read beside it
        // shares its config, and would take its address.
        let listen = setup.config.http.listen.filter(|_| matches!(mode, Mode::Streams { .. }));
        let prometheus = match listen {
            Some(_) => Some(crate::http::install_recorder().map_err(Failure::Runtime)?),
            None => None,
        };
        let client = setup.mongodb_client().await?.expect("the uri was checked above");
        let mut engine = match &mode {
            Mode::Backfill(rule, _) => setup.engine_for(
                RuleSet::from_rules(vec![(**rule).clone()]),
                RunOptions::default(),
                Some(client.clone()),
            )?,
            _ => setup.engine(RunOptions::default(), Some(client.clone()))?,
        };
        let store = setup.store.as_deref().unwrap_or(std::path::Path::new(crate::setup::DEFAULT_STORE));
        let shutdown_timeout = std::time::Duration::from_millis(setup.config.engine.shutdown_timeout_ms);
        // A file left by an earlier run (a crash) never outlives a start.
        let address_file = store.join(crate::http::ADDRESS_FILE);
        let _ = std::fs::remove_file(&address_file);
        if let (Some(addr), Some(prometheus)) = (listen, prometheus) {
            let endpoint = crate::http::Endpoint {
                prometheus,
                store: engine.store().clone(),
                serves: crate::http::Serves::Alone {
                    // Whole, so `herald status` can tell it is its store.
                    store_dir: store.canonicalize().unwrap_or_else(|_| store.to_path_buf()),
                    health: engine.health(),
                },
                reads: tokio::sync::Semaphore::new(1),
            };
            crate::http::start(addr, endpoint).await.map_err(Failure::BadInput)?;
        }
        let mut progress = SnapshotProgress(crate::progress::for_count("documents read"));
        let mut summary = herald_engine::RunSummary::default();
        // Whether the rules were reloaded, and how many times in a row the
        // streams have failed to start since.
        let (mut reloaded, mut failed_starts) = (false, 0);
        // One run per rule set: a reload ends the run between events, and
        // the next one plans and resumes the streams of the new rules.
        loop {
            let source = open_streams(&engine, &client, &options, &uri, store)?;
            let mut reload = None;
            let candidate = async {
                match triggers.as_mut() {
                    Some(triggers) => crate::reload::next(triggers, &setup.rules, &engine, &options.stages).await,
                    None => std::future::pending().await,
                }
            };
            let stop = async {
                tokio::select! {
                    () = stopping.wait() => {}
                    candidate = candidate => reload = Some(candidate),
                }
            };
            // A run ended to reload lets every event in flight finish; a
            // signal bounds the wait by `shutdown_timeout_ms` from then on.
            let drain_limit = async {
                stopping.wait().await;
                tokio::time::sleep(shutdown_timeout).await;
            };
            match engine.run_draining(source, &mut progress, stop, drain_limit).await {
                Ok(run) => {
                    summary.add(run);
                    failed_starts = 0;
                }
                // After a reload the streams start again as at any start,
                // which asks the server its time for new rules: a server
                // unreachable then must not end a herald that was running.
                Err(herald_engine::EngineError::Source(
                    herald_ingest::SourceError::ServerTime(why),
                )) if reloaded => {
                    failed_starts += 1;
                    let wait = herald_core::backoff::delay(RESTART_BACKOFF.0, RESTART_BACKOFF.1, failed_starts);
                    say::warn(
                        format!("herald: the streams cannot start after the reload ({why}); trying again in {:.1}s", wait.as_secs_f64()),
                        json!({ "reason": why, "attempt": failed_starts, "retry_in_ms": wait.as_millis() as u64 }),
                    );
                    tokio::select! {
                        () = stopping.wait() => break,
                        () = tokio::time::sleep(wait) => {}
                    }
                }
                Err(e) => return Err(exit::run_failure(e)),
            }
            match reload {
                Some(candidate) if !stopping.is_set() => {
                    let changes = engine.replace_rules(candidate.rules).map_err(exit::run_failure)?;
                    crate::reload::reloaded(candidate.why, &changes, &engine, &setup.config);
                    reloaded = true;
                }
                _ if failed_starts > 0 && !stopping.is_set() => {}
                _ => break,
            }
        }
        progress.0.finish_and_clear();
        let _ = std::fs::remove_file(&address_file);
        let done = match &mode {
            Mode::Streams { .. } => "herald stopped".to_owned(),
            Mode::SnapshotOnly => "snapshots read".to_owned(),
            Mode::Backfill(rule, _) => format!("backfill of {} done", rule.name()),
        };
        say::info(
            format!(
                "{done}: {} events, {} matched, {} effects, {} deduplicated, {} dead-lettered, {} state writes, {} timers set, {} timers fired, {} stream retries, {} gaps",
                summary.events, summary.matched, summary.effects, summary.deduplicated, summary.dead_lettered, summary.state_writes, summary.timers_set, summary.timers_fired, summary.stream_retries, summary.gaps
            ),
            json!({
                "events": summary.events, "matched": summary.matched, "effects": summary.effects,
                "deduplicated": summary.deduplicated, "dead_lettered": summary.dead_lettered,
                "state_writes": summary.state_writes, "stream_retries": summary.stream_retries,
                "gaps": summary.gaps, "timers_set": summary.timers_set,
                "timers_fired": summary.timers_fired,
            }),
        );
        if let Mode::Backfill(rule, _) = &mode {
            warn_pending_timers(rule.name(), &engine)?;
        }
        if summary.streams_failed > 0 {
            return Err(Failure::Runtime(anyhow!(
                "{} change stream(s) stopped with an error:\n  {}",
                summary.streams_failed,
                summary.stream_failures.join("\n  ")
            )));
        }
        if !matches!(mode, Mode::Streams { .. }) {
            return match summary.dead_lettered {
                0 => Ok(()),
                n => Err(Failure::Runtime(anyhow!(
                    "{n} rule run(s) failed and went to the dead-letter queue (see `herald dlq list`)"
                ))),
            };
        }
        // The streams ended on their own (no signal): every one has stopped.
        if !summary.interrupted {
            return Err(Failure::Runtime(anyhow!(
                "every change stream stopped:\n  {}\nresume a target with `herald streams resume TARGET` (see `herald status`)",
                summary.stream_stops.join("\n  ")
            )));
        }
        Ok(())
    })
}

/// Plans the change streams of the engine's rules (leaving out stopped
/// targets, with a warning for each), records the plan for `herald status`,
/// and returns the source that opens them.
fn open_streams(
    engine: &herald_engine::Engine,
    client: &mongodb::Client,
    options: &herald_ingest::mongo::MongoSourceOptions,
    uri: &str,
    store: &std::path::Path,
) -> Result<MongoSource, Failure> {
    let plans = plan_with(
        &engine.subscriptions().map_err(exit::run_failure)?,
        &options.stages,
    )
    .map_err(|e| Failure::BadInput(anyhow!("mongodb.streams: {e}")))?;
    let stopped =
        herald_engine::stops::stopped(engine.store()).map_err(|e| exit::run_failure(e.into()))?;
    for (target, stop) in &stopped {
        say::warn(
            format!(
                "{target} is stopped ({}); `herald streams resume {target}` starts it again",
                stop.reason
            ),
            json!({ "watch": target.to_string(), "reason": stop.reason }),
        );
    }
    if plans.is_empty() {
        return Err(Failure::Runtime(anyhow!(
            "every watch target is stopped, so there is no change stream to open; see `herald status`, and resume targets with `herald streams resume TARGET`"
        )));
    }
    for p in &plans {
        let targets: Vec<String> = p.targets.iter().map(ToString::to_string).collect();
        let (targets, rules) = (json!(targets).to_string(), json!(p.rules).to_string());
        tracing::info!(stream = %p.id, %targets, %rules, full_document = p.full_document.as_str(), "opening change stream");
    }
    record_plan(engine, &plans).map_err(exit::run_failure)?;
    say::info(
        format!(
            "herald: {} at {}; store {}",
            summary(&plans),
            redact(uri),
            store.display()
        ),
        json!({ "streams": plans.len(), "uri": redact(uri).to_string(), "store": store.display().to_string() }),
    );
    Ok(MongoSource::new(client.clone(), plans, options.clone()))
}

/// The backoff of streams that cannot start again after a reload: the
/// first wait, and the longest.
const RESTART_BACKOFF: (std::time::Duration, std::time::Duration) = (
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(30),
);

/// Counts snapshot documents on a progress bar (when stderr is a terminal).
struct SnapshotProgress(indicatif::ProgressBar);

impl Observer for SnapshotProgress {
    fn event_done(&mut self, position: &herald_core::Position) {
        if matches!(position, herald_core::Position::Snapshot { .. }) {
            self.0.inc(1);
        }
    }
}

/// The info record `herald status` shows: which streams this run opened for which rules.
pub const STREAMS_INFO: &str = "streams";

/// Records the streams of this run in the store, for `herald status`.
fn record_plan(
    engine: &herald_engine::Engine,
    plans: &[StreamPlan],
) -> Result<(), herald_engine::EngineError> {
    let streams: Vec<serde_json::Value> = plans
        .iter()
        .map(|p| {
            serde_json::json!({
                "id": p.id,
                "targets": p.targets.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "rules": p.rules,
            })
        })
        .collect();
    let info = serde_json::json!({ "summary": summary(plans), "streams": streams });
    let store = engine.store();
    let mut commit = store.begin();
    commit.set_info(STREAMS_INFO, &info);
    store.commit(commit)?;
    Ok(())
}
