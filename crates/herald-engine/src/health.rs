//! Whether a running engine is ready: every stream open, no target stopped.

use herald_ingest::{Batch, StreamNotice};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The reason given between runs.
pub const NOT_RUNNING: &str =
    "no run is going on: herald is starting, stopping, or reloading its rules";

/// What a stream is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamState {
    /// Planned, not yet read from.
    Starting,
    /// Reading: its last read returned.
    Open,
    /// Failed, being reopened.
    Retrying(String),
    /// Ended: it delivers nothing more this run.
    Stopped(String),
}

/// A shared, cheaply cloned view of the engine's streams for readiness
/// checks ([`Engine::health`](crate::Engine::health)); it lives as long as
/// the engine, across runs.
///
/// ```
/// let health = herald_engine::health::Health::default();
/// assert_eq!(health.readiness(), Err(vec![herald_engine::health::NOT_RUNNING.to_owned()]));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<Mutex<Inner>>);

#[derive(Debug, Default)]
struct Inner {
    running: bool,
    streams: BTreeMap<String, StreamState>,
    /// Stopped targets and why (recorded in the store, or stopped this run).
    stopped: BTreeMap<String, String>,
}

impl Health {
    /// `Ok` when a run is going on, every stream is open and no target is
    /// stopped; else every reason it is not.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        let inner = self.0.lock().expect("health lock");
        if !inner.running {
            return Err(vec![NOT_RUNNING.to_owned()]);
        }
        let mut reasons: Vec<String> = inner
            .streams
            .iter()
            .filter_map(|(stream, state)| match state {
                StreamState::Open => None,
                StreamState::Starting => Some(format!("stream {stream} is starting")),
                StreamState::Retrying(why) => {
                    Some(format!("stream {stream} is reconnecting: {why}"))
                }
                StreamState::Stopped(why) => Some(format!("stream {stream} stopped: {why}")),
            })
            .collect();
        reasons.extend(
            inner
                .stopped
                .iter()
                .map(|(target, why)| format!("target {target} is stopped: {why}")),
        );
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }

    /// Each stream's state.
    pub fn streams(&self) -> BTreeMap<String, StreamState> {
        self.0.lock().expect("health lock").streams.clone()
    }

    /// A run starts with these streams and these stopped targets.
    pub(crate) fn started(&self, streams: &[String], stopped: BTreeMap<String, String>) {
        let mut inner = self.0.lock().expect("health lock");
        inner.running = true;
        inner.streams = streams
            .iter()
            .map(|s| (s.clone(), StreamState::Starting))
            .collect();
        inner.stopped = stopped;
    }

    /// A batch came from a stream: it is open, unless its notices say otherwise.
    pub(crate) fn saw(&self, batch: &Batch) {
        let mut inner = self.0.lock().expect("health lock");
        let mut state = StreamState::Open;
        for notice in &batch.notices {
            match notice {
                StreamNotice::Retrying { error, .. } => {
                    state = StreamState::Retrying(error.clone())
                }
                StreamNotice::Stopped { reason, .. } => {
                    state = StreamState::Stopped(reason.clone())
                }
                StreamNotice::TargetStopped { target, reason } => {
                    inner.stopped.insert(target.to_string(), reason.clone());
                }
                StreamNotice::Gap { .. } | StreamNotice::SnapshotOverlap { .. } => {}
            }
        }
        // Most batches find their stream open already: nothing to write.
        if inner.streams.get(&*batch.stream) != Some(&state) {
            inner.streams.insert(batch.stream.to_string(), state);
        }
    }

    /// The run ended.
    pub(crate) fn ended(&self) {
        self.0.lock().expect("health lock").running = false;
    }
}
