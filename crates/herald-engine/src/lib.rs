//! The embeddable herald engine.
//!
//! [`Engine`] reads a [`Source`](herald_ingest::Source), routes each event to
//! the rules that match it (in Rust, before any script runs), runs their
//! handlers, executes the intents they return through [`effects`] channels,
//! and commits what was done to the [`Store`](herald_store::Store): the
//! ledger, rule state, dead letters and the checkpoint, atomically per group.
//!
//! # Layout
//! - [`cluster`] — cluster mode: partition leases shared through MongoDB.
//! - [`engine`] — [`Engine`], [`EngineBuilder`], [`EngineError`], [`RunOptions`].
//! - [`pipeline`] — partitioned workers, ordered commits, and [`RunSummary`].
//! - [`dead_letters`] — retrying and dropping dead letters.
//! - [`health`] — readiness: every stream open, no target stopped.
//! - [`metrics`] — the series the engine records (install a recorder to export them).
//! - [`reload`] — replacing the rules between runs (hot reload).
//! - [`router`] — which rules an event goes to.
//! - [`effects`] — channels (stdout, file, log, webhook, custom) and retries.
//! - [`config`] — `herald.toml`.
//! - [`observer`] — hooks for progress, dry-run output and problems.
//! - `state`: rule state as handlers see it (committed + pending).
//! - [`stops`] — targets stopped by policy, kept across restarts until resumed.
//! - [`timers`] — when durable timers fire ([`timers::TimerClock`]), and their keys.

pub mod cluster;
pub mod config;
pub mod dead_letters;
pub mod effects;
pub mod engine;
pub mod health;
pub mod metrics;
pub mod observer;
pub mod pipeline;
pub mod reload;
pub mod router;
mod state;
pub mod stops;
pub mod timers;

pub use config::Config;
pub use dead_letters::RetryOutcome;
pub use engine::{Engine, EngineBuilder, EngineError, RunOptions};
pub use observer::{Observer, Quiet};
pub use pipeline::RunSummary;

/// The store's info records of snapshot overlaps: this prefix, then the
/// stream (`{changes, reason, at_ms}`), for `herald status`.
pub const SNAPSHOT_OVERLAP_INFO: &str = "snapshot_overlap:";
