//! Watch targets stopped by policy, which stay stopped until resumed.
//!
//! A target stops when its collection is dropped or renamed with
//! `on_invalidate = "stop"`, or when its stream fails with an error that
//! reopening cannot fix. The stop is recorded in the store with the group
//! that reached it, so a restart does not quietly follow a re-created
//! collection: the stopped target's rules get no events, and a stream that
//! would carry only stopped targets is not opened. `herald streams resume
//! TARGET` lifts the stop, and says from where the target's rules go on.

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
}

/// The stopped targets, by target (`db.coll`, `db` or `*`).
///
/// ```
/// let store = herald_store::Store::temporary()?;
/// assert!(herald_engine::stops::stopped(&store)?.is_empty());
/// # Ok::<(), herald_store::StoreError>(())
/// ```
pub fn stopped(store: &Store) -> Result<BTreeMap<String, Stop>, StoreError> {
    Ok(store
        .info(STOPS_INFO)?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default())
}

/// The stopped targets, parsed.
pub(crate) fn stopped_targets(store: &Store) -> Result<Vec<WatchTarget>, StoreError> {
    Ok(stopped(store)?
        .keys()
        .filter_map(|t| t.parse().ok())
        .collect())
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
    /// Only what happens from the cluster time when herald next starts.
    Now,
    /// Only what happens after this cluster time (`[seconds, increment]`):
    /// the server's time when the target was resumed.
    After([u32; 2]),
    /// From this cluster time (`[seconds, increment]`), its events included.
    Time([u32; 2]),
}

/// Lifts the stop of `target` (if any), and records where its rules go on
/// from when herald next starts. Returns the stop lifted.
///
/// ```
/// use herald_engine::stops::{resume, ResumeFrom};
/// let store = herald_store::Store::temporary()?;
/// assert_eq!(resume(&store, &"shop.orders".parse().unwrap(), ResumeFrom::Now)?, None);
/// # Ok::<(), herald_store::StoreError>(())
/// ```
pub fn resume(
    store: &Store,
    target: &WatchTarget,
    from: ResumeFrom,
) -> Result<Option<Stop>, StoreError> {
    let mut stops = stopped(store)?;
    let lifted = stops.remove(&target.to_string());
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
    Ok(store
        .info(RESUMES_INFO)?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default())
}
