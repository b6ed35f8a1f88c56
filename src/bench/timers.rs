//! The timers case: how fast herald fires due timers.
//!
//! Two replays on one store, each in a process of its own (as the replay
//! case runs), one worker, durable batch commits:
//!
//! 1. *setting*: N inserts, each of its own document, through one rule
//!    whose handler sets a reminder an hour on (`after("1h", ...)`). The
//!    events span less than an hour and the run's clock ends at the last
//!    event, so every reminder is still pending when it ends.
//! 2. *firing*: an empty events file with `--until all`. The run does
//!    nothing but fire the N reminders, each `on_timer` sending one notice
//!    to the no-op channel of the replay case, and commit them.
//!
//! Splitting the runs is what makes the measurement clean: the second run's
//! time is the time to fire N due timers and nothing else, and its peak RSS
//! is that of firing them. The counts are checked exactly: a run that set or
//! fired fewer timers fails the case rather than report a rate of the wrong
//! work.

use super::generate;
use super::replay::{self, ReplayResult};
use herald_engine::timers::Until;
use serde::Serialize;
use std::path::Path;

/// What the timers case measured.
#[derive(Debug, Serialize)]
pub struct TimersResult {
    /// Timers set by the first run and fired by the second.
    pub timers_fired: u64,
    /// Timers fired per second of the firing run.
    pub timers_per_second: f64,
    /// Peak resident memory of the firing run, in MiB.
    pub peak_rss_mib: Option<f64>,
    /// The run that set the timers (its events are the inserts).
    pub setting: ReplayResult,
    /// The run that fired them (no events).
    pub firing: ReplayResult,
}

/// Sets `count` timers, then fires them, in a store under `work`.
pub fn measure(work: &Path, count: u64, keep: bool) -> Result<TimersResult, String> {
    let events = work.join("timer-events.jsonl");
    let none = work.join("no-events.jsonl");
    let rules = work.join("rules-timers");
    let store = work.join("store-timers");
    let _ = std::fs::remove_dir_all(&store);
    let result = set_and_fire(&events, &none, &rules, &store, count);
    if !keep {
        let _ = std::fs::remove_file(&events);
        let _ = std::fs::remove_file(&none);
        let _ = std::fs::remove_dir_all(&store);
    }
    result.map_err(|e| format!("{e:#}"))
}

fn set_and_fire(
    events: &Path,
    none: &Path,
    rules: &Path,
    store: &Path,
    count: u64,
) -> anyhow::Result<TimersResult> {
    generate::write_timer_events(events, count)?;
    generate::write_timer_rule(rules)?;
    std::fs::write(none, "")?;
    let setting = replay::measure(events, rules, store, 0, None, Until::LastEvent)?;
    check("setting", "events", setting.events, count)?;
    check("setting", "timers set", setting.timers_set, count)?;
    // None due by the last event: each waits an hour, the events span less.
    check("setting", "timers fired", setting.timers_fired, 0)?;
    let firing = replay::measure(none, rules, store, 0, None, Until::All)?;
    check("firing", "timers fired", firing.timers_fired, count)?;
    check("firing", "effects", firing.effects, count)?;
    Ok(TimersResult {
        timers_fired: firing.timers_fired,
        timers_per_second: firing.timers_fired as f64 / firing.seconds,
        peak_rss_mib: firing.peak_rss_mib,
        setting,
        firing,
    })
}

/// An error unless the run's `what` came to exactly `expected`.
fn check(run: &str, what: &str, measured: u64, expected: u64) -> anyhow::Result<()> {
    anyhow::ensure!(
        measured == expected,
        "the {run} run counted {measured} {what}, not {expected}: the case measured the wrong work (replay the kept files with `herald bench --cases timers --work-dir DIR` to look)"
    );
    Ok(())
}
