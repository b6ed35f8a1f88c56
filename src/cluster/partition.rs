//! One partition served: an engine on the partition's scope of the shared
//! store, fenced by its lease, reading the plan's streams narrowed to the
//! partition's hash range.

use crate::exit::{self, Failure};
use crate::setup::Setup;
use anyhow::anyhow;
use herald_core::partition::Partition;
use herald_engine::{EngineError, Quiet, RunOptions};
use herald_ingest::mongo::{MongoSource, MongoSourceOptions, plan_with};
use herald_script::RuleSet;
use herald_store::backend::Fence;
use herald_store::{Scope, Store, StoreError};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What the instance asks of a partition's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Keep serving.
    Run,
    /// Stop reading and finish the events in hand (within the shutdown
    /// timeout), then commit: a hand-over, or the instance stopping.
    Drain,
    /// Stop now: the lease is gone, so nothing more of this run can commit.
    Abort,
}

/// How a partition's run ended.
pub struct Ended {
    /// The partition.
    pub partition: Partition,
    /// The epoch of the lease it ran under.
    pub epoch: i64,
    /// Its lease was lost (so it is not let go: it may be another's).
    pub lost: bool,
    /// A failure that must stop the instance (bad rules, a broken store).
    pub fatal: Option<Failure>,
}

/// A partition's run (on a thread of its own), as a future the instance's
/// loop polls with the others: its end.
pub type Run = Pin<Box<dyn Future<Output = Ended>>>;

/// What every partition of an instance runs with.
pub struct Shared<'a> {
    /// The instance's setup (config).
    pub setup: &'a Setup,
    /// The shared store.
    pub store: &'a Store,
    /// The watched deployment.
    pub client: &'a mongodb::Client,
    /// How the streams read.
    pub options: &'a MongoSourceOptions,
    /// The rules, compiled once when the instance started.
    pub rules: &'a RuleSet,
    /// Where each rule with no progress starts (see `RunOptions::rule_starts`).
    pub rule_starts: &'a Arc<BTreeMap<String, bson::Timestamp>>,
    /// How long a drain may take.
    pub shutdown_timeout: Duration,
    /// The server is older than 7.0 (no `$toHashedIndexKey`): streams read
    /// every event, and each partition's engine skips other partitions'.
    pub partition_in_herald: bool,
    /// What the HTTP endpoint reports.
    pub view: &'a super::View,
}

/// Starts serving `partition` under `fence`; the run ends when `stop` says
/// so, or when it fails.
pub fn serve(
    shared: &Shared<'_>,
    fence: Fence,
    partition: Partition,
    stop: watch::Receiver<Stop>,
    valid: watch::Receiver<Instant>,
) -> Run {
    let Shared {
        setup,
        store,
        client,
        options,
        shutdown_timeout,
        view,
        ..
    } = *shared;
    let epoch = fence.epoch;
    let ended = move |lost, fatal| Ended {
        partition,
        epoch,
        lost,
        fatal,
    };
    let scoped = store.scoped(Scope {
        name: partition.to_string(),
        fence: Some(fence),
    });
    let run_options = RunOptions {
        partition: Some(partition),
        partition_in_herald: shared.partition_in_herald,
        rule_starts: shared.rule_starts.clone(),
        ..RunOptions::default()
    };
    let engine = setup.engine_with(
        shared.rules.clone(),
        run_options,
        Some(client.clone()),
        Some(scoped.clone()),
    );
    let engine = match engine {
        Ok(engine) => engine,
        Err(fatal) => return Box::pin(std::future::ready(ended(false, Some(fatal)))),
    };
    let own = &setup.config.cluster.database;
    if let Some(rule) = engine.rules().iter().find(|r| match &r.spec().watch {
        herald_core::WatchTarget::Database(db) => db == own,
        herald_core::WatchTarget::Collection(ns) => ns.db == *own,
        herald_core::WatchTarget::Cluster => false,
    }) {
        let fatal = Failure::BadInput(anyhow!(
            "rule {} watches {}, herald's own database in cluster mode ([cluster] database); watch another database, or give herald another",
            rule.name(),
            rule.spec().watch
        ));
        return Box::pin(std::future::ready(ended(false, Some(fatal))));
    }
    let plans = match engine
        .subscriptions()
        .map(|subs| plan_with(&subs, &options.stages))
    {
        Ok(Ok(plans)) => plans,
        Ok(Err(e)) => {
            let fatal = Failure::BadInput(anyhow!("mongodb.streams: {e}"));
            return Box::pin(std::future::ready(ended(false, Some(fatal))));
        }
        Err(e) => return Box::pin(std::future::ready(outcome(partition, epoch, Err(e), false))),
    };
    if plans.is_empty() {
        // Every target stopped here: nothing to read, but the partition
        // stays held (its stops are its own) until the instance lets it go.
        tracing::warn!(%partition, "every watch target is stopped in this partition (see `herald status`)");
        view.idles(
            partition,
            "every watch target is stopped (see `herald status`)",
        );
        return Box::pin(async move {
            until(stop, |s| s != Stop::Run).await;
            ended(false, None)
        });
    }
    // herald's own database never feeds its rules (its writes would
    // make events of their own, without end).
    let plans = plans
        .iter()
        .map(|p| {
            let mut plan = if shared.partition_in_herald {
                p.clone()
            } else {
                p.partitioned(partition)
            };
            if plan.target == herald_core::WatchTarget::Cluster {
                plan.pipeline
                    .insert(0, bson::doc! {"$match": {"ns.db": {"$ne": own}}});
            }
            plan
        })
        .collect();
    view.serves(partition, engine.health());
    let source = MongoSource::new(client.clone(), plans, options.clone());
    // On a thread (and runtime) of its own: its commits wait on MongoDB,
    // and must never hold up the lease renewals of the instance's loop.
    let (done, ended_rx) = tokio::sync::oneshot::channel();
    let started = std::thread::Builder::new()
        .name(format!("herald-{partition}"))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = done.send(ended(false, Some(Failure::Runtime(e.into()))));
                    return;
                }
            };
            // The partition's ledger window, read here rather than on the
            // instance's loop (it may be large): exactly this partition's
            // marks, as its previous owner committed them.
            if let Err(e) = scoped.load_ledger() {
                let _ = done.send(outcome(partition, epoch, Err(EngineError::Store(e)), false));
                return;
            }
            let result = runtime.block_on(async {
                // The lease's deadline stops the partition on its own, even
                // while the instance's loop waits on MongoDB.
                let shutdown = {
                    let (stop, valid) = (stop.clone(), valid.clone());
                    async move {
                        tokio::select! {
                            () = until(stop, |s| s != Stop::Run) => {}
                            () = lapses(valid) => {
                                tracing::warn!(%partition, "the lease was not renewed in time; the partition stops itself");
                            }
                        }
                    }
                };
                let mut limit = stop.clone();
                let lapsed = valid.clone();
                // An abort or the deadline ends the wait for events in hand
                // at once; a drain after the shutdown timeout.
                let drain_limit = async move {
                    tokio::select! {
                        () = lapses(lapsed.clone()) => return,
                        _ = limit.wait_for(|s| s != &Stop::Run) => {}
                    }
                    if *limit.borrow() == Stop::Drain {
                        tokio::select! {
                            _ = limit.wait_for(|s| s == &Stop::Abort) => {}
                            () = tokio::time::sleep(shutdown_timeout) => {}
                            () = lapses(lapsed) => {}
                        }
                    }
                };
                engine
                    .run_draining(source, &mut Quiet, shutdown, drain_limit)
                    .await
            });
            let aborted = *stop.borrow() == Stop::Abort || Instant::now() >= *valid.borrow();
            let _ = done.send(outcome(partition, epoch, result.map(|_| ()), aborted));
        });
    if let Err(e) = started {
        let fatal = Failure::Runtime(anyhow!("cannot start partition {partition}'s thread: {e}"));
        return Box::pin(std::future::ready(ended(false, Some(fatal))));
    }
    Box::pin(async move {
        ended_rx.await.unwrap_or_else(|_| {
            ended(
                false,
                Some(Failure::Runtime(anyhow!(
                    "partition {partition}'s thread ended without a word (a panic?)"
                ))),
            )
        })
    })
}

/// Completes when the deadline `valid` holds has passed (the lease was not
/// renewed in time).
async fn lapses(mut valid: watch::Receiver<Instant>) {
    loop {
        let until = *valid.borrow_and_update();
        if Instant::now() >= until {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep_until(until.into()) => {}
            changed = valid.changed() => {
                if changed.is_err() {
                    // Nobody renews any more: the last deadline stands.
                    tokio::time::sleep_until(until.into()).await;
                    return;
                }
            }
        }
    }
}

/// Waits until `stop` satisfies `done`.
async fn until(mut stop: watch::Receiver<Stop>, done: impl Fn(Stop) -> bool) {
    let _ = stop.wait_for(|s| done(*s)).await;
}

/// What a run's result means for the instance: a lost lease, or a store
/// that failed (MongoDB out of reach), is not a failure of the instance
/// (the partition moves on, or is taken again later); anything else (bad
/// rules, a damaged store) stops it.
fn outcome(
    partition: Partition,
    epoch: i64,
    result: Result<(), EngineError>,
    aborted: bool,
) -> Ended {
    let ended = move |lost, fatal| Ended {
        partition,
        epoch,
        lost,
        fatal,
    };
    match result {
        Ok(()) => ended(aborted, None),
        Err(
            EngineError::CommitFailed(StoreError::Fenced { .. })
            | EngineError::Store(StoreError::Fenced { .. }),
        ) => {
            tracing::warn!(%partition, "the partition's lease was taken over; its last group was not committed, and its new owner runs those events again (with the same idempotency keys)");
            ended(true, None)
        }
        Err(
            e @ (EngineError::CommitFailed(StoreError::Mongo { .. })
            | EngineError::Store(StoreError::Mongo { .. })),
        ) => {
            // Its lease is left to lapse: the store may be out of reach.
            tracing::warn!(%partition, error = %e, "the partition stopped: its store failed; it is served again once its lease can be taken");
            ended(true, None)
        }
        Err(e) => ended(aborted, Some(exit::run_failure(e))),
    }
}
