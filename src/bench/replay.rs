//! The replay cases: a file of events through a set of rules, one worker,
//! durable batch commits, measured in a process of its own so that its peak
//! memory is its own. Timers fire by event time, as in `herald replay`.

use super::measure::{self, Latency, Noop};
use crate::cli::BenchCaseArgs;
use crate::exit::{Failure, Outcome};
use anyhow::{Context, anyhow};
use hdrhistogram::Histogram;
use herald_core::Position;
use herald_engine::timers::{TimerClock, Until};
use herald_engine::{Config, Engine, Observer, RunOptions};
use herald_ingest::{Batch, FileSource, Source, SourceError};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// What one replay measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplayResult {
    /// Rules loaded.
    pub rules: usize,
    /// Worker threads.
    pub workers: usize,
    /// Events read and completed.
    pub events: u64,
    /// Effects executed.
    pub effects: u64,
    /// Seconds to load and compile the rules and open the store.
    pub startup_seconds: f64,
    /// Seconds from the first read to the last commit.
    pub seconds: f64,
    /// Events per second of `seconds`.
    pub events_per_second: f64,
    /// CPU seconds the process used while replaying (all threads).
    pub cpu_seconds: Option<f64>,
    /// Read → effects done, per event.
    pub latency: Latency,
    /// Peak resident memory of the process, in MiB.
    pub peak_rss_mib: Option<f64>,
    /// Resident memory (MiB) after every `--rss-every` events: `[events, MiB]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rss_mib_by_events: Vec<(u64, f64)>,
    /// Seconds since the start after every `--rss-every` events: `[events, s]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seconds_by_events: Vec<(u64, f64)>,
    /// Events/s over the last tenth of the events (at least one sample
    /// interval) over events/s over the first tenth: below 1, the run slowed
    /// down as its store grew. Only with `--rss-every`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_to_first_rate: Option<f64>,
    /// (rule, event) marks the dedupe ledger held at the end, and its window.
    #[serde(default)]
    pub ledger_marks: Option<(usize, usize)>,
    /// Timers the handlers set.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timers_set: u64,
    /// Timers fired (their effects are counted in `effects`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timers_fired: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Runs one replay with one worker in a child process (`herald
/// bench-case`) and reads its result. At the end of the events, the timers
/// due by `until` fire.
pub fn measure(
    events: &Path,
    rules: &Path,
    store: &Path,
    rss_every: u64,
    ledger_window: Option<usize>,
    until: Until,
) -> anyhow::Result<ReplayResult> {
    measure_with_workers(events, rules, store, rss_every, ledger_window, until, 1)
}

/// [`measure`] with `workers` worker threads.
pub fn measure_with_workers(
    events: &Path,
    rules: &Path,
    store: &Path,
    rss_every: u64,
    ledger_window: Option<usize>,
    until: Until,
    workers: usize,
) -> anyhow::Result<ReplayResult> {
    let exe = std::env::current_exe().context("find the herald executable")?;
    let mut command = std::process::Command::new(exe);
    command
        .arg("bench-case")
        .arg(events)
        .arg("--rules")
        .arg(rules)
        .arg("--store")
        .arg(store)
        .arg("--rss-every")
        .arg(rss_every.to_string())
        .arg("--workers")
        .arg(workers.to_string());
    if let Some(window) = ledger_window {
        command.arg("--ledger-window").arg(window.to_string());
    }
    match until {
        Until::LastEvent => {}
        Until::All => {
            command.arg("--until").arg("all");
        }
        Until::At(time) => {
            command.arg("--until").arg(time.try_to_rfc3339_string()?);
        }
    }
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("run `herald bench-case`")?;
    if !output.status.success() {
        return Err(anyhow!("`herald bench-case` failed: {}", output.status));
    }
    serde_json::from_slice(&output.stdout).context("read the bench-case result")
}

/// `herald bench-case`: replays once and prints the result as JSON.
pub fn run_case(args: BenchCaseArgs) -> Outcome {
    let result = replay(&args).map_err(Failure::Runtime)?;
    println!(
        "{}",
        serde_json::to_string(&result).expect("results serialize")
    );
    Ok(())
}

fn replay(args: &BenchCaseArgs) -> anyhow::Result<ReplayResult> {
    let begun = Instant::now();
    let mut config = Config::default();
    // One worker by default; its handlers run on a thread of their own
    // (as every worker's do), the source and commits on a current-thread runtime.
    config.engine.workers = args.workers.max(1);
    if let Some(window) = args.ledger_window {
        config.engine.ledger_window = window;
    }
    let options = RunOptions {
        timers: TimerClock::EventTime {
            until: args.until.unwrap_or_default(),
        },
        ..RunOptions::default()
    };
    let engine = Engine::builder()
        .rules_dir(&args.rules)
        .store_path(&args.store)
        .config(config)
        .options(options)
        .effect("bench", Noop)
        .build()
        .map_err(|e| anyhow!("{e}"))?;
    let rules = engine.rules().len();
    let source = Stamped::new(FileSource::open(&args.events)?);
    let mut observer = LatencyObserver {
        read_at: source.read_at.clone(),
        epoch: source.epoch,
        histogram: measure::histogram(),
        done: 0,
        rss_every: args.rss_every,
        rss: Vec::new(),
        times: Vec::new(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let startup_seconds = begun.elapsed().as_secs_f64();
    let cpu_before = measure::cpu_seconds();
    let started = Instant::now();
    let summary = runtime
        .block_on(engine.run(source, &mut observer, std::future::pending::<()>()))
        .map_err(|e| anyhow!("{e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = measure::cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    Ok(ReplayResult {
        rules,
        workers: args.workers.max(1),
        events: summary.events,
        effects: summary.effects,
        startup_seconds,
        seconds,
        events_per_second: summary.events as f64 / seconds,
        cpu_seconds,
        latency: Latency::of(&observer.histogram),
        peak_rss_mib: measure::peak_rss_bytes().map(mib),
        last_to_first_rate: last_to_first_rate(&observer.times, args.rss_every),
        rss_mib_by_events: observer.rss,
        seconds_by_events: observer.times,
        ledger_marks: {
            let stats = engine.store().ledger_stats();
            Some((stats.marks, stats.window))
        },
        timers_set: summary.timers_set,
        timers_fired: summary.timers_fired,
    })
}

/// Read times of in-flight events, by line number modulo the ring size
/// (far more than the engine's queues ever hold).
const RING: usize = 1 << 16;

/// A source that notes when each event was read.
struct Stamped {
    inner: FileSource,
    epoch: Instant,
    read_at: Arc<[AtomicU64]>,
}

impl Stamped {
    fn new(inner: FileSource) -> Self {
        Self {
            inner,
            epoch: Instant::now(),
            read_at: (0..RING).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Source for Stamped {
    fn streams(&self) -> Vec<String> {
        self.inner.streams()
    }

    fn resume_from(&mut self, stream: &str, position: &Position) -> Result<(), SourceError> {
        self.inner.resume_from(stream, position)
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        let batch = self.inner.next_batch().await?;
        if let Some(batch) = &batch {
            let now = self.epoch.elapsed().as_micros() as u64;
            for item in &batch.events {
                if let Position::File { line, .. } = item.position {
                    self.read_at[line as usize % RING].store(now, Ordering::Relaxed);
                }
            }
        }
        Ok(batch)
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

struct LatencyObserver {
    read_at: Arc<[AtomicU64]>,
    epoch: Instant,
    histogram: Histogram<u64>,
    /// Events completed.
    done: u64,
    /// Sample the resident memory every this many events (0: never).
    rss_every: u64,
    /// The samples: events completed, MiB resident.
    rss: Vec<(u64, f64)>,
    /// The samples: events completed, seconds since the epoch.
    times: Vec<(u64, f64)>,
}

/// The rate over the last tenth of the samples `times` (events, seconds
/// since the start, every `every` events) over the rate over the first tenth.
fn last_to_first_rate(times: &[(u64, f64)], every: u64) -> Option<f64> {
    let &(total, end) = times.last()?;
    // A tenth of the events, in whole sample intervals (at least one).
    let window = (total / 10 / every.max(1)).max(1) * every;
    let at = |events: u64| times.iter().find(|(n, _)| *n == events).map(|(_, s)| *s);
    let first = window as f64 / at(window)?;
    let last = window as f64 / (end - at(total.checked_sub(window)?).unwrap_or(0.0));
    (first.is_finite() && last.is_finite()).then(|| last / first)
}

impl Observer for LatencyObserver {
    fn event_done(&mut self, position: &Position) {
        self.done += 1;
        if self.rss_every > 0
            && self.done.is_multiple_of(self.rss_every)
            && let Some(bytes) = measure::rss_bytes()
        {
            self.rss.push((self.done, mib(bytes)));
            self.times
                .push((self.done, self.epoch.elapsed().as_secs_f64()));
        }
        if let Position::File { line, .. } = position {
            let read = self.read_at[*line as usize % RING].load(Ordering::Relaxed);
            let now = self.epoch.elapsed().as_micros() as u64;
            self.histogram
                .saturating_record(now.saturating_sub(read).max(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::last_to_first_rate;

    #[test]
    fn the_rate_ratio_compares_the_last_tenth_with_the_first() {
        // 100 events a sample; the first 200 take 1 s each 100, the last 200 take 2 s.
        let mut times = Vec::new();
        let mut t = 0.0;
        for n in (100..=2000).step_by(100) {
            t += if n > 1800 { 2.0 } else { 1.0 };
            times.push((n, t));
        }
        assert_eq!(last_to_first_rate(&times, 100), Some(0.5));
        assert_eq!(last_to_first_rate(&[], 100), None);
    }
}
