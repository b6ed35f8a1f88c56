//! Watch targets stopped by policy, which stay stopped until resumed.
//!
//! A target stops when its collection is dropped or renamed with
//! `on_invalidate = "stop"`, or when its stream fails with an error that
//! reopening cannot fix. The stop is recorded in the store with the group
//! that reached it, so a restart does not quietly follow a re-created
//! collection: the stopped target's rules get no events, and a stream that
//! would carry only stopped targets is not opened. What the target's rules
//! had done is kept while it is stopped: the stop records where they stood,
//! and the checkpoint of a stream that served only stopped targets stays in
//! the store. `herald streams resume TARGET` lifts the stop, by default from
//! where it stopped, so nothing that happened meanwhile is lost.

use herald_core::WatchTarget;
use herald_store::{Commit, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The store's record of stopped targets.
pub const STOPS_INFO: &str = "stops";

/// The store's record of where resumed targets' rules go on from.
pub(crate) const RESUMES_INFO: &str = "resumes";

/// Why and when a target stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    /// What happened.
    pub reason: String,
    /// When, in milliseconds since the epoch.
    pub at_ms: i64,
    /// True if an error stopped it (not a policy).
    pub failed: bool,
    /// Where its rules stood when it stopped (unknown for a stop recorded by
    /// an older herald, or a source without cluster times).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stood: Option<Stood>,
}

/// Where a stopped target's rules stood, by cluster time (`[seconds, increment]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stood {
    /// Its events before this time were done; those from it on were not (an
    /// error stopped its stream there; those at it are left to the ledger).
    From([u32; 2]),
    /// Its events up to this time were done, the one that stopped it (a drop,
    /// rename or invalidate) included.
    After([u32; 2]),
}

/// Why a target cannot be resumed.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// The target is not stopped: resuming it would skip its backlog.
    #[error(
        "{target} is not stopped ({}); its rules go on from their own progress. To skip what they have not handled yet, pass --force",
        if stopped.is_empty() { "no target is stopped".to_owned() } else { format!("stopped: {}", stopped.join(", ")) }
    )]
    NotStopped {
        /// The target.
        target: String,
        /// The targets that are stopped.
        stopped: Vec<String>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads a JSON record of the store's info; a record that does not parse is
/// an error (a damaged store is reported, never taken as empty).
fn read_info<T: serde::de::DeserializeOwned + Default>(
    store: &Store,
    name: &'static str,
) -> Result<T, StoreError> {
    match store.info(name)? {
        None => Ok(T::default()),
        Some(value) => serde_json::from_value(value).map_err(|e| StoreError::BadValue {
            what: name,
            reason: e.to_string(),
        }),
    }
}

/// The stopped targets, by target (`db.coll`, `db` or `*`).
///
/// ```
/// let store = herald_store::Store::temporary()?;
/// assert!(herald_engine::stops::stopped(&store)?.is_empty());
/// # Ok::<(), herald_store::StoreError>(())
/// ```
pub fn stopped(store: &Store) -> Result<BTreeMap<String, Stop>, StoreError> {
    read_info(store, STOPS_INFO)
}

/// The stopped targets, parsed.
pub fn stopped_targets(store: &Store) -> Result<Vec<WatchTarget>, StoreError> {
    stopped(store)?
        .keys()
        .map(|t| {
            t.parse().map_err(|e| StoreError::BadValue {
                what: STOPS_INFO,
                reason: format!("{t:?} is not a watch target: {e}"),
            })
        })
        .collect()
}

/// Writes the stopped targets (all of them) in a commit.
pub(crate) fn record(commit: &mut Commit, all: &BTreeMap<String, Stop>) {
    commit.set_info(
        STOPS_INFO,
        &serde_json::to_value(all).expect("stops serialize"),
    );
}

/// Where a resumed target's rules go on from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResumeFrom {
    /// From where it stopped, so nothing that happened meanwhile is lost
    /// (where the stop record does not say, from its rules' kept progress).
    Stop,
    /// Only what happens from the cluster time when herald next starts.
    Now,
    /// Only what happens after this cluster time (`[seconds, increment]`):
    /// the server's time when the target was resumed, or the event that
    /// stopped it.
    After([u32; 2]),
    /// From this cluster time (`[seconds, increment]`), its events included.
    Time([u32; 2]),
}

/// Lifts the stop of `target`, and records where its rules go on from when
/// herald next starts. Returns the stop lifted.
///
/// A target that is not stopped is refused ([`ResumeError::NotStopped`]):
/// its rules have progress of their own, and moving it would skip (or
/// repeat) events. With `force` it is moved all the same.
///
/// ```
/// use herald_engine::stops::{resume, ResumeFrom};
/// let store = herald_store::Store::temporary()?;
/// let target = "shop.orders".parse().unwrap();
/// assert!(resume(&store, &target, ResumeFrom::Now, false).is_err());
/// assert_eq!(resume(&store, &target, ResumeFrom::Now, true)?, None);
/// # Ok::<(), herald_engine::stops::ResumeError>(())
/// ```
pub fn resume(
    store: &Store,
    target: &WatchTarget,
    from: ResumeFrom,
    force: bool,
) -> Result<Option<Stop>, ResumeError> {
    let mut stops = stopped(store)?;
    let lifted = stops.remove(&target.to_string());
    if lifted.is_none() && !force {
        return Err(ResumeError::NotStopped {
            target: target.to_string(),
            stopped: stops.into_keys().collect(),
        });
    }
    // "Where it stopped" is the stop's own record, when it has one.
    let from = match (from, lifted.as_ref().and_then(|s| s.stood)) {
        (ResumeFrom::Stop, Some(Stood::From(time))) => ResumeFrom::Time(time),
        (ResumeFrom::Stop, Some(Stood::After(time))) => ResumeFrom::After(time),
        (from, _) => from,
    };
    let mut resumes = resumes(store)?;
    resumes.insert(target.to_string(), from);
    let mut commit = store.begin();
    commit.set_info(
        STOPS_INFO,
        &serde_json::to_value(&stops).expect("stops serialize"),
    );
    commit.set_info(
        RESUMES_INFO,
        &serde_json::to_value(&resumes).expect("resumes serialize"),
    );
    store.commit(commit)?;
    Ok(lifted)
}

/// Resumed targets whose rules have not yet started again.
pub(crate) fn resumes(store: &Store) -> Result<BTreeMap<String, ResumeFrom>, StoreError> {
    read_info(store, RESUMES_INFO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_record_that_does_not_parse_is_an_error_not_no_stops() {
        let store = Store::temporary().unwrap();
        let mut commit = store.begin();
        commit.set_info(STOPS_INFO, &serde_json::json!({"shop.orders": "stopped"}));
        commit.set_info(RESUMES_INFO, &serde_json::json!(["shop.orders"]));
        store.commit(commit).unwrap();
        assert!(matches!(stopped(&store), Err(StoreError::BadValue { .. })));
        assert!(stopped_targets(&store).is_err());
        assert!(matches!(resumes(&store), Err(StoreError::BadValue { .. })));
    }

    #[test]
    fn resuming_from_the_stop_goes_on_where_its_rules_stood() {
        let store = Store::temporary().unwrap();
        let stop = Stop {
            reason: "dropped".into(),
            at_ms: 0,
            failed: false,
            stood: Some(Stood::After([7, 1])),
        };
        let mut commit = store.begin();
        record(&mut commit, &[("d.c".to_owned(), stop.clone())].into());
        store.commit(commit).unwrap();
        let lifted = resume(&store, &"d.c".parse().unwrap(), ResumeFrom::Stop, false).unwrap();
        assert_eq!(lifted, Some(stop));
        assert!(stopped(&store).unwrap().is_empty());
        assert_eq!(resumes(&store).unwrap()["d.c"], ResumeFrom::After([7, 1]));
    }
}
