//! `herald status` in cluster mode: the instances, who holds each
//! partition, and until when.

use crate::exit::Failure;
use crate::setup::Setup;
use crate::time::rfc3339 as time;
use anyhow::anyhow;
use herald_engine::cluster::{LeaseRecord, Leases};
use serde_json::json;
use std::time::Duration;

/// Every instance announced and every lease, with the server's time they
/// were read at.
#[derive(Debug, Clone)]
pub struct Read {
    /// Every instance announced: (name, alive until in Unix milliseconds).
    pub instances: Vec<(String, i64)>,
    /// Every lease as stored.
    pub leases: Vec<LeaseRecord>,
    /// The server's time when read (Unix milliseconds): what "held" and
    /// "alive" are judged against, not this machine's clock.
    pub now_ms: i64,
}

/// The instances and leases, as JSON (the `cluster` part of the status).
pub fn report(setup: &Setup) -> Result<serde_json::Value, Failure> {
    let read = read_now(setup)?;
    let cluster = &setup.config.cluster;
    Ok(to_json(cluster.partitions, cluster.lease_ms, &read))
}

/// Every instance announced (name, alive until) and every lease, read from
/// the cluster's database at once (for a command, outside any runtime).
pub fn read_now(setup: &Setup) -> Result<Read, Failure> {
    let (runtime, leases) = command_leases(setup, "")?;
    runtime
        .block_on(read(&leases))
        .map_err(|e| Failure::Runtime(anyhow!("cannot read the cluster's leases: {e}")))
}

/// The cluster's leases as `me` sees them, with a runtime to use them on:
/// for a command, outside any runtime.
pub(super) fn command_leases(
    setup: &Setup,
    me: &str,
) -> Result<(tokio::runtime::Runtime, Leases), Failure> {
    let cluster = &setup.config.cluster;
    let uri = cluster
        .resolved_uri(setup.config.mongodb.resolved_uri())
        .ok_or_else(|| Failure::BadInput(anyhow!("[cluster] needs a connection string")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(e.into()))?;
    let database = runtime
        .block_on(mongodb::Client::with_uri_str(&uri))
        .map_err(|e| Failure::BadInput(anyhow!("cluster.uri: {e}")))?
        .database(&cluster.database);
    let lease = Duration::from_millis(cluster.lease_ms);
    let leases = Leases::new(&database, me, cluster.partitions, lease);
    Ok((runtime, leases))
}

/// Every instance announced (name, alive until) and every lease, and the
/// server's time.
pub async fn read(leases: &Leases) -> mongodb::error::Result<Read> {
    leases.sync_clock().await?;
    Ok(Read {
        instances: leases.instances().await?,
        leases: leases.all().await?,
        now_ms: leases.now_ms(),
    })
}

/// The `cluster` part of the status, from what [`read`] read.
pub fn to_json(partitions: u32, lease_ms: u64, read: &Read) -> serde_json::Value {
    let Read {
        instances,
        leases,
        now_ms: now,
    } = read;
    let now = *now;
    json!({
        "partitions": partitions,
        "lease_ms": lease_ms,
        "instances": instances.iter().map(|(name, until)| json!({
            "instance": name, "alive": *until > now, "until": time(*until),
        })).collect::<Vec<_>>(),
        "leases": leases.iter().map(|l| json!({
            "partition": l.lease,
            "owner": l.owner,
            "epoch": l.epoch,
            "expires": time(l.expires_ms),
            "held": l.held_at(now),
        })).collect::<Vec<_>>(),
    })
}

/// Prints the cluster part of the status for people.
pub fn print(cluster: &serde_json::Value) {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_owned();
    println!(
        "cluster: {} partitions, leases of {} ms",
        cluster["partitions"], cluster["lease_ms"]
    );
    for i in cluster["instances"].as_array().into_iter().flatten() {
        let state = if i["alive"] == true {
            "alive until"
        } else {
            "gone since"
        };
        println!(
            "  instance {} {state} {}",
            text(&i["instance"]),
            text(&i["until"])
        );
    }
    for l in cluster["leases"].as_array().into_iter().flatten() {
        match (l["held"] == true, l["owner"].as_str()) {
            (true, Some(owner)) => println!(
                "  partition {} held by {owner} (epoch {}) until {}",
                text(&l["partition"]),
                l["epoch"],
                text(&l["expires"])
            ),
            _ => println!("  partition {} free", text(&l["partition"])),
        }
    }
}
