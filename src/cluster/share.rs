//! This instance's share of the partitions: announcing itself, renewing
//! the leases it holds, stopping partitions past its share or whose lease
//! is gone, and letting leases go.

use super::View;
use super::partition::{Ended, Stop};
use crate::exit::Failure;
use crate::logging::say;
use anyhow::anyhow;
use herald_core::partition::Partition;
use herald_engine::cluster::{Announced, Held, Leases};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A partition this instance serves: its lease, and how to stop it.
pub(super) struct Serving {
    pub(super) held: Held,
    pub(super) stop: watch::Sender<Stop>,
    /// Until when the partition may run: a period before its lease could
    /// lapse, counted from when the lease was last taken or renewed (when
    /// that request was sent). The partition stops itself then, whatever
    /// this loop is waiting on.
    pub(super) valid: watch::Sender<Instant>,
}

/// Until when a partition whose lease was taken or renewed by a request
/// sent at `sent` may run: a period before the lease could lapse.
pub(super) fn valid_until(sent: Instant, lease: Duration) -> Instant {
    sent + lease - lease / 3
}

/// Announces this instance at its start. A record under the same name
/// that another process keeps alive (two instances given one
/// `HERALD_INSTANCE`) is waited on for one lease period and a renewal, the
/// longest a killed process's record lives; then the start is refused.
pub(super) async fn claim_name(leases: &Leases, lease: Duration) -> Result<(), Failure> {
    let period = lease / 3;
    let deadline = Instant::now() + lease + period;
    let mut said = false;
    loop {
        let announced = bounded(period, "announcing this instance", leases.announce()).await;
        let now = Instant::now();
        match announced {
            Ok(Announced::Alive) => return Ok(()),
            Ok(Announced::NameInUse { until_ms }) if now >= deadline => {
                return Err(Failure::BadInput(anyhow!(
                    "instance name {} is in use by another running process (it announced itself until {}): give each instance its own HERALD_INSTANCE",
                    leases.me(),
                    crate::time::rfc3339(until_ms)
                )));
            }
            Ok(Announced::NameInUse { .. }) if !said => {
                said = true;
                say::info(
                    format!(
                        "herald: another process announced itself as instance {}; waiting up to {} ms for its record to lapse",
                        leases.me(),
                        (deadline - now).as_millis()
                    ),
                    json!({ "instance": leases.me() }),
                );
            }
            Ok(Announced::NameInUse { .. }) => {}
            Err(e) if now >= deadline => {
                return Err(Failure::Runtime(anyhow!(
                    "cannot announce this instance in the cluster's database: {e}"
                )));
            }
            Err(e) => tracing::warn!(error = %e, "cannot announce this instance; trying again"),
        }
        tokio::time::sleep(period / 2).await;
    }
}

/// What one look at the cluster found.
pub(super) struct Look {
    /// This instance's fair share of the partitions.
    pub(super) share: u32,
    /// The leases it took toward that share.
    pub(super) taken: Vec<Held>,
    /// When the takes were sent (a taken lease runs from then).
    pub(super) asked: Instant,
}

/// Announces this instance, counts the instances alive, and takes free or
/// lapsed leases up to this instance's fair share (it runs `running`
/// partitions; `busy` are those it still serves, drains or ends). `None` if
/// another process now runs under this instance's name (this one's record
/// lapsed, say while it was paused), which must stop it.
///
/// Runs beside the loop's renewals, never before them: a slow server holds
/// up this look, not the next renewal.
pub(super) async fn look(
    leases: Leases,
    busy: Vec<Partition>,
    running: u32,
    lease: Duration,
) -> mongodb::error::Result<Option<Look>> {
    let period = lease / 3;
    if bounded(period, "announcing this instance", leases.announce()).await? != Announced::Alive {
        return Ok(None);
    }
    let live = bounded(period, "counting the instances", leases.live_instances()).await?;
    let share = leases.fair_share(live);
    let asked = Instant::now();
    // Bounded: a lease a paused instance's open transaction holds makes the
    // take wait on a real server (what is taken meanwhile lapses unserved).
    let taken = match share.checked_sub(running) {
        Some(wanted) if wanted > 0 => leases.take_free(wanted, &busy, period / 4, period).await?,
        _ => Vec::new(),
    };
    Ok(Some(Look {
        share,
        taken,
        asked,
    }))
}

/// Stops (at their next checkpoint) the partitions served past `share`,
/// the highest first, so another instance may take them.
pub(super) fn hand_over_extra(serving: &BTreeMap<Partition, Serving>, share: u32) {
    let running: Vec<Partition> = serving
        .iter()
        .filter(|(_, s)| *s.stop.borrow() == Stop::Run)
        .map(|(p, _)| *p)
        .collect();
    for partition in running
        .iter()
        .rev()
        .take(running.len().saturating_sub(share as usize))
    {
        tracing::info!(%partition, "handing the partition over (another instance joined)");
        let _ = serving[partition].stop.send(Stop::Drain);
    }
}

/// Renews the leases of the partitions served, and stops at once those
/// whose lease is gone or could not be renewed in time. A partition
/// draining for a hand-over keeps its lease until it has committed and let
/// it go: taken over earlier, its new owner's effects could interleave with
/// the ones it finishes.
pub(super) async fn renew(
    leases: &Leases,
    serving: &mut BTreeMap<Partition, Serving>,
    lease: Duration,
) -> mongodb::error::Result<()> {
    // A lease runs from when its renewal was sent: past `lease` less one
    // period without one, the partition stops, before another may take it.
    // All at once, so one slow renewal holds up no other.
    let period = lease / 3;
    let sent = Instant::now();
    let renewals = serving
        .values()
        .filter(|s| *s.stop.borrow() != Stop::Abort)
        .map(|s| {
            let held = s.held.clone();
            async move {
                let renewed = bounded(period, "renewing a lease", leases.renew(&held)).await;
                (held.partition, renewed)
            }
        });
    let mut failed = None;
    for (partition, renewed) in futures_util::future::join_all(renewals).await {
        let s = serving.get_mut(&partition).expect("renewed what it serves");
        match renewed {
            Ok(true) => {
                let _ = s.valid.send(valid_until(sent, lease));
            }
            Ok(false) => {
                tracing::warn!(%partition, "lost the lease (another instance took it over); stopping the partition");
                let _ = s.stop.send(Stop::Abort);
            }
            Err(e) => failed = Some(e),
        }
        if *s.stop.borrow() != Stop::Abort && Instant::now() >= *s.valid.borrow() {
            tracing::warn!(%partition, "could not renew the lease in time; stopping the partition");
            let _ = s.stop.send(Stop::Abort);
        }
    }
    failed.map_or(Ok(()), Err)
}

/// `operation`, given up after `limit` (a MongoDB out of reach, or a write
/// waiting on a lock, must not hold up the instance's loop).
pub(super) async fn bounded<T>(
    limit: Duration,
    what: &str,
    operation: impl std::future::Future<Output = mongodb::error::Result<T>>,
) -> mongodb::error::Result<T> {
    tokio::time::timeout(limit, operation)
        .await
        .unwrap_or_else(|_| {
            Err(mongodb::error::Error::custom(format!(
                "{what} took over {} ms; trying again next period",
                limit.as_millis()
            )))
        })
}

/// After a partition's run ends: forgets it (if it is the run of the lease
/// it holds now) and lets its lease go unless it was lost.
pub(super) async fn ended_run(
    leases: &Leases,
    view: &View,
    serving: &mut BTreeMap<Partition, Serving>,
    ended: &Ended,
) {
    if serving
        .get(&ended.partition)
        .is_some_and(|s| s.held.epoch == ended.epoch)
    {
        let s = serving.remove(&ended.partition).expect("just found");
        view.let_go(ended.partition);
        finish(leases, &s.held, ended).await;
    }
}

/// After a partition's run ends: its lease goes back unless it was lost.
async fn finish(leases: &Leases, held: &Held, ended: &Ended) {
    let why = if ended.lost {
        "its lease was lost"
    } else {
        "it was let go"
    };
    say::info(
        format!(
            "herald: {} stops serving partition {}: {why}",
            leases.me(),
            held.partition
        ),
        json!({ "instance": leases.me(), "partition": held.partition.to_string(), "lost": ended.lost }),
    );
    if ended.lost {
        return;
    }
    let limit = leases.lease() / 3;
    if let Err(e) = bounded(limit, "letting the lease go", leases.release(held)).await {
        tracing::warn!(partition = %held.partition, error = %e, "could not let the lease go; it lapses after lease_ms");
    }
}
