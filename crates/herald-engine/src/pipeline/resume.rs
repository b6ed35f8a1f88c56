//! Where each stream starts, and from which point each rule takes events.
//!
//! The streams a run opens depend on the rules (a rule on a database makes
//! one stream carry its collections too), so they may differ from the last
//! run's. Progress is therefore kept per rule, not only per stream: the store
//! records each run's *plan*, the streams with the rules they serve and each
//! rule's *floor*, the point before which its events are done. At start:
//! - a rule's floor is the latest of its recorded floor and the checkpoint
//!   time of every stream that served it last time (for a store from before
//!   plans were recorded: the checkpoint of its target's own stream), as long
//!   as it still watches the same target;
//! - a rule with no progress (new, moved to another target, or renamed
//!   without an `id`) starts where a stream without a checkpoint does
//!   (`start_at`, by default the server's time now): adding a rule does not
//!   replay what happened before it;
//! - each stream starts at its own checkpoint, or earlier if one of its rules'
//!   floors is earlier (a rule it took over from another stream);
//! - checkpoints of streams this run does not read are dropped, in the same
//!   commit as the plan that carries their progress in its floors; but not
//!   those of stopped targets' streams, nor their rules' records: a stopped
//!   target keeps what it had done, to be resumed from where it stopped.
//! - a rule's floor after a time (`After`) starts its stream just after that
//!   time, so a collection stream resumed after its drop does not meet the
//!   drop (and its invalidate) again.
//!
//! Events before a rule's floor are skipped for that rule. Events at exactly
//! a checkpoint's cluster time (one transaction shares one) are left to the
//! ledger, which remembers the newest completed pairs.
//!
//! A rule new at its target's first start, where the target reads a
//! snapshot (`start_at = "snapshot"`), gets the floor `Snapshot(T)`: the
//! snapshot's events at T, then the changes after T. The floor is recorded
//! with the plan before anything is read, so a crash before the snapshot's
//! first checkpoint reads it again at the same T; a stream whose snapshot
//! is being read resumes it from its checkpoint, and one read whole
//! ([`Position::SnapshotDone`](herald_core::Position::SnapshotDone)) stands
//! after T, which moves the floor on. A rule added while its target's
//! snapshot is read, or after, takes no snapshot events (`herald backfill`
//! gives it the documents).

use crate::engine::{Engine, EngineError};
use crate::stops::ResumeFrom;
use bson::Timestamp;
use herald_core::WatchTarget;
use herald_ingest::{Source, StartTime};
use herald_store::Checkpoint;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The store's record of the last run's plan.
pub(crate) const PLAN_INFO: &str = "plan";

/// Where a run starts: each rule's floor, and the cluster time each stream
/// starts at (where its targets stand if it stops before handing on anything).
#[derive(Default)]
pub(crate) struct Start {
    pub(crate) floors: Floors,
    pub(crate) streams: HashMap<Arc<str>, Timestamp>,
}

use super::floor::{Floor, Floors, next, pair};

/// One rule in the plan record.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RuleRecord {
    /// The target it watched.
    watch: String,
    /// Where it took events from.
    floor: Option<Floor>,
}

/// The plan record: each stream with its rules, each rule with its floor.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PlanRecord {
    streams: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    rules: BTreeMap<String, RuleRecord>,
}

/// A checkpoint's cluster time: its token's, else its last event's; none
/// while a snapshot is being read (it stands before every change).
fn time_of(checkpoint: &Checkpoint) -> Option<Timestamp> {
    if matches!(checkpoint.position, herald_core::Position::Snapshot { .. }) {
        return None;
    }
    checkpoint.position.cluster_time().or(checkpoint
        .cluster_time
        .map(|[time, increment]| Timestamp { time, increment }))
}

impl Engine {
    /// Starts each stream of `source` (see the module docs) and returns the
    /// rules' floors and the streams' starts. Records this run's plan in the
    /// store (unless a dry run).
    pub(crate) async fn resume<S: Source>(&self, source: &mut S) -> Result<Start, EngineError> {
        let store = &self.core.store;
        let stopped = crate::stops::stopped_targets(store)?;
        let streams = source.streams();
        let stored: HashMap<String, Checkpoint> = store.checkpoints()?.into_iter().collect();
        let targets: HashMap<&str, WatchTarget> = streams
            .iter()
            .chain(stored.keys())
            .filter_map(|id| Some((id.as_str(), source.stream_target(id)?)))
            .collect();
        let previous: Option<PlanRecord> = store
            .info(PLAN_INFO)?
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| herald_store::StoreError::BadValue {
                what: PLAN_INFO,
                reason: e.to_string(),
            })?;
        // A stream that served only stopped targets: its checkpoint is kept.
        let of_stopped = |id: &str| targets.get(id).is_some_and(|t| stopped.contains(t));
        // The streams that served each rule last time.
        let mut served: HashMap<&str, Vec<&str>> = HashMap::new();
        for (id, rules) in previous.iter().flat_map(|p| &p.streams) {
            for rule in rules {
                served.entry(rule.as_str()).or_default().push(id.as_str());
            }
        }
        let in_previous = |id: &str| previous.as_ref().is_none_or(|p| p.streams.contains_key(id));
        // Targets resumed since (`herald streams resume`): their rules go on from there.
        let resumes = crate::stops::resumes(store)?;
        let mut now: Option<Option<Timestamp>> = None;
        let mut plan = PlanRecord::default();
        let mut floors = Floors::new();
        let mut new_floor: Option<Option<Floor>> = None;
        // Snapshots still pending (a rule's floor is one after its
        // progress is weighed): their streams, with their times. New rules
        // of those streams' targets join them; rules with a recorded floor
        // come first, so every pending snapshot is known before a new rule.
        let mut snapshot_of: HashMap<&str, [u32; 2]> = HashMap::new();
        // Targets some rule has progress on (not a first start).
        let mut started: Vec<&WatchTarget> = Vec::new();
        let recorded_of = |rule: &herald_script::Rule| {
            previous
                .as_ref()
                .and_then(|p| p.rules.get(rule.name().as_ref()))
                .filter(|r| r.watch == rule.spec().watch.to_string())
                .and_then(|r| r.floor)
        };
        let mut ordered: Vec<&herald_script::Rule> = self.rules().iter().collect();
        ordered.sort_by_key(|rule| recorded_of(rule).is_none());
        // A rule's progress: its recorded floor and the checkpoints of the
        // streams that served it, if they carry its target.
        let progress_of = |name: &str, watch: &WatchTarget, recorded: Option<Floor>| {
            // The checkpoint time of a stream that carried the rule's events
            // (its target overlaps the rule's); `Some(None)` if it has none yet.
            let checkpoint_of = |id: &str| {
                targets
                    .get(id)
                    .filter(|t| t.contains(watch) || watch.contains(t))
                    .map(|_| stored.get(id).and_then(time_of))
            };
            let carried: Vec<Option<Timestamp>> = match &previous {
                Some(_) => served
                    .get(name)
                    .into_iter()
                    .flatten()
                    .filter_map(|id| checkpoint_of(id))
                    .collect(),
                // Before plans were recorded, every target had its own stream.
                None => checkpoint_of(&herald_ingest::mongo::stream_id(watch))
                    .filter(Option::is_some)
                    .into_iter()
                    .collect(),
            };
            // Done up to the least advanced of the streams that carried it
            // (each carries a different part of its events); a stream with no
            // checkpoint yet leaves only the recorded floor.
            let from_checkpoints = if !carried.is_empty() && carried.iter().all(Option::is_some) {
                carried
                    .into_iter()
                    .flatten()
                    .min()
                    .map(|t| Floor::From(pair(t)))
            } else {
                None
            };
            recorded
                .into_iter()
                .chain(from_checkpoints)
                .max_by_key(|f| f.key())
        };
        // Per stream, the earliest floor of the rules that have progress.
        let mut earliest: HashMap<&str, Timestamp> = HashMap::new();
        for rule in ordered {
            let watch = &rule.spec().watch;
            let carriers: Vec<&String> = streams
                .iter()
                .filter(|s| {
                    targets
                        .get(s.as_str())
                        .is_some_and(|t| t.contains(watch) || watch.contains(t))
                })
                .collect();
            let name = rule.name().as_ref();
            let recorded = recorded_of(rule);
            if carriers.is_empty() {
                // A stopped target's rule keeps its progress for when it is resumed.
                if stopped.contains(watch) {
                    plan.rules.insert(
                        name.to_owned(),
                        RuleRecord {
                            watch: watch.to_string(),
                            floor: recorded,
                        },
                    );
                }
                continue;
            }
            for stream in &carriers {
                plan.streams
                    .entry((*stream).clone())
                    .or_default()
                    .push(name.to_owned());
            }
            let progress = progress_of(name, watch, recorded);
            let resumed = match resumes.get(&watch.to_string()) {
                Some(ResumeFrom::Time(time)) => Some(Floor::From(*time)),
                Some(ResumeFrom::After(time)) => Some(Floor::After(*time)),
                // The stop recorded no point: its rules' own progress.
                Some(ResumeFrom::Stop) => None,
                Some(ResumeFrom::Now) => {
                    if now.is_none() {
                        now = Some(source.current_time().await?);
                    }
                    now.flatten().map(|t| Floor::After(pair(t)))
                }
                None => None,
            };
            // Cluster mode: where the cluster first ran the rule.
            let recorded_start = self
                .core
                .options
                .rule_starts
                .get(name)
                .map(|t| Floor::After(pair(*t)));
            let floor = match resumed.or(progress).or(recorded_start) {
                Some(floor) => Some(floor),
                None => {
                    if new_floor.is_none() {
                        new_floor = Some(source.start_time().await?.map(|start| match start {
                            StartTime::From(t) => Floor::From(pair(t)),
                            StartTime::After(t) => Floor::After(pair(t)),
                        }));
                    }
                    // Its target's first start (no stream of it has read
                    // anything): the snapshot, at the time its stream's
                    // snapshot is taken (a pending one's, or now).
                    let first_start = carriers.iter().all(|s| !stored.contains_key(s.as_str()))
                        && !started.contains(&watch);
                    match new_floor.flatten() {
                        Some(Floor::After(now)) if first_start && source.snapshots(watch) => {
                            let at = carriers
                                .iter()
                                .find_map(|s| snapshot_of.get(s.as_str()).copied())
                                .unwrap_or(now);
                            for stream in &carriers {
                                snapshot_of.insert(stream.as_str(), at);
                            }
                            Some(Floor::Snapshot(at))
                        }
                        other => other,
                    }
                }
            };
            plan.rules.insert(
                name.to_owned(),
                RuleRecord {
                    watch: watch.to_string(),
                    floor,
                },
            );
            match floor {
                Some(Floor::Snapshot(at)) => {
                    for stream in &carriers {
                        snapshot_of.insert(stream.as_str(), at);
                    }
                }
                Some(_) => started.push(watch),
                None => {}
            }
            if let Some(floor) = floor {
                let time = floor.first_change();
                for stream in &carriers {
                    earliest
                        .entry(stream.as_str())
                        .and_modify(|t| *t = (*t).min(time))
                        .or_insert(time);
                }
                floors.insert(rule.name().clone(), floor);
            }
        }
        // Cluster mode: a partition passes through instances that run other
        // rules (a rolling restart, a roll-back). A rule this run does not
        // load keeps its progress, as it stands now, for the next run that
        // loads it; dropped, that run would start it again where the
        // cluster first ran it, or at the configured start.
        if self.core.options.partition.is_some() {
            for (name, record) in previous.iter().flat_map(|p| &p.rules) {
                if plan.rules.contains_key(name) {
                    continue;
                }
                let Ok(watch) = record.watch.parse::<WatchTarget>() else {
                    continue;
                };
                let floor = progress_of(name, &watch, record.floor);
                plan.rules.insert(
                    name.clone(),
                    RuleRecord {
                        watch: record.watch.clone(),
                        floor,
                    },
                );
            }
        }
        // Where each stream starts.
        let mut dropped: Vec<&String> = Vec::new();
        let mut starts: HashMap<&str, Timestamp> = HashMap::new();
        for stream in &streams {
            let own = stored.get(stream);
            let Some(_) = targets.get(stream.as_str()) else {
                // A file: its own checkpoint, nothing else.
                if let Some(own) = own {
                    source.resume_from(stream, &own.position)?;
                }
                continue;
            };
            // A checkpoint of a stream that was not in the last plan is stale
            // (but a stopped target's, kept while it was stopped).
            let own = own.filter(|_| in_previous(stream));
            if own.is_none() && stored.contains_key(stream) {
                dropped.push(stream);
            }
            match (own, earliest.get(stream.as_str())) {
                // Its rules stand elsewhere than its checkpoint: earlier (a rule it
                // took over from another stream) or later (all resumed from a
                // later time, or the checkpoint left the oplog).
                (Some(own), Some(start)) if time_of(own).is_some_and(|t| t != *start) => {
                    tracing::info!(%stream, time = %start, "starting where its rules stand, not at its checkpoint");
                    source.resume_at_time(stream, *start)?;
                    starts.insert(stream, *start);
                }
                (Some(own), start) => {
                    tracing::info!(%stream, position = %own.position, "resuming from checkpoint");
                    source.resume_from(stream, &own.position)?;
                    if let Some(time) = time_of(own) {
                        starts.insert(stream, time);
                    } else if let (Some(start), Some(at)) =
                        (start, snapshot_of.get(stream.as_str()))
                        && *start
                            < next(Timestamp {
                                time: at[0],
                                increment: at[1],
                            })
                    {
                        // A snapshot being read, and a rule of the stream
                        // whose changes start before the snapshot's time.
                        source.resume_at_time(stream, *start)?;
                        starts.insert(stream, *start);
                    }
                }
                (None, Some(start)) => {
                    tracing::info!(%stream, time = %start, "starting where its rules stood");
                    source.resume_at_time(stream, *start)?;
                    starts.insert(stream, *start);
                }
                (None, None) => {}
            }
            // Its targets' first start: their snapshot first.
            if own.is_none()
                && let Some([time, increment]) = snapshot_of.get(stream.as_str())
            {
                let at = Timestamp {
                    time: *time,
                    increment: *increment,
                };
                tracing::info!(%stream, %at, "reading the snapshot of its targets' first start");
                source.snapshot_at(stream, at)?;
            }
        }
        // Every rule of a live run keeps its floor (one at or before its
        // stream's start skips no change): a snapshot's events go only to
        // the rules whose floor is that snapshot.
        // The streams of stopped targets stay in the plan, so their kept
        // checkpoints are not stale when the targets are resumed.
        for (id, rules) in previous.iter().flat_map(|p| &p.streams) {
            if !streams.contains(id) && of_stopped(id) {
                plan.streams.insert(id.clone(), rules.clone());
            }
        }
        if !self.core.options.dry_run && !plan.streams.is_empty() {
            let mut commit = store.begin();
            // Checkpoints of target streams this run does not read: their
            // rules' progress is in the plan's floors now. Those of stopped
            // targets are kept, to resume from.
            for id in stored.keys() {
                if !streams.contains(id) && targets.contains_key(id.as_str()) && !of_stopped(id) {
                    dropped.push(id);
                }
            }
            for id in &dropped {
                tracing::info!(stream = %id, "removing the checkpoint of a stream this run does not read (its rules' progress is in the plan)");
                commit.remove_checkpoint(id);
            }
            let record = serde_json::to_value(&plan).expect("plans serialize");
            commit.set_info(PLAN_INFO, &record);
            if !resumes.is_empty() {
                // Consumed: the floors of the resumed targets' rules carry it now.
                commit.set_info(crate::stops::RESUMES_INFO, &serde_json::json!({}));
            }
            store.commit(commit)?;
        }
        Ok(Start {
            floors,
            streams: starts
                .into_iter()
                .map(|(id, time)| (Arc::from(id), time))
                .collect(),
        })
    }
}
