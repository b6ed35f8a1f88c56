//! Where each stream starts, and from which point each rule takes events.
//!
//! A stream with a checkpoint resumes from it. But the streams a run opens
//! depend on the rules (a rule on a database makes one stream carry its
//! collections too), so the streams of the last run, recorded in the store
//! as its *plan* (each stream with the rules it served), may differ from
//! this run's. Then:
//! - a stream starts at the earliest checkpoint among its own and those of
//!   the last plan's streams it overlaps, so no event any of them had not
//!   yet completed is skipped;
//! - each rule takes only events after the checkpoint of the stream that
//!   served it in the last plan (its *floor*): events it completed before
//!   are not run again, however long ago, without relying on the ledger;
//! - a rule new to the plan takes events from the source's start time
//!   (`start_at`, by default the server's time now), as a stream without a
//!   checkpoint would: adding a rule does not replay what happened before it;
//! - a checkpoint of a stream that was in no stream of the last plan is
//!   stale (its rules were removed since) and is dropped, so a rule re-added
//!   later does not replay the history in between.
//!
//! An event at exactly a floor's cluster time (one transaction shares one) is
//! left to the ledger, which remembers the newest completed pairs.

use crate::engine::{Engine, EngineError};
use bson::Timestamp;
use herald_ingest::Source;
use herald_store::Checkpoint;
use std::collections::HashMap;
use std::sync::Arc;

/// The store's record of the last run's streams and the rules each served.
pub(crate) const PLAN_INFO: &str = "plan";

/// Where a rule starts taking events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Floor {
    /// After the checkpoint (at this cluster time) of the stream that served
    /// it: earlier events are done; those at the same time are left to the
    /// ledger (a transaction's events share one time).
    After(Timestamp),
    /// A rule new to the plan: only events later than the source's start
    /// time (the server's time when the run began: everything at or before
    /// it happened before the rule was added).
    Later(Timestamp),
}

/// Per rule, where it starts taking events.
pub(crate) type Floors = HashMap<Arc<str>, Floor>;

/// How a run starts: the old checkpoints it takes over, and the rules' floors.
#[derive(Debug, Default)]
pub(crate) struct Resumed {
    /// Checkpoints of the last plan's streams that this run's streams took
    /// over, with the streams that took each; removed once all of them have
    /// committed a checkpoint of their own.
    pub(crate) taken_over: HashMap<String, Vec<String>>,
    /// Per rule, the time before which its events are skipped.
    pub(crate) floors: Floors,
}

/// A checkpoint's cluster time: its token's, else its last event's.
fn time_of(checkpoint: &Checkpoint) -> Option<Timestamp> {
    checkpoint.position.cluster_time().or(checkpoint
        .cluster_time
        .map(|[time, increment]| Timestamp { time, increment }))
}

/// Streams by id, each with the rules it serves.
type Plan = HashMap<String, Vec<String>>;

impl Engine {
    /// Starts each stream of `source` (see the module docs) and returns what
    /// the run must remember. Writes this run's plan to the store (unless a
    /// dry run), keeping the streams taken over until they are released.
    pub(crate) async fn resume<S: Source>(&self, source: &mut S) -> Result<Resumed, EngineError> {
        let store = &self.core.store;
        let streams = source.streams();
        let stored: HashMap<String, Checkpoint> = store.checkpoints()?.into_iter().collect();
        // The targets of every stream named here, this run's and stored ones.
        let targets: HashMap<&str, herald_core::WatchTarget> = streams
            .iter()
            .chain(stored.keys())
            .filter_map(|id| Some((id.as_str(), source.stream_target(id)?)))
            .collect();
        let target_of = |id: &str| targets.get(id).cloned();
        // This run's plan: each rule on the stream that carries its target.
        let mut plan: Plan = streams
            .iter()
            .filter(|s| target_of(s).is_some())
            .map(|s| (s.clone(), Vec::new()))
            .collect();
        for rule in self.rules() {
            let carrier = streams
                .iter()
                .find(|s| target_of(s).is_some_and(|t| t.contains(&rule.spec().watch)));
            if let Some(stream) = carrier {
                plan.entry(stream.clone())
                    .or_default()
                    .push(rule.name().to_string());
            }
        }
        let previous: Option<Plan> = store
            .info(PLAN_INFO)?
            .and_then(|v| serde_json::from_value(v["streams"].clone()).ok());
        let watch_of: HashMap<&str, &herald_core::WatchTarget> = self
            .rules()
            .iter()
            .map(|r| (r.name().as_ref(), &r.spec().watch))
            .collect();
        // Which stream served each rule last time (thousands of rules may share one).
        let served: HashMap<&str, &str> = previous
            .iter()
            .flatten()
            .flat_map(|(id, rules)| rules.iter().map(move |r| (r.as_str(), id.as_str())))
            .collect();
        // Checkpoints of target streams this run does not read: from the last
        // plan (or, for a store without a plan, any: one written before plans
        // were recorded, which opened one stream per target).
        let (old, stale): (Vec<&String>, Vec<&String>) = stored
            .keys()
            .filter(|id| !streams.contains(id) && target_of(id).is_some())
            .partition(|id| previous.as_ref().is_none_or(|p| p.contains_key(*id)));
        let mut resumed = Resumed::default();
        let mut start_time: Option<Option<Timestamp>> = None;
        let mut stale: Vec<&String> = stale;
        for stream in &streams {
            // A checkpoint of this stream that is not in the last plan is stale
            // too (the stream was dropped from the plan in between).
            let own = match stored.get_key_value(stream) {
                Some((id, _)) if previous.as_ref().is_some_and(|p| !p.contains_key(id)) => {
                    stale.push(id);
                    None
                }
                other => other.map(|(_, c)| c),
            };
            let Some(target) = target_of(stream) else {
                if let Some(own) = own {
                    source.resume_from(stream, &own.position)?;
                }
                continue;
            };
            let overlapping: Vec<&String> = old
                .iter()
                .copied()
                .filter(|id| {
                    target_of(id).is_some_and(|t| t.contains(&target) || target.contains(&t))
                })
                .collect();
            let start = own
                .iter()
                .copied()
                .chain(overlapping.iter().map(|id| &stored[*id]))
                .filter_map(time_of)
                .min();
            match (own, overlapping.is_empty(), start) {
                (Some(own), true, _) => {
                    tracing::info!(%stream, position = %own.position, "resuming from checkpoint");
                    source.resume_from(stream, &own.position)?;
                }
                (_, false, Some(start)) => {
                    tracing::info!(%stream, from = ?overlapping, time = %start, "starting at the earliest checkpoint of the streams it takes over");
                    source.resume_at_time(stream, start)?;
                    for id in &overlapping {
                        resumed
                            .taken_over
                            .entry((*id).clone())
                            .or_default()
                            .push(stream.clone());
                    }
                }
                (None, true, _) => {}
                (_, false, None) => {
                    tracing::warn!(%stream, from = ?overlapping, "the checkpoints it takes over have no time; starting at start_at");
                }
            }
            // Each rule's floor: after the stream that served it last time.
            for name in plan.get(stream).into_iter().flatten() {
                let served_by = match &previous {
                    Some(_) => served.get(name.as_str()).map(|id| (*id).to_owned()),
                    // Before plans were recorded, every target had its own stream.
                    None => watch_of
                        .get(name.as_str())
                        .map(|watch| herald_ingest::mongo::stream_id(watch)),
                };
                let floor = match served_by {
                    Some(id) => stored.get(&id).and_then(time_of).map(Floor::After),
                    None if previous.is_some() => {
                        // New to the plan: from the source's start time.
                        if start_time.is_none() {
                            start_time = Some(source.start_time().await);
                        }
                        start_time.flatten().map(Floor::Later)
                    }
                    None => None,
                };
                let needed = match floor {
                    Some(Floor::After(time)) => start.is_none_or(|start| time > start),
                    Some(Floor::Later(_)) => true,
                    None => false,
                };
                if let (Some(floor), true) = (floor, needed) {
                    resumed.floors.insert(name.as_str().into(), floor);
                }
            }
        }
        if !self.core.options.dry_run {
            let mut commit = store.begin();
            for id in &stale {
                tracing::info!(stream = %id, "removing the checkpoint of a stream no rule uses any more");
                commit.remove_checkpoint(id);
            }
            if !plan.is_empty() {
                // Streams being taken over stay in the plan until released, so a
                // crash before then takes them over again.
                for id in resumed.taken_over.keys() {
                    let rules = previous
                        .as_ref()
                        .and_then(|p| p.get(id).cloned())
                        .unwrap_or_default();
                    plan.insert(id.clone(), rules);
                }
                commit.set_info(PLAN_INFO, &serde_json::json!({ "streams": plan }));
            }
            store.commit(commit)?;
        }
        Ok(resumed)
    }
}

/// True if `rule`'s event at `time` is before its floor (already done, or
/// before the rule was added).
pub(crate) fn below_floor(floors: &Floors, rule: &str, time: Option<Timestamp>) -> bool {
    match (floors.get(rule), time) {
        (Some(Floor::After(floor)), Some(time)) => time < *floor,
        (Some(Floor::Later(floor)), Some(time)) => time <= *floor,
        _ => false,
    }
}
