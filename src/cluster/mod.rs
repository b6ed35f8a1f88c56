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

pub mod hold;
mod partition;
mod share;
pub mod status;
mod view;

pub use hold::Holding;
pub use view::View;

use crate::exit::{Failure, Outcome};
use crate::logging::say;
use crate::setup::Setup;
use anyhow::{Context, anyhow};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use herald_core::partition::Partition;
use herald_engine::cluster::Leases;
use partition::{Ended, Stop};
use serde_json::json;
use share::{Serving, bounded, ended_run, renew, valid_until};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;

/// The wire version of MongoDB 7.0, the first with `$toHashedIndexKey`.
const MIN_WIRE_VERSION: i32 = 21;

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
        let partition_in_herald = wire < MIN_WIRE_VERSION;
        if partition_in_herald {
            tracing::warn!(
                wire,
                partitions = cluster.partitions,
                "this server is older than MongoDB 7.0 (no $toHashedIndexKey): every partition's streams read every event and herald skips the other partitions' ones, so the server sends each event once per partition"
            );
        }
        let start = leases.settle(now).await.map_err(|e| Failure::BadInput(anyhow!(e)))?;
        share::claim_name(&leases, lease).await?;
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
            partition_in_herald,
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
        // Announcing, counting and taking, beside the renewals.
        type Looking = std::pin::Pin<
            Box<dyn std::future::Future<Output = mongodb::error::Result<Option<share::Look>>> + Send>,
        >;
        let mut looking: Option<Looking> = None;
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
                    // Renewals first, each period, whatever a look is waiting on.
                    if let Err(e) = renew(&leases, &mut serving, lease).await {
                        tracing::warn!(error = %e, "cannot renew the leases; trying again next period");
                    }
                    if looking.is_none() {
                        let busy: Vec<Partition> = serving.keys().copied().collect();
                        let running = serving.values().filter(|s| *s.stop.borrow() == Stop::Run).count() as u32;
                        looking = Some(Box::pin(share::look(leases.clone(), busy, running, lease)));
                    }
                }
                looked = async { looking.as_mut().expect("guarded").await }, if looking.is_some() => {
                    looking = None;
                    let look = match looked {
                        Ok(Some(look)) => look,
                        Ok(None) => {
                            failure = Some(Failure::BadInput(anyhow!(
                                "another process now runs as instance {me} (this one was silent past its lease): give each instance its own HERALD_INSTANCE"
                            )));
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot reach the cluster's leases; trying again next period");
                            continue;
                        }
                    };
                    share::hand_over_extra(&serving, look.share);
                    for held in look.taken {
                        let (stop, stopped) = watch::channel(Stop::Run);
                        let (valid, until) = watch::channel(valid_until(look.asked, lease));
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
            }
        }
        // A look in flight: what it takes is let go at once.
        if let Some(in_flight) = looking.take()
            && let Ok(Ok(Some(look))) = tokio::time::timeout(period, in_flight).await
        {
            for held in &look.taken {
                let _ = bounded(period, "letting the lease go", leases.release(held)).await;
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
