//! The workers case: CPU-heavy rules replayed with one worker, then four.
//!
//! More workers pay where handlers spend CPU: events of different documents
//! run in parallel (each document's in order, on the worker that owns it).
//! The replay case's generated events go through ten rules whose handlers
//! each run a loop of arithmetic before their notice, once with one worker
//! and once with [`WORKERS`]; the ratio of the two rates is what the
//! machine's cores buy. Each run is a process of its own, as in the replay
//! case, with durable batch commits.

use super::generate;
use super::replay::{self, ReplayResult};
use herald_engine::timers::Until;
use serde::Serialize;
use std::path::Path;

/// Workers of the parallel run.
pub const WORKERS: usize = 4;

/// Rounds of each handler's loop: about half a millisecond per event in a
/// release build (a sandboxed Rhai round is a few operations, each checked
/// against the call's limits), many times the rest of an event's cost.
const ITERATIONS: u32 = 1_000;

/// What the case measured.
#[derive(Debug, Clone, Serialize)]
pub struct WorkersResult {
    /// Rounds of each handler's loop.
    pub iterations: u32,
    /// The run with one worker.
    pub one: ReplayResult,
    /// The run with [`WORKERS`].
    pub many: ReplayResult,
    /// `many`'s events/s over `one`'s.
    pub ratio: f64,
}

/// Runs the case on `count` generated events.
pub fn measure(work: &Path, count: u64, keep: bool) -> Result<WorkersResult, String> {
    let events = work.join("workers-events.jsonl");
    let rules = work.join("rules-workers");
    let result = run(work, &events, &rules, count).map_err(|e| format!("{e:#}"));
    if !keep {
        let _ = std::fs::remove_file(&events);
        let _ = std::fs::remove_dir_all(&rules);
    }
    result
}

fn run(work: &Path, events: &Path, rules: &Path, count: u64) -> anyhow::Result<WorkersResult> {
    generate::write_events(events, count)?;
    generate::write_rules_spending(rules, generate::KINDS, ITERATIONS)?;
    let replay = |workers: usize| {
        let store = work.join(format!("store-workers-{workers}"));
        let _ = std::fs::remove_dir_all(&store);
        let result =
            replay::measure_with_workers(events, rules, &store, 0, None, Until::LastEvent, workers);
        let _ = std::fs::remove_dir_all(&store);
        result
    };
    let one = replay(1)?;
    let many = replay(WORKERS)?;
    for run in [&one, &many] {
        anyhow::ensure!(
            run.events == count && run.effects == count,
            "the {}-worker run completed {} events and {} effects, not {count} of each",
            run.workers,
            run.events,
            run.effects
        );
    }
    Ok(WorkersResult {
        iterations: ITERATIONS,
        ratio: many.events_per_second / one.events_per_second,
        one,
        many,
    })
}
