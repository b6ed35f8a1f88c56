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

impl RunSummary {
    /// Adds a later run's counts to these (runs of one process, between
    /// which the rules were reloaded); `interrupted` is the later run's.
    ///
    /// ```
    /// use herald_engine::RunSummary;
    /// let mut total = RunSummary { events: 2, ..RunSummary::default() };
    /// total.add(RunSummary { events: 3, interrupted: true, ..RunSummary::default() });
    /// assert_eq!((total.events, total.interrupted), (5, true));
    /// ```
    pub fn add(&mut self, later: RunSummary) {
        let RunSummary {
            events,
            matched,
            effects,
            state_writes,
            deduplicated,
            dead_lettered,
            skipped_lines,
            gaps,
            stream_retries,
            snapshot_overlap,
            streams_failed,
            stream_failures,
            stream_stops,
            timers_fired,
            timers_set,
            abandoned,
            interrupted,
        } = later;
        self.events += events;
        self.matched += matched;
        self.effects += effects;
        self.state_writes += state_writes;
        self.deduplicated += deduplicated;
        self.dead_lettered += dead_lettered;
        self.skipped_lines += skipped_lines;
        self.gaps += gaps;
        self.stream_retries += stream_retries;
        self.snapshot_overlap += snapshot_overlap;
        self.streams_failed += streams_failed;
        self.stream_failures.extend(stream_failures);
        self.stream_stops.extend(stream_stops);
        self.timers_fired += timers_fired;
        self.timers_set += timers_set;
        self.abandoned += abandoned;
        self.interrupted = interrupted;
    }
}
