//! What the benchmark measures with: process counters, latency histograms,
//! and a channel that does nothing.

use hdrhistogram::Histogram;
use herald_core::Effect;
use herald_engine::effects::{BoxFuture, Channel, EffectError};
use serde::Serialize;

/// A notify channel that completes every effect at once, so the benchmark
/// measures herald, not a receiver.
pub struct Noop;

impl Channel for Noop {
    fn send<'a>(&'a self, _effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The process's peak resident set size in bytes (Linux: `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_kb("VmHWM:").map(|kb| kb * 1024)
}

/// The process's resident set size now, in bytes (Linux: `VmRSS`).
pub fn rss_bytes() -> Option<u64> {
    proc_status_kb("VmRSS:").map(|kb| kb * 1024)
}

fn proc_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// CPU time (user + system) the process has used, in seconds (Linux).
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux architecture herald targets.
    Some(ticks as f64 / 100.0)
}

/// A latency histogram in microseconds, from 1 µs to 10 minutes.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// Percentiles of a latency histogram.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Median, in microseconds.
    pub p50_us: u64,
    /// 99th percentile, in microseconds.
    pub p99_us: u64,
    /// Largest, in microseconds.
    pub max_us: u64,
}

impl Latency {
    /// Summarises a histogram.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        Self {
            count: histogram.len(),
            p50_us: histogram.value_at_quantile(0.50),
            p99_us: histogram.value_at_quantile(0.99),
            max_us: histogram.max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_counters_are_read_on_linux() {
        if cfg!(target_os = "linux") {
            let rss = peak_rss_bytes().unwrap();
            assert!(rss > 1024 * 1024, "{rss}");
            assert!(cpu_seconds().unwrap() >= 0.0);
        }
    }

    #[test]
    fn percentiles_come_from_the_samples() {
        let mut h = histogram();
        for us in 1..=100 {
            h.record(us).unwrap();
        }
        let l = Latency::of(&h);
        assert_eq!((l.count, l.p50_us, l.p99_us, l.max_us), (100, 50, 99, 100));
    }
}
