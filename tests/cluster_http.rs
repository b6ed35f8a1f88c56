//! Cluster mode's HTTP endpoint: each instance's metrics, readiness and
//! status of the partitions it serves.

use crate::cluster::{cluster_config, cluster_sim};
use crate::crash::RULE;
use crate::http::{get, sample};
use crate::util::{Running, Sink, check_versions, spawn_writer};
use std::time::Duration;

/// The address of `running`'s HTTP endpoint, from its log.
pub fn endpoint(running: &Running) -> String {
    let line = running.wait_for("serving /metrics", 1);
    line.rsplit("http://").next().unwrap().trim().to_owned()
}

/// The value of the series `name` whose labels include `partition`.
fn by_partition(metrics: &str, name: &str, partition: &str) -> Option<f64> {
    let label = format!("partition=\"{partition}\"");
    metrics.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        (series.starts_with(&format!("{name}{{")) && series.contains(&label))
            .then(|| value.parse().ok())?
    })
}

herald_test!(
    each_instance_serves_metrics_readiness_and_status_of_its_partitions,
    |dir| {
        let sim = cluster_sim();
        let sink = Sink::start();
        dir.write("rules/crash.rhai", RULE);
        let config = cluster_config(&dir, &sim.uri, &sink.uri());
        let http = ["--http", "127.0.0.1:0"];
        let a = Running::start_with_env(&config, &http, &[("HERALD_INSTANCE", "a")]);
        a.wait_for("serves partition", 4);
        let b = Running::start_with_env(&config, &http, &[("HERALD_INSTANCE", "b")]);
        a.wait_for("it was let go", 2);
        b.wait_for("serves partition", 2);
        let addrs = [endpoint(&a), endpoint(&b)];
        for addr in &addrs {
            crate::util::wait_until("ready", || {
                get(addr, "/readyz") == (200, "ready\n".to_owned())
            });
        }
        spawn_writer(&sim.uri, ("crash", "docs"), 10, 1, Duration::ZERO)
            .join()
            .unwrap();
        crate::util::wait_until("10 effects", || sink.versions().len() >= 10);
        let metrics = || addrs.each_ref().map(|addr| get(addr, "/metrics").1);
        // Each event is counted once, by the instance serving its partition.
        crate::util::wait_until("10 events in /metrics", || {
            let events: f64 = metrics()
                .iter()
                .filter_map(|m| sample(m, "herald_events_total{stream=\"mongodb:crash.docs\"}"))
                .sum();
            events == 10.0
        });
        let [of_a, of_b] = metrics();
        let partitions = ["p0/4", "p1/4", "p2/4", "p3/4"];
        let served = |m: &str| -> Vec<&str> {
            partitions
                .into_iter()
                .filter(|p| by_partition(m, "herald_cluster_partition_served", p) == Some(1.0))
                .collect()
        };
        let (served_a, served_b) = (served(&of_a), served(&of_b));
        assert_eq!((served_a.len(), served_b.len()), (2, 2), "{of_a}\n{of_b}");
        for p in partitions {
            // Served by exactly one; b took its two at the second epoch.
            assert_ne!(served_a.contains(&p), served_b.contains(&p), "{p}");
            for m in [&of_a, &of_b] {
                let epoch = by_partition(m, "herald_cluster_lease_epoch", p);
                assert_eq!(
                    epoch,
                    Some(if served_b.contains(&p) { 2.0 } else { 1.0 }),
                    "{p}: {m}"
                );
                let expires = by_partition(m, "herald_cluster_lease_expires_seconds", p).unwrap();
                assert!(expires <= 1.0, "{p}: a lease of 1 s: {m}");
                assert!(
                    by_partition(m, "herald_stream_lag_seconds", p).is_some(),
                    "{p}: {m}"
                );
            }
        }
        for m in [&of_a, &of_b] {
            assert_eq!(sample(m, "herald_cluster_instances"), Some(2.0), "{m}");
        }
        // /status: the cluster as `herald status` shows it, and this instance.
        let (code, body) = get(&addrs[1], "/status");
        assert_eq!(code, 200, "{body}");
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status["cluster"]["instance"], "b", "{status:#}");
        assert_eq!(
            status["cluster"]["serves"],
            serde_json::json!(served_b),
            "{status:#}"
        );
        assert_eq!(status["running"]["ready"], true, "{status:#}");
        assert_eq!(
            status["cluster"]["leases"].as_array().unwrap().len(),
            4,
            "{status:#}"
        );
        for instance in [a, b] {
            let (status, log) = instance.stop();
            assert!(status.success(), "{log}");
        }
        check_versions(&sink.versions(), 10, 1);
    }
);
