//! Every partition's lease, held by a command that writes to the
//! partitions' records while no instance may (`herald streams resume`).
//!
//! Taking the leases raises their epochs, so the command's writes are
//! fenced like a partition's commits: no instance serves a partition
//! meanwhile, and one paused while it served (which still believes it does)
//! can commit nothing after. The leases are let go when the holding ends.

use crate::exit::Failure;
use crate::setup::Setup;
use anyhow::anyhow;
use herald_core::partition::Partition;
use herald_engine::cluster::{Held, Leases};
use herald_store::backend::Fence;

/// Every partition's lease, held by this command until dropped.
pub struct Holding {
    runtime: tokio::runtime::Runtime,
    leases: Leases,
    held: Vec<Held>,
}

impl Holding {
    /// Takes every partition's lease, or none: refused while an instance
    /// serves a partition (or an open commit holds its lease), naming them.
    pub fn take_all(setup: &Setup, what: &str) -> Result<Self, Failure> {
        let partitions = setup.config.cluster.partitions;
        let me = format!(
            "{what} ({})",
            herald_engine::config::ClusterConfig::instance_name()
        );
        let (runtime, leases) = super::status::command_leases(setup, &me)?;
        let unreachable = |e: mongodb::error::Error| {
            Failure::Runtime(anyhow!("cannot take the cluster's leases: {e}"))
        };
        let held = runtime
            .block_on(async {
                leases.sync_clock().await?;
                let lease = leases.lease();
                leases.take_free(partitions, &[], lease / 3, lease).await
            })
            .map_err(unreachable)?;
        let holding = Self {
            runtime,
            leases,
            held,
        };
        if holding.held.len() as u32 == partitions {
            return Ok(holding);
        }
        let mine: Vec<String> = holding
            .held
            .iter()
            .map(|h| h.partition.to_string())
            .collect();
        let others = holding
            .runtime
            .block_on(holding.leases.all())
            .map_err(unreachable)?;
        let now = holding.leases.now_ms();
        let served: Vec<String> = others
            .iter()
            .filter(|l| !mine.contains(&l.lease) && l.held_at(now))
            .map(|l| format!("{} by {}", l.lease, l.owner.as_deref().unwrap_or("?")))
            .collect();
        Err(Failure::BadInput(if served.is_empty() {
            anyhow!(
                "could not take every partition's lease in time (an open commit of a stopped instance may hold one until the server aborts it): try again"
            )
        } else {
            anyhow!(
                "the cluster is running (partition {} served): stop every instance, then try again",
                served.join(", ")
            )
        }))
    }

    /// The fence of `partition`'s lease, for writes to its records.
    pub fn fence(&self, partition: Partition) -> Option<Fence> {
        let held = self.held.iter().find(|h| h.partition == partition)?;
        Some(self.leases.fence(held))
    }
}

impl Drop for Holding {
    /// Lets every lease go, so the instances take them at once.
    fn drop(&mut self) {
        let limit = self.leases.lease() / 3;
        for held in &self.held {
            let release = async { tokio::time::timeout(limit, self.leases.release(held)).await };
            if !matches!(self.runtime.block_on(release), Ok(Ok(()))) {
                tracing::warn!(partition = %held.partition, "could not let the lease go; it lapses after lease_ms");
            }
        }
    }
}

/// For a command that writes herald's state (`herald dlq retry`, `dlq drop`,
/// `timers cancel`): in cluster mode, every lease held while it writes
/// (refused while an instance serves a partition) and `store` fenced by
/// the first partition's lease; otherwise `store` as it is.
///
/// A fence checks one lease. The command's leases were all taken at once
/// and lapse together, and instances take lapsed leases lowest first, so
/// once any is taken over from a command paused past its leases, the first
/// partition's is too, and its commits are refused.
pub fn guard(
    setup: &Setup,
    store: herald_store::Store,
    what: &str,
) -> Result<(Option<Holding>, herald_store::Store), Failure> {
    if !setup.config.cluster.enabled() {
        return Ok((None, store));
    }
    let holding = Holding::take_all(setup, what)?;
    let first = Partition {
        index: 0,
        of: setup.config.cluster.partitions,
    };
    let fence = holding.fence(first);
    let store = store.scoped(herald_store::Scope {
        name: what.to_owned(),
        fence,
    });
    Ok((Some(holding), store))
}
