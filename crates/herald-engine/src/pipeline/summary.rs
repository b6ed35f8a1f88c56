//! [`RunSummary`]: what a run did, counted as it went.

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Events read from the source and completed.
    pub events: u64,
    /// (event, rule) pairs that matched.
    pub matched: u64,
    /// Effects executed (or, in a dry run, reported).
    pub effects: u64,
    /// State writes (`set_state`, `del_state`) of handlers that succeeded:
    /// committed, or in a dry run kept in memory. Not effects, so counted apart.
    pub state_writes: u64,
    /// Matches skipped because the ledger had them as done.
    pub deduplicated: u64,
    /// Matches that went to the dead-letter queue.
    pub dead_lettered: u64,
    /// Malformed lines skipped.
    pub skipped_lines: u64,
    /// Gaps recorded because a stream's history was lost.
    pub gaps: u64,
    /// Times a stream failed and was reopened.
    pub stream_retries: u64,
    /// Changes that may repeat documents of a snapshot read without its
    /// point in time (each may have been seen twice: see `herald status`).
    pub snapshot_overlap: u64,
    /// Streams that stopped because of an error.
    pub streams_failed: u64,
    /// Why each of them stopped: `stream: reason`.
    pub stream_failures: Vec<String>,
    /// Targets that stopped (by policy or error) and why: `target: reason`.
    pub stream_stops: Vec<String>,
    /// Timers fired (their effects are counted in `effects`).
    pub timers_fired: u64,
    /// Timers set (`after`, `at`) by handlers that succeeded.
    pub timers_set: u64,
    /// Events still running when the shutdown deadline passed (redone on the next run).
    pub abandoned: u64,
    /// True if the run stopped because of the shutdown signal.
    pub interrupted: bool,
}
