//! `herald status` in cluster mode: the instances, who holds each
//! partition, and until when.

use crate::exit::Failure;
use crate::setup::Setup;
use crate::time::rfc3339 as time;
use anyhow::anyhow;
use herald_engine::cluster::{LeaseRecord, Leases};
use serde_json::json;
use std::time::Duration;

/// Every instance announced (name, alive until in Unix milliseconds), and
/// every lease.
pub type Read = (Vec<(String, i64)>, Vec<LeaseRecord>);

/// The instances and leases, as JSON (the `cluster` part of the status).
pub fn report(setup: &Setup) -> Result<serde_json::Value, Failure> {
    let (instances, leases) = read_now(setup)?;
    let cluster = &setup.config.cluster;
    Ok(to_json(
        cluster.partitions,
        cluster.lease_ms,
        &instances,
        &leases,
    ))
}

/// Every instance announced (name, alive until) and every lease, read from
/// the cluster's database at once (for a command, outside any runtime).
pub fn read_now(setup: &Setup) -> Result<Read, Failure> {
    let cluster = &setup.config.cluster;
    let uri = cluster
        .resolved_uri(setup.config.mongodb.resolved_uri())
        .ok_or_else(|| Failure::BadInput(anyhow!("[cluster] needs a connection string")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(e.into()))?;
    let reading = async {
        let database = mongodb::Client::with_uri_str(&uri)
            .await?
            .database(&cluster.database);
        let leases = Leases::new(
            &database,
            "",
            cluster.partitions,
            Duration::from_millis(cluster.lease_ms),
        );
        read(&leases).await
    };
    runtime
        .block_on(reading)
        .map_err(|e| Failure::Runtime(anyhow!("cannot read the cluster's leases: {e}")))
}

/// Every instance announced (name, alive until) and every lease.
pub async fn read(leases: &Leases) -> mongodb::error::Result<Read> {
    Ok((leases.instances().await?, leases.all().await?))
}

/// The `cluster` part of the status, from what [`read`] read.
pub fn to_json(
    partitions: u32,
    lease_ms: u64,
    instances: &[(String, i64)],
    leases: &[LeaseRecord],
) -> serde_json::Value {
    let now = bson::DateTime::now().timestamp_millis();
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
