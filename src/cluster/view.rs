//! What an instance's HTTP endpoint reports in cluster mode (`[http]
//! listen`): the partitions it serves and whether they are ready, and the
//! cluster's instances and leases.

use herald_core::partition::Partition;
use herald_engine::cluster::Leases;
use herald_engine::health::Health;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A cheaply cloned view of one instance: the instance's loop records the
/// partitions it serves, the endpoint reads them.
#[derive(Clone)]
pub struct View {
    leases: Leases,
    partitions: u32,
    lease_ms: u64,
    /// The partitions served, each with its engine's streams.
    served: Arc<Mutex<BTreeMap<Partition, Served>>>,
}

/// A partition served.
#[derive(Clone)]
enum Served {
    /// Its engine runs: its streams' states.
    Running(Health),
    /// It reads nothing: why.
    Idle(String),
}

impl View {
    /// The view of the instance whose leases are `leases`.
    pub fn new(leases: Leases, partitions: u32, lease_ms: u64) -> Self {
        Self {
            leases,
            partitions,
            lease_ms,
            served: Arc::default(),
        }
    }

    /// This instance serves `partition` now, with an engine whose streams
    /// `health` follows.
    pub fn serves(&self, partition: Partition, health: Health) {
        self.served
            .lock()
            .expect("view lock")
            .insert(partition, Served::Running(health));
    }

    /// This instance holds `partition` but reads nothing there, for `why`.
    pub fn idles(&self, partition: Partition, why: &str) {
        self.served
            .lock()
            .expect("view lock")
            .insert(partition, Served::Idle(why.to_owned()));
    }

    /// This instance no longer serves `partition`.
    pub fn let_go(&self, partition: Partition) {
        self.served.lock().expect("view lock").remove(&partition);
    }

    /// The partitions served.
    fn served(&self) -> BTreeMap<Partition, Served> {
        self.served.lock().expect("view lock").clone()
    }

    /// `Ok` when every partition this instance serves is ready (an instance
    /// serving none, a standby, is ready); else each reason, naming its
    /// partition.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        let reasons: Vec<String> = self
            .served()
            .iter()
            .flat_map(|(partition, served)| {
                let reasons = match served {
                    Served::Running(health) => health.readiness().err().unwrap_or_default(),
                    Served::Idle(why) => vec![why.clone()],
                };
                reasons
                    .into_iter()
                    .map(move |why| format!("partition {partition}: {why}"))
            })
            .collect();
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }

    /// The `cluster` part of the status, with this instance's name and the
    /// partitions it serves.
    pub async fn report(&self) -> mongodb::error::Result<serde_json::Value> {
        let read = super::status::read(&self.leases).await?;
        let mut report = super::status::to_json(self.partitions, self.lease_ms, &read);
        report["instance"] = self.leases.me().into();
        report["serves"] = self
            .served()
            .keys()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .into();
        Ok(report)
    }

    /// Sets the cluster's gauges (see [`herald_engine::metrics::set_cluster_gauges`]).
    pub async fn set_gauges(&self) -> mongodb::error::Result<()> {
        let super::status::Read {
            instances,
            leases,
            now_ms: now,
        } = super::status::read(&self.leases).await?;
        let alive = instances.iter().filter(|(_, until)| *until > now).count();
        let served: Vec<String> = self.served().keys().map(ToString::to_string).collect();
        herald_engine::metrics::set_cluster_gauges(alive, &leases, |partition| {
            served.iter().any(|p| p == partition)
        });
        Ok(())
    }
}
