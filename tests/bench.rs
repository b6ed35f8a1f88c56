//! `herald bench --quick`: every case runs and the report holds every figure.

use crate::util::{Dir, herald, mongosim_bin};
use serde_json::Value;

fn number(report: &Value, pointer: &str) -> f64 {
    report
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{pointer} missing from the report: {report:#}"))
}

#[test]
fn quick_bench_reports_every_case_and_ratio() {
    let _built = mongosim_bin();
    let dir = Dir::new();
    let out = dir.join("bench.json");
    let mut cmd = herald();
    cmd.arg("bench").arg("--quick").arg("--out").arg(&out);
    // The live cases use a real replica set when one is given.
    if let Ok(uri) = std::env::var("HERALD_TEST_MONGODB_URI") {
        cmd.arg("--mongodb-uri").arg(uri);
    }
    let output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("targets:"), "{stdout}");
    assert!(stdout.contains("timers, 5,000 due"), "{stdout}");

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["quick"], true);
    // Replay: every generated event read, one effect each, real measurements.
    assert_eq!(number(&report, "/replay/events"), 20_000.0);
    assert_eq!(number(&report, "/replay/effects"), 20_000.0);
    assert_eq!(number(&report, "/replay/rules"), 10.0);
    assert!(number(&report, "/replay/events_per_second") > 0.0);
    assert!(number(&report, "/replay/latency/p99_us") >= number(&report, "/replay/latency/p50_us"));
    if cfg!(target_os = "linux") {
        assert!(number(&report, "/replay/peak_rss_mib") > 1.0);
    }
    // Routing scale: the same events through 10,000 rules, and the ratio.
    assert_eq!(number(&report, "/routing_scale/many/rules"), 10_000.0);
    assert_eq!(number(&report, "/routing_scale/many/effects"), 20_000.0);
    let ratio = number(&report, "/routing_scale/ratio_to_10_rules");
    let expected = number(&report, "/routing_scale/many/events_per_second")
        / number(&report, "/replay/events_per_second");
    assert!((ratio - expected).abs() < 1e-9, "{ratio} vs {expected}");
    // Workers: the same CPU-heavy events with 1 and 4 workers, and the ratio.
    assert_eq!(number(&report, "/workers/one/workers"), 1.0);
    assert_eq!(number(&report, "/workers/many/workers"), 4.0);
    assert_eq!(number(&report, "/workers/one/effects"), 2_000.0);
    assert_eq!(number(&report, "/workers/many/effects"), 2_000.0);
    let ratio = number(&report, "/workers/ratio");
    let expected = number(&report, "/workers/many/events_per_second")
        / number(&report, "/workers/one/events_per_second");
    assert!((ratio - expected).abs() < 1e-9, "{ratio} vs {expected}");
    // Live: the same events read by herald and the bare loop, and their ratio.
    let inserted = number(&report, "/live/inserted");
    assert_eq!(number(&report, "/live/herald/events"), inserted + 1.0);
    assert_eq!(number(&report, "/live/bare_driver/events"), inserted + 1.0);
    assert!(number(&report, "/live/ratio_to_bare_driver") > 0.0);
    // Three rounds of each loop, taking turns; the medians are compared.
    let rounds = report["live"]["rounds"].as_array().expect("live rounds");
    assert_eq!(rounds.len(), 3, "{rounds:?}");
    let median = |side: usize| {
        let mut rates: Vec<f64> = rounds.iter().map(|r| r[side].as_f64().unwrap()).collect();
        rates.sort_by(f64::total_cmp);
        rates[1]
    };
    assert_eq!(number(&report, "/live/herald/events_per_second"), median(0));
    assert_eq!(
        number(&report, "/live/bare_driver/events_per_second"),
        median(1)
    );
    let ratio = number(&report, "/live/ratio_to_bare_driver");
    assert!((ratio - median(0) / median(1)).abs() < 1e-9, "{ratio}");
    // The bare loop sends herald's pipeline: its `$match` first.
    assert!(
        report["live"]["pipeline"][0]["$match"].is_object(),
        "{:#}",
        report["live"]
    );
    match report.pointer("/live/pymongo/events") {
        Some(events) => {
            assert_eq!(events.as_f64(), Some(inserted + 1.0));
            assert!(number(&report, "/live/ratio_to_pymongo") > 0.0);
        }
        None => assert!(
            std::env::var("HERALD_REQUIRE_PYMONGO").is_err(),
            "the pymongo loop did not run: {:#}",
            report["live"]
        ),
    }
    // Latency: every insert of the steady phase reached the effect channel.
    assert_eq!(number(&report, "/latency/latency/count"), 2_000.0);
    assert!(number(&report, "/latency/latency/p99_us") > 0.0);
    // Each target is checked against its measurement.
    let targets = report["targets"].as_array().unwrap();
    let with_pymongo = report
        .pointer("/live/ratio_to_pymongo")
        .is_some_and(Value::is_f64);
    // Soak: a longer replay with a store, memory sampled twenty times along the way.
    assert_eq!(number(&report, "/soak/events"), 50_000.0);
    assert_eq!(number(&report, "/soak/effects"), 50_000.0);
    let samples = report["soak"]["rss_mib_by_events"].as_array().unwrap();
    if cfg!(target_os = "linux") {
        assert_eq!(samples.len(), 20, "{samples:?}");
        assert_eq!(samples[19][0], 50_000);
    }
    // One mark per (rule, event); the quick soak's window is 10,000, so the
    // ledger was pruned as it ran: it keeps at least the window and, as
    // documented, less than 1.25 times it.
    let marks = number(&report, "/soak/ledger_marks/0");
    assert_eq!(number(&report, "/soak/ledger_marks/1"), 10_000.0);
    assert!((10_000.0..12_500.0).contains(&marks), "{marks}");
    // Timers: every insert set one, the second run fired them all, one notice each.
    assert_eq!(number(&report, "/timers/timers_fired"), 5_000.0);
    assert_eq!(number(&report, "/timers/setting/events"), 5_000.0);
    assert_eq!(number(&report, "/timers/setting/timers_set"), 5_000.0);
    assert_eq!(number(&report, "/timers/firing/timers_fired"), 5_000.0);
    assert_eq!(number(&report, "/timers/firing/effects"), 5_000.0);
    assert!(number(&report, "/timers/timers_per_second") > 0.0);
    let ratio = number(&report, "/timers/ratio_to_replay");
    let expected =
        number(&report, "/timers/timers_per_second") / number(&report, "/replay/events_per_second");
    assert!((ratio - expected).abs() < 1e-9, "{ratio} vs {expected}");
    if cfg!(target_os = "linux") {
        assert!(number(&report, "/timers/peak_rss_mib") > 1.0);
    }
    assert_eq!(
        targets.len(),
        12 + usize::from(with_pymongo),
        "{targets:#?}"
    );
    for name in [
        "replay latency p99 ms",
        "10,000 rules peak RSS MiB",
        "4 workers / 1 worker, CPU-heavy rules",
        "live herald / bare driver loop",
        "soak events/s, last tenth / first tenth",
    ] {
        assert!(
            targets.iter().any(|t| t["name"] == name),
            "{name}: {targets:#?}"
        );
    }
    for target in targets {
        let (measured, bound) = (
            target["measured"].as_f64().unwrap(),
            target["target"].as_f64().unwrap(),
        );
        let holds = if target["at_least"] == true {
            measured >= bound
        } else {
            measured <= bound
        };
        assert_eq!(target["met"], holds, "{target}");
    }
}

#[test]
fn quick_cluster_bench_reports_scale_and_a_takeover_after_the_lease() {
    let _built = mongosim_bin();
    let dir = Dir::new();
    let out = dir.join("bench.json");
    let output = herald()
        .args(["bench", "--quick", "--cases", "cluster", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("cluster takeover"), "{stdout}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let scale = report["cluster"]["scale"].as_array().unwrap();
    let counts: Vec<f64> = scale.iter().map(|s| number(s, "/instances")).collect();
    assert_eq!(counts, [1.0, 2.0, 3.0]);
    for s in scale {
        assert!(number(s, "/events_per_second") > 0.0, "{s}");
    }
    assert_eq!(number(&report, "/cluster/events"), 1_000.0);
    // A killed instance's leases are not taken while they last: at least
    // the lease less the renewal period the victim had used (not a timing
    // bound, a safety one).
    let lease = number(&report, "/cluster/lease_ms") / 1000.0;
    assert!(
        number(&report, "/cluster/takeover_seconds") >= lease * 2.0 / 3.0,
        "{report:#}"
    );
}
