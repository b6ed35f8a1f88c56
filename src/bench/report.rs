//! The benchmark report: every figure as JSON, and a short table against the targets.

use super::live::{LatencyResult, LiveResult};
use super::replay::ReplayResult;
use super::timers::TimersResult;
use serde::Serialize;

/// Everything one `herald bench` run measured.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// herald's version.
    pub herald_version: &'static str,
    /// When the run ended (UTC, RFC 3339).
    pub generated_at: String,
    /// The command line that produced it.
    pub command: String,
    /// Whether this was the small `--quick` run.
    pub quick: bool,
    /// The machine.
    pub machine: Machine,
    /// Replay through 10 rules.
    #[serde(serialize_with = "case")]
    pub replay: Option<Result<ReplayResult, String>>,
    /// Replay through 10,000 rules, and its ratio to 10.
    #[serde(serialize_with = "case")]
    pub routing_scale: Option<Result<RoutingScale, String>>,
    /// CPU-heavy rules with 4 workers and with 1.
    #[serde(serialize_with = "case")]
    pub workers: Option<Result<super::workers::WorkersResult, String>>,
    /// Live throughput: herald, the bare driver loop, the pymongo loop.
    #[serde(serialize_with = "case")]
    pub live: Option<Result<Live, String>>,
    /// Insert → effect latency at a steady rate.
    #[serde(serialize_with = "case")]
    pub latency: Option<Result<LatencyResult, String>>,
    /// A long replay with a store: peak RSS and RSS along the way.
    #[serde(serialize_with = "case")]
    pub soak: Option<Result<ReplayResult, String>>,
    /// Firing due timers, and the rate's ratio to the replay case's.
    #[serde(serialize_with = "case")]
    pub timers: Option<Result<Timers, String>>,
    /// Cluster mode: events/s with 1, 2 and 3 instances, and the takeover time.
    #[serde(serialize_with = "case")]
    pub cluster: Option<Result<super::cluster::ClusterResult, String>>,
    /// Each target, and whether it was met.
    pub targets: Vec<Target>,
}

/// A case that was not run is `null`; one that failed is `{"error": "..."}`.
fn case<T: Serialize, S: serde::Serializer>(
    value: &Option<Result<T, String>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        None => serializer.serialize_none(),
        Some(result) => outcome(result, serializer),
    }
}

/// A measurement as itself, or `{"error": "..."}` if it could not be made.
pub(super) fn outcome<T: Serialize, S: serde::Serializer>(
    value: &Result<T, String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Failed<'a> {
        error: &'a str,
    }
    match value {
        Ok(measured) => measured.serialize(serializer),
        Err(error) => Failed { error }.serialize(serializer),
    }
}

/// Where the run happened.
#[derive(Debug, Default, Serialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cpus: usize,
    /// Operating system.
    pub os: &'static str,
    /// CPU architecture.
    pub arch: &'static str,
}

impl Machine {
    /// This machine.
    pub fn this() -> Self {
        Self {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
        }
    }
}

/// The routing scale case.
#[derive(Debug, Serialize)]
pub struct RoutingScale {
    /// The 10,000-rule replay.
    pub many: ReplayResult,
    /// Its throughput over the 10-rule replay's.
    pub ratio_to_10_rules: f64,
}

/// The live case with its ratios.
#[derive(Debug, Serialize)]
pub struct Live {
    /// The measurements.
    #[serde(flatten)]
    pub result: LiveResult,
    /// herald's throughput over the bare driver loop's.
    pub ratio_to_bare_driver: f64,
    /// herald's throughput over the pymongo loop's.
    pub ratio_to_pymongo: Option<f64>,
}

/// The timers case with its ratio.
#[derive(Debug, Serialize)]
pub struct Timers {
    /// The measurements.
    #[serde(flatten)]
    pub result: TimersResult,
    /// Timers fired per second over the replay case's events per second.
    pub ratio_to_replay: f64,
}

/// One target and how far the run is from it.
#[derive(Debug, Serialize)]
pub struct Target {
    /// What is measured.
    pub name: &'static str,
    /// The measured value.
    pub measured: f64,
    /// The bound.
    pub target: f64,
    /// Whether larger is better (else smaller is).
    pub at_least: bool,
    /// Whether the bound holds.
    pub met: bool,
}

impl Target {
    fn at_least(name: &'static str, measured: f64, target: f64) -> Self {
        Self {
            name,
            measured,
            target,
            at_least: true,
            met: measured >= target,
        }
    }

    fn at_most(name: &'static str, measured: f64, target: f64) -> Self {
        Self {
            name,
            measured,
            target,
            at_least: false,
            met: measured <= target,
        }
    }

    /// "met", or how far the measurement is from the bound.
    pub fn status(&self) -> String {
        if self.met {
            "met".into()
        } else if self.at_least {
            format!(
                "missed: {:.0}% short",
                100.0 * (1.0 - self.measured / self.target)
            )
        } else {
            format!(
                "missed: {:.0}% over",
                100.0 * (self.measured / self.target - 1.0)
            )
        }
    }
}

/// The first RSS sample at or after `fraction` of the events.
pub fn rss_at(samples: &[(u64, f64)], fraction: f64) -> Option<f64> {
    let total = samples.last()?.0 as f64;
    samples
        .iter()
        .find(|(events, _)| *events as f64 >= fraction * total)
        .map(|(_, mib)| *mib)
}

/// How much the resident memory grew over the last 80% of a run, from its
/// peaks: the largest sample of the last fifth less the largest of the
/// fifth after the first (20% to 40%), scaled from the 60% between those
/// stretches' ends to the 80%. Peaks against peaks over equal stretches:
/// memory that rises and falls as tables fill and are freed (a sawtooth) is
/// flat and reads close to zero, however deep its troughs, while memory
/// that grows steadily reads as what it gained over the 80%.
pub fn rss_growth_mib(samples: &[(u64, f64)]) -> Option<f64> {
    let total = samples.last()?.0 as f64;
    let peak = |from: f64, to: f64| {
        samples
            .iter()
            .filter(|(events, _)| (from * total..=to * total).contains(&(*events as f64)))
            .map(|(_, mib)| *mib)
            .reduce(f64::max)
    };
    let earlier = peak(0.2, 0.4)?;
    let later = peak(0.8, 1.0)?;
    Some(((later - earlier) * 0.8 / 0.6).max(0.0))
}

impl Report {
    /// Fills in `targets` from the measurements.
    pub fn check_targets(&mut self) {
        let mut targets = Vec::new();
        if let Some(Ok(r)) = &self.replay {
            targets.push(Target::at_least(
                "replay events/s (10 rules, 1 worker)",
                r.events_per_second,
                200_000.0,
            ));
            targets.push(Target::at_most(
                "replay latency p99 ms",
                r.latency.p99_us as f64 / 1000.0,
                5.0,
            ));
            if let Some(rss) = r.peak_rss_mib {
                targets.push(Target::at_most("replay peak RSS MiB", rss, 64.0));
            }
        }
        if let Some(Ok(s)) = &self.routing_scale {
            targets.push(Target::at_least(
                "10,000 rules / 10 rules throughput",
                s.ratio_to_10_rules,
                0.8,
            ));
            if let Some(rss) = s.many.peak_rss_mib {
                targets.push(Target::at_most("10,000 rules peak RSS MiB", rss, 96.0));
            }
        }
        if let Some(Ok(w)) = &self.workers {
            targets.push(Target::at_least(
                "4 workers / 1 worker, CPU-heavy rules",
                w.ratio,
                1.7,
            ));
        }
        if let Some(Ok(l)) = &self.live {
            targets.push(Target::at_least(
                "live herald / bare driver loop",
                l.ratio_to_bare_driver,
                0.8,
            ));
            if let Some(ratio) = l.ratio_to_pymongo {
                targets.push(Target::at_least("live herald / pymongo loop", ratio, 20.0));
            }
        }
        if let Some(Ok(s)) = &self.soak {
            if let Some(rss) = s.peak_rss_mib {
                targets.push(Target::at_most("soak peak RSS MiB", rss, 64.0));
            }
            if let Some(growth) = rss_growth_mib(&s.rss_mib_by_events) {
                targets.push(Target::at_most(
                    "soak RSS growth MiB, last 80% of events",
                    growth,
                    4.0,
                ));
            }
            if let Some(rate) = s.last_to_first_rate {
                targets.push(Target::at_least(
                    "soak events/s, last tenth / first tenth",
                    rate,
                    0.9,
                ));
            }
        }
        if let Some(Ok(t)) = &self.timers {
            targets.push(Target::at_least(
                "timers fired/s / replay events/s",
                t.ratio_to_replay,
                0.5,
            ));
        }
        if let Some(Ok(l)) = &self.latency {
            targets.push(Target::at_most(
                "latency p99 ms at 1,000 inserts/s",
                l.latency.p99_us as f64 / 1000.0,
                20.0,
            ));
        }
        self.targets = targets;
    }

    /// True if some case could not be measured.
    pub fn has_errors(&self) -> bool {
        self.replay.as_ref().is_some_and(Result::is_err)
            || self.routing_scale.as_ref().is_some_and(Result::is_err)
            || self.workers.as_ref().is_some_and(Result::is_err)
            || self.live.as_ref().is_some_and(Result::is_err)
            || self.latency.as_ref().is_some_and(Result::is_err)
            || self.soak.as_ref().is_some_and(Result::is_err)
            || self.timers.as_ref().is_some_and(Result::is_err)
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_growth_is_measured_over_the_last_80_percent() {
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        // A sawtooth (tables filling and freed) is flat, however deep its
        // troughs, and wherever they fall: here the sample at 20% is one.
        let sawtooth: Vec<(u64, f64)> = (1..=20)
            .map(|i| (i * 10, if i % 4 == 0 { 46.0 } else { 50.5 }))
            .collect();
        assert_eq!(sawtooth[3], (40, 46.0), "the 20% sample is a trough");
        assert!(close(rss_growth_mib(&sawtooth), 0.0));
        // A steady leak of 0.5 MiB per tenth reads as the 4 MiB it gained
        // over the last 80%.
        let leak: Vec<(u64, f64)> = (1..=20).map(|i| (i * 10, 40.0 + 0.25 * i as f64)).collect();
        assert!(
            close(rss_growth_mib(&leak), 4.0),
            "{:?}",
            rss_growth_mib(&leak)
        );
        // The same leak over a sawtooth reads the same.
        let both: Vec<(u64, f64)> = leak
            .iter()
            .zip(&sawtooth)
            .map(|(&(n, l), &(_, s))| (n, l + s - 50.5))
            .collect();
        assert!(
            close(rss_growth_mib(&both), 4.0),
            "{:?}",
            rss_growth_mib(&both)
        );
        // The first 20% (loading, warming up) does not count.
        let warming = [(10, 20.0), (30, 40.0), (60, 40.5), (90, 40.3), (100, 40.0)];
        assert!(close(rss_growth_mib(&warming), 0.4));
        // Memory that falls reads as no growth.
        let falling = [(30, 44.0), (100, 40.0)];
        assert!(close(rss_growth_mib(&falling), 0.0));
        assert_eq!(rss_growth_mib(&[]), None);
        assert_eq!(rss_growth_mib(&[(100, 40.0)]), None);
    }

    #[test]
    fn failed_cases_say_why_and_skipped_ones_are_null() {
        let report = Report {
            replay: Some(Err("the events file is missing".into())),
            ..Report::default()
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["replay"],
            serde_json::json!({"error": "the events file is missing"})
        );
        assert!(json["latency"].is_null());
        assert!(report.has_errors());
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn targets_say_how_far_they_are() {
        let short = Target::at_least("x", 75_000.0, 100_000.0);
        assert!(!short.met);
        assert_eq!(short.status(), "missed: 25% short");
        let over = Target::at_most("y", 80.0, 64.0);
        assert_eq!(over.status(), "missed: 25% over");
        assert_eq!(Target::at_most("z", 10.0, 20.0).status(), "met");
    }
}
