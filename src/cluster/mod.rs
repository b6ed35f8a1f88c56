//! `herald run` in cluster mode: this instance's share of the partitions.
//!
//! Every instance with the same config runs this loop. Each period (a third
//! of `lease_ms`) it announces itself, renews the leases it holds, and
//! works out its fair share of the partitions from the instances alive:
//! - a lease it could not renew (taken over, or not renewed in time) stops
//!   that partition at once: its commits would be refused anyway (fencing);
//! - past its share (another instance joined), it stops its highest
//!   partitions at their next checkpoint and then lets their leases go, for
//!   the newcomer to take;
//! - under its share, it takes free or lapsed leases and starts their
//!   partitions from their checkpoints.
//!
//! Each partition held runs one engine (see `partition.rs`). A stop signal
//! drains every partition, lets every lease go and retires the instance, so
//! the others take over at once rather than after `lease_ms`.

mod partition;
pub mod status;
mod view;

pub use view::View;

use crate::exit::{Failure, Outcome};
use crate::logging::say;
use crate::setup::Setup;
use anyhow::{Context, anyhow};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use herald_core::partition::Partition;
use herald_engine::cluster::{Held, Leases};
use partition::{Ended, Stop};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The wire version of MongoDB 7.0, the first with `$toHashedIndexKey`.
const MIN_WIRE_VERSION: i32 = 21;

/// A partition this instance serves: its lease, and how to stop it.
struct Serving {
    held: Held,
    stop: watch::Sender<Stop>,
    /// Until when the partition may run: a period before its lease could
    /// lapse, counted from when the lease was last taken or renewed (when
    /// that request was sent). The partition stops itself then, whatever
    /// this loop is waiting on.
    valid: watch::Sender<Instant>,
}

/// Until when a partition whose lease was taken or renewed by a request
/// sent at `sent` may run: a period before the lease could lapse.
fn valid_until(sent: Instant, lease: Duration) -> Instant {
    sent + lease - lease / 3
}

/// Runs this instance's share of the cluster's partitions until a signal.
pub fn run(setup: Setup) -> Outcome {
    let config = &setup.config;
    let cluster = &config.cluster;
    let watched = config.mongodb.resolved_uri().ok_or_else(|| {
        Failure::BadInput(anyhow!(
            "no MongoDB connection string: set [mongodb] uri in the config, or HERALD_MONGODB_URI"
        ))
    })?;
    let uri = cluster
        .resolved_uri(Some(watched.clone()))
        .expect("falls back to the watched deployment");
    let options = config
        .mongodb
        .source_options()
        .map_err(|e| Failure::BadInput(anyhow!(e)))?;
    if options.start_at == herald_ingest::mongo::StartAt::Snapshot
        || !options.start_at_for.is_empty()
    {
        return Err(Failure::BadInput(anyhow!(
            "start_at = \"snapshot\" is not available in cluster mode yet: start the instances with start_at = \"now\" or an operation time, and use `herald backfill` for existing documents"
        )));
    }
    let me = herald_engine::config::ClusterConfig::instance_name();
    let lease = Duration::from_millis(cluster.lease_ms);
    let period = lease / 3;
    // Before any engine is built, which takes its metrics' handles.
    let prometheus = match config.http.listen {
        Some(_) => Some(crate::http::install_recorder().map_err(Failure::Runtime)?),
        None => None,
    };
    let store = setup.open_store()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(Failure::Runtime)?;
    runtime.block_on(async {
        let stopping = crate::signals::Stopping::new(crate::signals::shutdown_signal());
        // Reloads are not in cluster mode yet: SIGHUP is ignored, never fatal.
        let _hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
        let client = setup.mongodb_client().await?.expect("the uri was checked above");
        let herald_db = mongodb::Client::with_uri_str(&uri)
            .await
            .map_err(|e| Failure::BadInput(anyhow!("cluster.uri: {e}")))?
            .database(&cluster.database);
        let leases = Leases::new(&herald_db, &me, cluster.partitions, lease);
        // One start for every partition: one that nobody serves yet starts
        // where the others did, whenever it is first taken.
        let server_time = client
            .database("admin")
            .run_command(bson::doc! {"ping": 1})
            .await
            .ok()
            .and_then(|reply| reply.get_timestamp("operationTime").ok());
        let now = server_time.ok_or_else(|| {
            Failure::Runtime(anyhow!("cannot read the server's time (a replica set is needed)"))
        })?;
        // $toHashedIndexKey, which selects a partition's events, is 7.0's.
        let hello = client
            .database("admin")
            .run_command(bson::doc! {"hello": 1})
            .await
            .map_err(|e| Failure::Runtime(anyhow!("cannot ask the server what it is: {e}")))?;
        let wire = hello.get_i32("maxWireVersion").unwrap_or_default();
        if wire < MIN_WIRE_VERSION {
            return Err(Failure::BadInput(anyhow!(
                "cluster mode needs MongoDB 7.0 or later (it selects each partition's events with $toHashedIndexKey); this server speaks wire version {wire}"
            )));
        }
        let start = leases.settle(now).await.map_err(|e| Failure::BadInput(anyhow!(e)))?;
        let view = View::new(leases.clone(), cluster.partitions, cluster.lease_ms);
        if let (Some(addr), Some(prometheus)) = (config.http.listen, prometheus) {
            let endpoint = crate::http::Endpoint {
                prometheus,
                store: store.clone(),
                serves: crate::http::Serves::Cluster {
                    view: view.clone(),
                    location: format!("mongodb database {}", cluster.database).into(),
                    partitions: cluster.partitions,
                },
                reads: tokio::sync::Semaphore::new(1),
            };
            crate::http::start(addr, endpoint).await.map_err(Failure::BadInput)?;
        }
        // The rules, compiled once: every partition runs the same set,
        // whatever happens to the files meanwhile.
        let rules = herald_script::RuleSet::load_dir(&setup.rules).map_err(|diagnostics| {
            crate::setup::build_failure(herald_engine::EngineError::Rules(diagnostics))
        })?;
        let mut options = options;
        let mut rule_starts = std::collections::BTreeMap::new();
        if options.start_at == herald_ingest::mongo::StartAt::Now {
            // Streams new to the cluster start where its first instance did;
            // a rule new to it, where the first instance to run it did.
            options.start_at = herald_ingest::mongo::StartAt::OperationTime(start);
            let named: Vec<(String, String)> = rules
                .rules()
                .iter()
                .map(|r| (r.name().to_string(), r.spec().watch.to_string()))
                .collect();
            rule_starts = herald_engine::cluster::rule_starts(&herald_db, &named, now)
                .await
                .map_err(|e| Failure::Runtime(anyhow!("cannot record where the rules start: {e}")))?;
        }
        let rule_starts = std::sync::Arc::new(rule_starts);
        let shared = partition::Shared {
            setup: &setup,
            store: &store,
            client: &client,
            options: &options,
            rules: &rules,
            rule_starts: &rule_starts,
            shutdown_timeout: Duration::from_millis(config.engine.shutdown_timeout_ms),
            view: &view,
        };
        say::info(
            format!(
                "herald: instance {me} joins the cluster ({} partitions, leases of {} ms) at {}",
                cluster.partitions,
                cluster.lease_ms,
                herald_ingest::mongo::uri::redact(&uri)
            ),
            json!({ "instance": me, "partitions": cluster.partitions, "lease_ms": cluster.lease_ms }),
        );
        let mut serving: BTreeMap<Partition, Serving> = BTreeMap::new();
        let mut runs = FuturesUnordered::new();
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failure = None;
        loop {
            tokio::select! {
                () = stopping.wait() => break,
                ended = runs.next(), if !runs.is_empty() => {
                    let Some(ended) = ended else { continue };
                    let ended: Ended = ended;
                    ended_run(&leases, &view, &mut serving, &ended).await;
                    if let Some(fatal) = ended.fatal {
                        failure = Some(fatal);
                        break;
                    }
                }
                _ = tick.tick() => {
                    let want = match rebalance(&leases, &mut serving, lease).await {
                        Ok(share) => share,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot reach the cluster's leases; trying again next period");
                            continue;
                        }
                    };
                    let held = serving.values().filter(|s| *s.stop.borrow() == Stop::Run).count() as u32;
                    if held < want {
                        // Not one still served, draining or ending here.
                        let busy: Vec<Partition> = serving.keys().copied().collect();
                        // Bounded: a lease a paused instance's open
                        // transaction holds makes the take wait on a real
                        // server (what is taken meanwhile lapses unserved).
                        let asked = Instant::now();
                        match leases.take_free(want - held, &busy, period / 4, period).await {
                            Ok(taken) => {
                                for held in taken {
                                    let (stop, stopped) = watch::channel(Stop::Run);
                                    let (valid, until) = watch::channel(valid_until(asked, lease));
                                    say::info(
                                        format!("herald: {me} serves partition {} (epoch {})", held.partition, held.epoch),
                                        json!({ "instance": me, "partition": held.partition.to_string(), "epoch": held.epoch }),
                                    );
                                    runs.push(partition::serve(
                                        &shared,
                                        leases.fence(&held),
                                        held.partition,
                                        stopped,
                                        until,
                                    ));
                                    serving.insert(held.partition, Serving { held, stop, valid });
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "cannot take partitions; trying again next period"),
                        }
                    }
                }
            }
        }
        // Drain every partition (renewing their leases meanwhile), let the
        // leases go, and leave.
        for s in serving.values() {
            let _ = s.stop.send(Stop::Drain);
        }
        while !runs.is_empty() {
            tokio::select! {
                ended = runs.next() => {
                    let Some(ended) = ended else { break };
                    ended_run(&leases, &view, &mut serving, &ended).await;
                }
                _ = tick.tick() => {
                    if let Err(e) = renew(&leases, &mut serving, lease).await {
                        tracing::warn!(error = %e, "cannot renew the leases while stopping");
                    }
                }
            }
        }
        let _ = bounded(period, "retiring this instance", leases.retire()).await;
        say::info(format!("herald stopped: instance {me} left the cluster"), json!({ "instance": me }));
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    })
}

/// Renews the leases held, stops the partitions whose lease is gone, and
/// stops (at a checkpoint) those past this instance's fair share, which it
/// returns.
async fn rebalance(
    leases: &Leases,
    serving: &mut BTreeMap<Partition, Serving>,
    lease: Duration,
) -> mongodb::error::Result<u32> {
    // Renewals first: they must not wait on anything else.
    renew(leases, serving, lease).await?;
    let period = lease / 3;
    bounded(period, "announcing this instance", leases.announce()).await?;
    let live = bounded(period, "counting the instances", leases.live_instances()).await?;
    let share = leases.fair_share(live);
    let running: Vec<Partition> = serving
        .iter()
        .filter(|(_, s)| *s.stop.borrow() == Stop::Run)
        .map(|(p, _)| *p)
        .collect();
    // Past the share: the highest partitions go, at their next checkpoint.
    for partition in running
        .iter()
        .rev()
        .take(running.len().saturating_sub(share as usize))
    {
        tracing::info!(%partition, "handing the partition over (another instance joined)");
        let _ = serving[partition].stop.send(Stop::Drain);
    }
    Ok(share)
}

/// Renews the leases of the partitions served, and stops at once those
/// whose lease is gone or could not be renewed in time. A partition
/// draining for a hand-over keeps its lease until it has committed and let
/// it go: taken over earlier, its new owner's effects could interleave with
/// the ones it finishes.
async fn renew(
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
async fn bounded<T>(
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
async fn ended_run(
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
