//! The short table `herald bench` prints after a run.

use super::replay::ReplayResult;
use super::report::{Report, rss_at, thousands};
use std::fmt::Write;

impl Report {
    /// The short table printed after a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "herald bench{}: {} CPUs, {} {}",
            if self.quick { " --quick" } else { "" },
            m.cpus,
            m.os,
            m.arch
        );
        let mut row = |case: &str, measured: String| {
            let _ = writeln!(out, "  {case:<28} {measured}");
        };
        match &self.replay {
            Some(Ok(r)) => row(
                &format!("replay {} events, 10 rules", thousands(r.events)),
                replay_line(r),
            ),
            Some(Err(e)) => row("replay", format!("failed: {e}")),
            None => {}
        }
        match &self.routing_scale {
            Some(Ok(s)) => row(
                &format!("replay, {} rules", thousands(s.many.rules as u64)),
                format!(
                    "{} = {:.2}x the 10-rule rate (rules loaded in {:.1} s)",
                    replay_line(&s.many),
                    s.ratio_to_10_rules,
                    s.many.startup_seconds
                ),
            ),
            Some(Err(e)) => row("routing scale", format!("failed: {e}")),
            None => {}
        }
        match &self.workers {
            Some(Ok(w)) => row(
                &format!("CPU-heavy rules, {} workers", w.many.workers),
                format!(
                    "{} events/s = {:.2}x 1 worker's {} events/s ({} rounds a handler, {:.2} vs {:.2} CPU-s per s)",
                    thousands(w.many.events_per_second as u64),
                    w.ratio,
                    thousands(w.one.events_per_second as u64),
                    thousands(u64::from(w.iterations)),
                    w.many.cpu_seconds.map_or(0.0, |c| c / w.many.seconds),
                    w.one.cpu_seconds.map_or(0.0, |c| c / w.one.seconds),
                ),
            ),
            Some(Err(e)) => row("workers", format!("failed: {e}")),
            None => {}
        }
        match &self.live {
            Some(Ok(l)) => {
                let r = &l.result;
                row(
                    &format!("live {} inserts", thousands(r.inserted)),
                    format!(
                        "herald {}/s, bare driver loop {}/s ({:.2}x), writer {}/s; {}",
                        thousands(r.herald.events_per_second as u64),
                        thousands(r.bare_driver.events_per_second as u64),
                        l.ratio_to_bare_driver,
                        thousands(r.writer_events_per_second as u64),
                        r.server
                    ),
                );
                let py = match (&r.pymongo, l.ratio_to_pymongo) {
                    (Ok(p), Some(ratio)) => format!(
                        "pymongo loop {}/s: herald is {ratio:.1}x",
                        thousands(p.events_per_second as u64)
                    ),
                    (Err(e), _) => format!("pymongo loop not measured: {e}"),
                    _ => String::new(),
                };
                row("", py);
            }
            Some(Err(e)) => row("live", format!("failed: {e}")),
            None => {}
        }
        match &self.latency {
            Some(Ok(l)) => row(
                &format!("latency at {}/s", thousands(l.rate_per_second)),
                format!(
                    "insert -> effect p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({:.0} inserts/s achieved)",
                    l.latency.p50_us as f64 / 1000.0,
                    l.latency.p99_us as f64 / 1000.0,
                    l.latency.max_us as f64 / 1000.0,
                    l.achieved_per_second
                ),
            ),
            Some(Err(e)) => row("latency", format!("failed: {e}")),
            None => {}
        }
        match &self.soak {
            Some(Ok(s)) => row(
                &format!("soak {} events, a store", thousands(s.events)),
                format!(
                    "{}; RSS {} MiB at 20%, {} MiB at the end; ledger {} of {} marks",
                    replay_line(s),
                    rss_at(&s.rss_mib_by_events, 0.2).map_or("-".into(), |m| format!("{m:.1}")),
                    s.rss_mib_by_events
                        .last()
                        .map_or("-".into(), |(_, m)| format!("{m:.1}")),
                    s.ledger_marks.map_or(0, |(m, _)| m),
                    s.ledger_marks.map_or(0, |(_, w)| w),
                ),
            ),
            Some(Err(e)) => row("soak", format!("failed: {e}")),
            None => {}
        }
        match &self.timers {
            Some(Ok(t)) => {
                let r = &t.result;
                let cpu = r
                    .firing
                    .cpu_seconds
                    .map(|c| format!(", {:.2} CPU-s per s", c / r.firing.seconds))
                    .unwrap_or_default();
                let rss = r
                    .peak_rss_mib
                    .map(|m| format!(", peak RSS {m:.1} MiB"))
                    .unwrap_or_default();
                row(
                    &format!("timers, {} due", thousands(r.timers_fired)),
                    format!(
                        "fired {}/s{cpu}{rss} = {:.2}x the replay rate; set {}/s",
                        thousands(r.timers_per_second as u64),
                        t.ratio_to_replay,
                        thousands(r.setting.events_per_second as u64),
                    ),
                );
            }
            Some(Err(e)) => row("timers", format!("failed: {e}")),
            None => {}
        }
        match &self.cluster {
            Some(Ok(c)) => {
                for s in &c.scale {
                    row(
                        &format!("cluster, {} instance(s)", s.instances),
                        format!(
                            "{} events/s ({} events, {} partitions)",
                            thousands(s.events_per_second as u64),
                            thousands(c.events),
                            c.partitions
                        ),
                    );
                }
                row(
                    "cluster takeover",
                    format!(
                        "{:.2} s after a kill (lease {} ms + a renewal period = {:.2} s)",
                        c.takeover_seconds, c.lease_ms, c.takeover_bound_seconds
                    ),
                );
            }
            Some(Err(e)) => row("cluster", format!("failed: {e}")),
            None => {}
        }
        let _ = writeln!(out, "targets:");
        for t in &self.targets {
            let bound = if t.at_least { ">=" } else { "<=" };
            let _ = writeln!(
                out,
                "  {:<40} {:>12} {bound} {:<10} {}",
                t.name,
                format_value(t.measured),
                format_value(t.target),
                t.status()
            );
        }
        out
    }
}

fn replay_line(r: &ReplayResult) -> String {
    let cpu = r
        .cpu_seconds
        .map(|c| format!(", {:.2} CPU-s per s", c / r.seconds))
        .unwrap_or_default();
    let rss = r
        .peak_rss_mib
        .map(|m| format!(", peak RSS {m:.1} MiB"))
        .unwrap_or_default();
    format!(
        "{} events/s{cpu}, latency p50 {:.2} ms p99 {:.2} ms{rss}",
        thousands(r.events_per_second as u64),
        r.latency.p50_us as f64 / 1000.0,
        r.latency.p99_us as f64 / 1000.0,
    )
}

fn format_value(v: f64) -> String {
    if v >= 1000.0 {
        thousands(v as u64)
    } else {
        format!("{v:.2}")
    }
}
