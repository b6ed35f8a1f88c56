//! `herald status`: where each stream stands, how far behind, what was lost,
//! and what is still to come (pending timers).

use crate::cli::StatusArgs;
use crate::exit::{Outcome, store_failure as read_failure};
use crate::setup::{Setup, StoreDefault};
use crate::time::rfc3339 as time;
use herald_engine::metrics::checkpoint_time_ms;
use serde_json::json;

/// Runs the command: from the store, or, while a running herald holds it,
/// from that herald's `/status` (`[http] listen`).
pub fn run(args: StatusArgs) -> Outcome {
    let setup = Setup::resolve(&args.common, StoreDefault::Persistent)?;
    if setup.config.cluster.enabled() {
        let store = setup.open_store()?;
        let location = std::path::PathBuf::from(format!(
            "mongodb database {}",
            setup.config.cluster.database
        ));
        let partitions = Some(setup.config.cluster.partitions);
        let mut report =
            report(&store, &location, partitions).map_err(|e| read_failure(&location, e))?;
        report["cluster"] = crate::cluster::status::report(&setup)?;
        if args.json {
            println!("{report:#}");
        } else {
            crate::cluster::status::print(&report["cluster"]);
            print(&report);
        }
        return Ok(());
    }
    let dir = setup.existing_store()?;
    let report = match setup.open_store() {
        Ok(store) => report(&store, dir, None).map_err(|e| read_failure(dir, e))?,
        Err(failure) if is_locked(&failure) => from_running(&setup, dir)?,
        Err(failure) => return Err(failure),
    };
    if args.json {
        println!("{report:#}");
    } else {
        print(&report);
    }
    Ok(())
}

/// Whether opening the store failed because a running herald holds it.
fn is_locked(failure: &crate::exit::Failure) -> bool {
    match failure {
        crate::exit::Failure::BadInput(e) | crate::exit::Failure::Runtime(e) => matches!(
            e.downcast_ref::<herald_store::StoreError>(),
            Some(herald_store::StoreError::Locked { .. })
        ),
        _ => false,
    }
}

/// The status of the herald that holds the store, from its `/status`.
fn from_running(
    setup: &Setup,
    dir: &std::path::Path,
) -> Result<serde_json::Value, crate::exit::Failure> {
    // The address the running herald bound (its port, if it asked for 0),
    // else the configured one.
    let recorded = std::fs::read_to_string(dir.join(crate::http::ADDRESS_FILE))
        .ok()
        .and_then(|text| text.trim().parse().ok());
    let Some(addr) = recorded.or(setup.config.http.listen) else {
        return Err(crate::exit::Failure::BadInput(anyhow::anyhow!(
            "the store {} is in use by a running herald, and no [http] listen is configured to ask it: set [http] listen (or run herald with --http), or stop herald",
            dir.display()
        )));
    };
    let url = format!("http://{}/status", crate::http::reachable(addr));
    herald_engine::effects::install_crypto_provider();
    let ask = async {
        let reply = reqwest::Client::new()
            .get(&url)
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await?
            .error_for_status()?;
        reply.json::<serde_json::Value>().await
    };
    let report = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::exit::Failure::Runtime(e.into()))?
        .block_on(ask)
        .map_err(|e| {
            crate::exit::Failure::Runtime(anyhow::anyhow!(
                "the store {} is in use by a running herald, which did not answer at {url}: {e}",
                dir.display()
            ))
        })?;
    // The address may have been taken over by another herald, on another store.
    let ours = dir.canonicalize().ok();
    let theirs = report["store"]["path"]
        .as_str()
        .map(std::path::PathBuf::from);
    if ours.is_none() || ours != theirs {
        return Err(crate::exit::Failure::Runtime(anyhow::anyhow!(
            "the herald at {url} serves the store {}, not {}; ask the herald that holds {} (its [http] listen)",
            report["store"]["path"].as_str().unwrap_or("?"),
            dir.display(),
            dir.display()
        )));
    }
    Ok(report)
}

/// The status as JSON: where each stream stands, how far behind, the rules'
/// counts, stopped targets, pending timers, gaps and dead letters. What
/// `herald status --json` prints and `/status` serves.
pub fn report(
    store: &herald_store::Store,
    dir: &std::path::Path,
    partitions: Option<u32>,
) -> Result<serde_json::Value, herald_store::StoreError> {
    let now = bson::DateTime::now().timestamp_millis();
    let seconds = |ms: i64| (ms as f64 / 100.0).round() / 10.0;
    let ledger = store.ledger_stats();
    let checkpoints: Vec<serde_json::Value> = store
        .checkpoints()?
        .into_iter()
        .map(|(stream, c)| {
            // A partition's checkpoints (cluster mode) are in its scope.
            let (partition, stream) = match stream.split_once('\0') {
                Some((scope, stream)) => (Some(scope.to_owned()), stream.to_owned()),
                None => (None, stream),
            };
            let overlap =
                store.info(&format!("{}{stream}", herald_engine::SNAPSHOT_OVERLAP_INFO))?;
            let at = checkpoint_time_ms(&c);
            Ok(json!({
                "stream": stream,
                "partition": partition,
                "position": c.position.to_string(),
                "cluster_time": c.cluster_time,
                "last_event": c.wall_time_ms.map(time),
                "checkpoint_at": at.map(time),
                "lag_seconds": at.map(|at| seconds(now - at)),
                "committed_at": time(c.committed_at_ms),
                "committed_seconds_ago": seconds(now - c.committed_at_ms),
                "snapshot_reading": matches!(c.position, herald_core::Position::Snapshot { .. }),
                "snapshot_overlap": overlap.map(|info| json!({
                    "reason": info["reason"].as_str().unwrap_or("?"),
                    "changes": info["changes"].as_u64().unwrap_or(0),
                })),
            }))
        })
        .collect::<Result<_, herald_store::StoreError>>()?;
    let stopped: Vec<serde_json::Value> = herald_engine::stops::stopped(store)?
        .into_iter()
        .map(|(target, stop)| json!({ "target": target, "at": time(stop.at_ms), "reason": stop.reason }))
        .collect();
    let stopped = [stopped, partition_stops(store, partitions)?].concat();
    let letters: Vec<herald_store::DeadLetter> = store.dead_letters().collect::<Result<_, _>>()?;
    // Each partition counts its own (cluster mode): summed per rule.
    let mut counts: std::collections::BTreeMap<String, herald_store::RuleCounts> =
        std::collections::BTreeMap::new();
    for (rule, c) in store.rule_counts()? {
        let rule = rule
            .split_once('\0')
            .map_or(rule.as_str(), |(_, r)| r)
            .to_owned();
        *counts.entry(rule).or_default() += c;
    }
    let rules: Vec<serde_json::Value> = counts
        .into_iter()
        .map(|(rule, c)| {
            let queued = letters.iter().filter(|l| l.rule == rule).count();
            json!({
                "rule": rule, "matched": c.matched, "succeeded": c.succeeded,
                "failed": c.failed, "deduplicated": c.deduplicated, "dead_letters": queued,
            })
        })
        .collect();
    let timers = store.timer_stats()?;
    let gaps: Vec<serde_json::Value> = store
        .gaps()?
        .into_iter()
        .map(|g| json!({ "stream": g.stream, "last": g.last, "resumed_at": time(g.resumed_at_ms), "reason": g.reason }))
        .collect();
    Ok(json!({
        "store": { "path": dir.display().to_string(), "size_bytes": store.size_on_disk().unwrap_or(0) },
        "ledger": { "marks": ledger.marks, "window": ledger.window, "oldest": ledger.oldest_ms.map(time) },
        "last_run": store.info(crate::run::STREAMS_INFO)?,
        "checkpoints": checkpoints,
        "stopped": stopped,
        "rules": rules,
        "timers": {
            "pending": timers.iter().map(|s| s.pending).sum::<u64>(),
            "rules": timers.iter().map(|s| json!({ "rule": s.rule, "pending": s.pending, "next_due": time(s.next_due_ms) })).collect::<Vec<_>>(),
        },
        "gaps": gaps,
        "dead_letters": letters.len(),
    }))
}

/// Cluster mode (`partitions`): the targets stopped in each partition
/// (each keeps its own), with the partition.
fn partition_stops(
    store: &herald_store::Store,
    partitions: Option<u32>,
) -> Result<Vec<serde_json::Value>, herald_store::StoreError> {
    let mut all = Vec::new();
    for partition in herald_core::partition::Partition::all(partitions.unwrap_or(0)) {
        let scoped = store.scoped(herald_store::Scope {
            name: partition.to_string(),
            fence: None,
        });
        for (target, stop) in herald_engine::stops::stopped(&scoped)? {
            all.push(json!({
                "target": target, "at": time(stop.at_ms), "reason": stop.reason,
                "partition": partition.to_string(),
            }));
        }
    }
    Ok(all)
}

/// Prints a [`report`] for people.
fn print(r: &serde_json::Value) {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_owned();
    let list = |v: &serde_json::Value| {
        v.as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    if let Some(running) = r.get("running") {
        match running["ready"].as_bool() {
            Some(true) => println!("running: ready"),
            _ => println!("running: not ready: {}", list(&running["reasons"])),
        }
    }
    println!(
        "store {} ({} bytes)",
        text(&r["store"]["path"]),
        r["store"]["size_bytes"]
    );
    let ledger = &r["ledger"];
    println!(
        "ledger: {} (rule, event) marks kept of a window of {}{}",
        ledger["marks"],
        ledger["window"],
        ledger["oldest"]
            .as_str()
            .map(|t| format!(", the oldest from {t}"))
            .unwrap_or_default()
    );
    if let Some(run) = r["last_run"].as_object() {
        println!(
            "last run: {}",
            run.get("summary")
                .and_then(|s| s.as_str())
                .unwrap_or("(unreadable)")
        );
        for stream in run
            .get("streams")
            .and_then(|s| s.as_array())
            .into_iter()
            .flatten()
        {
            println!(
                "  {} carries {} for {}",
                stream["id"].as_str().unwrap_or("?"),
                list(&stream["targets"]),
                list(&stream["rules"])
            );
        }
    }
    let checkpoints = r["checkpoints"].as_array().cloned().unwrap_or_default();
    if checkpoints.is_empty() {
        println!("no checkpoints yet");
    }
    for c in &checkpoints {
        match c["partition"].as_str() {
            Some(partition) => println!("stream {} in partition {partition}", text(&c["stream"])),
            None => println!("stream {}", text(&c["stream"])),
        }
        println!("  position      {}", text(&c["position"]));
        if let Some([t, i]) = c["cluster_time"].as_array().map(|a| [&a[0], &a[1]]) {
            println!("  cluster time  Timestamp({t}, {i})");
        }
        if let Some(wall) = c["last_event"].as_str() {
            println!("  last event    {wall}");
        }
        if let (Some(at), Some(lag)) = (c["checkpoint_at"].as_str(), c["lag_seconds"].as_f64()) {
            println!("  checkpoint at {at} (lag {lag:.1}s)");
        }
        println!(
            "  committed     {} ({:.1}s ago)",
            text(&c["committed_at"]),
            c["committed_seconds_ago"].as_f64().unwrap_or(0.0)
        );
        if c["snapshot_reading"] == true {
            println!("  snapshot      reading; its change stream starts after the snapshot's time");
        }
        if let Some(overlap) = c["snapshot_overlap"].as_object() {
            println!(
                "  snapshot      read without its point in time ({}): up to {} document(s) seen twice, as an insert and as the change made while the read ran",
                overlap
                    .get("reason")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?"),
                overlap.get("changes").and_then(|v| v.as_u64()).unwrap_or(0)
            );
        }
    }
    for stop in r["stopped"].as_array().into_iter().flatten() {
        let target = text(&stop["target"]);
        match stop["partition"].as_str() {
            // Not yet resumable in cluster mode (see the README).
            Some(partition) => println!(
                "target {target} stopped in partition {partition} at {}: {}",
                text(&stop["at"]),
                text(&stop["reason"])
            ),
            None => println!(
                "target {target} stopped at {}: {} (`herald streams resume {target}` starts it again)",
                text(&stop["at"]),
                text(&stop["reason"])
            ),
        }
    }
    for rule in r["rules"].as_array().into_iter().flatten() {
        println!(
            "rule {}: {} matched, {} succeeded, {} failed, {} deduplicated, {} in the dead-letter queue",
            text(&rule["rule"]),
            rule["matched"],
            rule["succeeded"],
            rule["failed"],
            rule["deduplicated"],
            rule["dead_letters"]
        );
    }
    let timers = r["timers"]["rules"].as_array().cloned().unwrap_or_default();
    if timers.is_empty() {
        println!("no pending timers");
    } else {
        // Counted from the store's index by name: no timer record is decoded.
        println!(
            "timers: {} pending (`herald timers list` lists them)",
            r["timers"]["pending"]
        );
        for s in &timers {
            println!(
                "  rule {}: {} pending, the next due at {}",
                text(&s["rule"]),
                s["pending"],
                text(&s["next_due"])
            );
        }
    }
    let gaps = r["gaps"].as_array().cloned().unwrap_or_default();
    for gap in &gaps {
        println!(
            "gap in {} after {}: restarted from now at {} ({})",
            text(&gap["stream"]),
            gap["last"].as_str().unwrap_or("its start"),
            text(&gap["resumed_at"]),
            text(&gap["reason"])
        );
    }
    println!(
        "{} gap(s), {} dead letter(s)",
        gaps.len(),
        r["dead_letters"]
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::{Position, ResumeToken};

    #[test]
    fn lag_is_measured_from_the_checkpoint_not_the_last_event() {
        let raw = bson::RawDocumentBuf::from_document(
            &bson::doc! {"_data": format!("82{:08X}{:08X}", 1_700_000_100u32, 1)},
        )
        .unwrap();
        let token = ResumeToken::new(bson::RawBson::Document(raw));
        let mut c = herald_store::Checkpoint::new(Position::Token {
            bytes: token.as_bytes().to_vec(),
        });
        c.wall_time_ms = Some(1_700_000_000_000);
        assert_eq!(checkpoint_time_ms(&c), Some(1_700_000_100_000));
        c.position = Position::File { offset: 1, line: 1 };
        assert_eq!(checkpoint_time_ms(&c), Some(1_700_000_000_000));
    }
}
