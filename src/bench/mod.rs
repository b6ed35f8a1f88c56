//! `herald bench`: herald against its targets and the plain change-stream loops.
//!
//! Cases (all by default, or `--cases`):
//! - `replay`: generated events through 10 rules, one intent per event to a
//!   no-op channel, one worker, durable batch commits; events/s, per-event
//!   latency (read → effects done) and peak RSS, in a process of its own.
//! - `rules`: the same events through 10,000 rules; the ratio to 10, and
//!   peak RSS.
//! - `workers`: CPU-heavy rules replayed with 4 workers and with 1; the ratio.
//! - `live`: a `mongosim` process (or `--mongodb-uri`): herald vs a bare Rust
//!   driver loop vs the pymongo tutorial loop on the same events.
//! - `latency`: insert → effect at a steady 1,000 inserts/s.
//! - `soak`: 10,000,000 events through 10 rules with a store (the ledger,
//!   state and commits at full length): peak RSS, and RSS sampled along the
//!   way to show that memory stays flat however long herald runs.
//! - `timers`: 100,000 inserts set a timer each, then a second run fires
//!   them all: timers fired/s and its ratio to the replay case's events/s,
//!   so the replay case runs with it.
//! - `cluster`: `herald run` in cluster mode with 1, 2 and 3 instances on a
//!   CPU-heavy rule (events/s), and the takeover time after one of two is
//!   killed; not in the default set (run it with `--cases cluster`).
//!
//! The report goes to `target/herald-bench.json` and a table to stdout.

mod cluster;
mod generate;
mod live;
mod measure;
pub mod replay;
mod report;
mod table;
mod timers;
mod workers;

use crate::cli::{BenchArgs, BenchCase};
use crate::exit::{Failure, Outcome};
use anyhow::{Context, anyhow};
use herald_engine::timers::Until;
use report::{Live, Report, RoutingScale, Timers};
use std::path::Path;

/// The ledger window of the `--quick` soak: smaller than its events, so the
/// ledger is pruned while it runs.
const QUICK_LEDGER_WINDOW: usize = 10_000;

/// Sizes of one run.
struct Sizes {
    replay_events: u64,
    soak_events: u64,
    many_rules: usize,
    workers_events: u64,
    live_inserts: u64,
    latency_seconds: u64,
    timers: u64,
}

impl Sizes {
    fn new(args: &BenchArgs) -> Self {
        let (replay_events, soak_events, live_inserts, latency_seconds, timers) = if args.quick {
            (20_000, 50_000, 5_000, 2, 5_000)
        } else {
            (1_000_000, 10_000_000, 100_000, 10, 100_000)
        };
        let workers_events = if args.quick { 2_000 } else { 20_000 };
        Self {
            replay_events: args.events.unwrap_or(replay_events),
            soak_events: args.soak_events.unwrap_or(soak_events),
            many_rules: 10_000,
            workers_events,
            live_inserts,
            latency_seconds,
            timers: args.timers.unwrap_or(timers),
        }
    }
}

/// Runs the command.
pub fn run(args: BenchArgs) -> Outcome {
    let sizes = Sizes::new(&args);
    let cases = if args.cases.is_empty() {
        vec![
            BenchCase::Replay,
            BenchCase::Rules,
            BenchCase::Workers,
            BenchCase::Live,
            BenchCase::Latency,
            BenchCase::Soak,
            BenchCase::Timers,
        ]
    } else {
        args.cases.clone()
    };
    // Generated files go to a temporary directory, or stay in --work-dir for profiling.
    let scratch;
    let work = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("create {}", dir.display()))
                .map_err(Failure::BadInput)?;
            dir.as_path()
        }
        None => {
            scratch = tempfile::tempdir()
                .context("create a scratch directory")
                .map_err(Failure::Runtime)?;
            scratch.path()
        }
    };
    let keep = args.work_dir.is_some();

    let mut report = Report {
        herald_version: env!("CARGO_PKG_VERSION"),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        quick: args.quick,
        machine: report::Machine::this(),
        ..Report::default()
    };
    let wants = |case| cases.contains(&case);
    // The timers case's target is a ratio to the replay case's rate: it runs the replay case too.
    if wants(BenchCase::Replay) || wants(BenchCase::Rules) || wants(BenchCase::Timers) {
        let events = work.join("events.jsonl");
        crate::logging::say::info(
            format!(
                "bench: generating {} events",
                report::thousands(sizes.replay_events)
            ),
            serde_json::json!({}),
        );
        generate::write_events(&events, sizes.replay_events).map_err(Failure::Runtime)?;
        crate::logging::say::info("bench: replay through 10 rules", serde_json::json!({}));
        let ten = replay_with_rules(work, &events, 10, "ten", keep, 0, None);
        if wants(BenchCase::Rules) {
            crate::logging::say::info(
                format!(
                    "bench: replay through {} rules",
                    report::thousands(sizes.many_rules as u64)
                ),
                serde_json::json!({}),
            );
            let many = replay_with_rules(work, &events, sizes.many_rules, "many", keep, 0, None);
            report.routing_scale = Some(match (&ten, many) {
                (Ok(ten), Ok(many)) => Ok(RoutingScale {
                    ratio_to_10_rules: many.events_per_second / ten.events_per_second,
                    many,
                }),
                (Err(e), _) => Err(format!("the 10-rule baseline failed: {e}")),
                (_, Err(e)) => Err(e),
            });
        }
        report.replay = Some(ten);
        if !keep {
            let _ = std::fs::remove_file(&events);
        }
    }
    if wants(BenchCase::Workers) {
        crate::logging::say::info(
            format!(
                "bench: workers, {} events through CPU-heavy rules with 1 and {} workers",
                report::thousands(sizes.workers_events),
                workers::WORKERS
            ),
            serde_json::json!({}),
        );
        report.workers = Some(workers::measure(work, sizes.workers_events, keep));
    }
    if wants(BenchCase::Timers) {
        crate::logging::say::info(
            format!(
                "bench: timers, setting then firing {}",
                report::thousands(sizes.timers)
            ),
            serde_json::json!({}),
        );
        let fired = timers::measure(work, sizes.timers, keep);
        report.timers = Some(match (&report.replay, fired) {
            (Some(Ok(replay)), Ok(result)) => Ok(Timers {
                ratio_to_replay: result.timers_per_second / replay.events_per_second,
                result,
            }),
            (Some(Err(e)), _) => Err(format!("the replay baseline failed: {e}")),
            (None, _) => Err("the replay baseline did not run".to_owned()),
            (_, Err(e)) => Err(e),
        });
    }
    if wants(BenchCase::Soak) {
        let events = work.join("soak-events.jsonl");
        crate::logging::say::info(
            format!(
                "bench: generating {} events for the soak case",
                report::thousands(sizes.soak_events)
            ),
            serde_json::json!({}),
        );
        report.soak = Some(
            generate::write_events(&events, sizes.soak_events)
                .map_err(|e| format!("{e:#}"))
                .and_then(|()| {
                    crate::logging::say::info(
                        "bench: soak, a long replay with a store",
                        serde_json::json!({}),
                    );
                    // Twenty samples along the way.
                    let every = (sizes.soak_events / 20).max(1);
                    // --quick: a small window, so the run prunes the ledger as a long one does.
                    let window = args.quick.then_some(QUICK_LEDGER_WINDOW);
                    replay_with_rules(work, &events, 10, "soak", keep, every, window)
                }),
        );
        if !keep {
            let _ = std::fs::remove_file(&events);
        }
    }
    if wants(BenchCase::Live) || wants(BenchCase::Latency) {
        let live = run_live(&args, &sizes, &cases, work);
        match live {
            Ok((live, latency)) => {
                report.live = live;
                report.latency = latency;
            }
            Err(e) => {
                let message = format!("{e:#}");
                if wants(BenchCase::Live) {
                    report.live = Some(Err(message.clone()));
                }
                if wants(BenchCase::Latency) {
                    report.latency = Some(Err(message));
                }
            }
        }
    }
    if wants(BenchCase::Cluster) {
        let (events, iterations) = if args.quick {
            (1_000, 2_000)
        } else {
            (10_000, 20_000)
        };
        crate::logging::say::info(
            format!(
                "bench: cluster, {} events with 1, 2 and 3 instances, then a takeover",
                report::thousands(events)
            ),
            serde_json::json!({}),
        );
        report.cluster = Some(
            live::Server::start(args.mongodb_uri.clone())
                .and_then(|server| cluster::measure(&server, events, iterations, work))
                .map_err(|e| format!("{e:#}")),
        );
    }
    report.generated_at = bson::DateTime::now()
        .try_to_rfc3339_string()
        .unwrap_or_default();
    report.check_targets();
    write_report(&args.out, &report).map_err(Failure::Runtime)?;
    print!("{}", report.table());
    println!("report: {}", args.out.display());
    if report.has_errors() {
        return Err(Failure::Runtime(anyhow!(
            "some cases could not be measured (see above)"
        )));
    }
    Ok(())
}

fn replay_with_rules(
    work: &Path,
    events: &Path,
    rules: usize,
    name: &str,
    keep: bool,
    rss_every: u64,
    ledger_window: Option<usize>,
) -> Result<replay::ReplayResult, String> {
    let dir = work.join(format!("rules-{name}"));
    generate::write_rules(&dir, rules).map_err(|e| format!("{e:#}"))?;
    let store = work.join(format!("store-{name}"));
    let _ = std::fs::remove_dir_all(&store);
    let result = replay::measure(
        events,
        &dir,
        &store,
        rss_every,
        ledger_window,
        Until::LastEvent,
    )
    .map_err(|e| format!("{e:#}"));
    if !keep {
        let _ = std::fs::remove_dir_all(&store);
    }
    result
}

type LiveResults = (
    Option<Result<Live, String>>,
    Option<Result<live::LatencyResult, String>>,
);

fn run_live(
    args: &BenchArgs,
    sizes: &Sizes,
    cases: &[BenchCase],
    work: &Path,
) -> anyhow::Result<LiveResults> {
    let server = live::Server::start(args.mongodb_uri.clone())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut results: LiveResults = (None, None);
        if cases.contains(&BenchCase::Live) {
            crate::logging::say::info(
                format!(
                    "bench: live, {} inserts",
                    report::thousands(sizes.live_inserts)
                ),
                serde_json::json!({}),
            );
            results.0 = Some(
                live::throughput(&server, sizes.live_inserts, work)
                    .await
                    .map(|result| Live {
                        ratio_to_bare_driver: result.herald.events_per_second
                            / result.bare_driver.events_per_second,
                        ratio_to_pymongo: result
                            .pymongo
                            .as_ref()
                            .ok()
                            .map(|p| result.herald.events_per_second / p.events_per_second),
                        result,
                    })
                    .map_err(|e| format!("{e:#}")),
            );
        }
        if cases.contains(&BenchCase::Latency) {
            crate::logging::say::info(
                format!(
                    "bench: latency at 1,000 inserts/s for {} s",
                    sizes.latency_seconds
                ),
                serde_json::json!({}),
            );
            results.1 = Some(
                live::latency(&server, 1_000, sizes.latency_seconds, work)
                    .await
                    .map_err(|e| format!("{e:#}")),
            );
        }
        Ok(results)
    })
}

fn write_report(path: &Path, report: &Report) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let json = serde_json::to_string_pretty(report)?;
    std::fs::write(path, json + "\n").with_context(|| format!("write {}", path.display()))
}
