//! The metrics the engine records, through the [`metrics`] facade.
//!
//! The engine only records; whoever runs it installs a recorder (the
//! `herald` binary installs a Prometheus one and serves it on `/metrics`).
//! Handles are taken when a run starts, so install the recorder before
//! building the engine; without one, recording costs next to nothing.
//!
//! Every series is named here once. The gauges of what the store holds
//! (dead letters, pending timers, stream lag) are set by whoever exports,
//! from the store, when it is read: see [`set_store_gauges`].

use metrics::{
    Counter, Histogram, Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge,
    histogram,
};
use std::sync::Arc;

/// Events read and completed, by stream.
pub const EVENTS: &str = "herald_events_total";
/// Rule runs, by rule: an event it matched, or a timer it set, handled
/// (not those skipped as done before).
pub const RULE_MATCHES: &str = "herald_rule_matches_total";
/// Effects by rule and outcome: `done` (effects carried out), `retried`
/// (attempts after a failure), `failed` (rule runs that went to the
/// dead-letter queue, a handler error or an effect given up), `deduplicated`
/// (rule runs skipped as done before: their effects are not carried out again).
pub const EFFECTS: &str = "herald_effects_total";
/// Entries in the dead-letter queue, by rule.
pub const DEAD_LETTERS: &str = "herald_dead_letters";
/// Now minus the time of each stream's checkpoint.
pub const STREAM_LAG: &str = "herald_stream_lag_seconds";
/// Times a stream failed and was reopened.
pub const STREAM_RESTARTS: &str = "herald_stream_restarts_total";
/// A handler (or `on_timer`) call, by rule.
pub const HANDLER_SECONDS: &str = "herald_handler_seconds";
/// A group commit: the channels' flush and the store's commit.
pub const COMMIT_SECONDS: &str = "herald_commit_seconds";
/// Rules loaded now.
pub const RULES_LOADED: &str = "herald_rules_loaded";
/// Rule sets a reload rejected.
pub const RELOAD_FAILURES: &str = "herald_rules_reload_failures_total";
/// Timers pending in the store.
pub const TIMERS_PENDING: &str = "herald_timers_pending";
/// Cluster mode: the instances alive.
pub const CLUSTER_INSTANCES: &str = "herald_cluster_instances";
/// Cluster mode: whether this instance serves a partition (1) or not (0),
/// by partition.
pub const CLUSTER_SERVED: &str = "herald_cluster_partition_served";
/// Cluster mode: seconds until a partition's lease lapses unless renewed
/// (negative: lapsed), by partition.
pub const CLUSTER_LEASE_EXPIRES: &str = "herald_cluster_lease_expires_seconds";
/// Cluster mode: how many times a partition's lease has been taken, by
/// partition.
pub const CLUSTER_LEASE_EPOCH: &str = "herald_cluster_lease_epoch";

/// Describes every series to the installed recorder (help text and unit).
///
/// ```
/// herald_engine::metrics::describe();
/// ```
pub fn describe() {
    describe_counter!(EVENTS, "Change events read and completed, by stream");
    describe_counter!(
        RULE_MATCHES,
        "Events (and timers) a rule handled, by rule; not those skipped as done before"
    );
    describe_counter!(
        EFFECTS,
        "Effects by rule and outcome: done, retried (attempts after a failure), failed (the match went to the dead-letter queue), deduplicated (matches skipped as already done)"
    );
    describe_gauge!(DEAD_LETTERS, "Entries in the dead-letter queue, by rule");
    describe_gauge!(
        STREAM_LAG,
        Unit::Seconds,
        "Now minus the time of the stream's checkpoint"
    );
    describe_counter!(
        STREAM_RESTARTS,
        "Times a change stream failed and was reopened"
    );
    describe_histogram!(
        HANDLER_SECONDS,
        Unit::Seconds,
        "A handler or on_timer call, by rule"
    );
    describe_histogram!(
        COMMIT_SECONDS,
        Unit::Seconds,
        "A group commit (flush and store commit)"
    );
    describe_gauge!(RULES_LOADED, "Rules loaded");
    describe_counter!(RELOAD_FAILURES, "Rule sets a reload rejected");
    describe_gauge!(TIMERS_PENDING, "Timers pending in the store");
    describe_gauge!(CLUSTER_INSTANCES, "Cluster mode: instances alive");
    describe_gauge!(
        CLUSTER_SERVED,
        "Cluster mode: 1 if this instance serves the partition, else 0"
    );
    describe_gauge!(
        CLUSTER_LEASE_EXPIRES,
        Unit::Seconds,
        "Cluster mode: time until the partition's lease lapses unless renewed (negative: lapsed)"
    );
    describe_gauge!(
        CLUSTER_LEASE_EPOCH,
        "Cluster mode: times the partition's lease has been taken"
    );
    // Series that exist from the start, at zero.
    counter!(RELOAD_FAILURES).absolute(0);
}

/// Counts a rejected reload.
pub fn reload_failed() {
    counter!(RELOAD_FAILURES).increment(1);
}

/// Sets the number of rules loaded.
pub(crate) fn rules_loaded(n: usize) {
    gauge!(RULES_LOADED).set(n as f64);
}

/// One rule's series.
pub(crate) struct RuleMeters {
    matches: Counter,
    done: Counter,
    retried: Counter,
    failed: Counter,
    deduplicated: Counter,
    handler: Histogram,
}

impl RuleMeters {
    /// The series of `rule`, from the recorder installed now.
    pub(crate) fn new(rule: &Arc<str>) -> Self {
        let effects = |outcome: &'static str| counter!(EFFECTS, "rule" => rule.to_string(), "outcome" => outcome);
        Self {
            matches: counter!(RULE_MATCHES, "rule" => rule.to_string()),
            done: effects("done"),
            retried: effects("retried"),
            failed: effects("failed"),
            deduplicated: effects("deduplicated"),
            handler: histogram!(HANDLER_SECONDS, "rule" => rule.to_string()),
        }
    }

    /// Records one match's outcome.
    pub(crate) fn record(&self, tally: &crate::pipeline::worker::RuleTally) {
        use crate::pipeline::worker::Outcome;
        if tally.outcome != Outcome::Deduplicated {
            self.matches.increment(1);
        }
        self.done.increment(tally.effects);
        self.retried.increment(tally.retries);
        match tally.outcome {
            Outcome::Succeeded => {}
            Outcome::Failed => self.failed.increment(1),
            Outcome::Deduplicated => self.deduplicated.increment(1),
        }
        if let Some(call) = tally.handler {
            self.handler.record(call.as_secs_f64());
        }
    }
}

/// One stream's series.
pub(crate) struct StreamMeters {
    pub(crate) events: Counter,
    pub(crate) restarts: Counter,
}

impl StreamMeters {
    /// The series of `stream`, from the recorder installed now.
    pub(crate) fn new(stream: &Arc<str>) -> Self {
        Self {
            events: counter!(EVENTS, "stream" => stream.to_string()),
            restarts: counter!(STREAM_RESTARTS, "stream" => stream.to_string()),
        }
    }
}

/// Records a group commit's time.
pub(crate) fn commit_took(took: std::time::Duration) {
    histogram!(COMMIT_SECONDS).record(took.as_secs_f64());
}

/// Sets the gauges of what `store` holds: dead letters by rule, pending
/// timers, each stream's lag (from its checkpoint's time). Each read scans
/// the dead letters and the timers, as `herald status` does.
pub fn set_store_gauges(store: &herald_store::Store) -> Result<(), herald_store::StoreError> {
    let mut letters: std::collections::BTreeMap<String, u64> = store
        .rule_counts()?
        .into_iter()
        .map(|(rule, _)| (rule, 0))
        .collect();
    for letter in store.dead_letters() {
        *letters.entry(letter?.rule).or_default() += 1;
    }
    for (rule, n) in letters {
        gauge!(DEAD_LETTERS, "rule" => rule).set(n as f64);
    }
    let pending: u64 = store.timer_stats()?.iter().map(|s| s.pending).sum();
    gauge!(TIMERS_PENDING).set(pending as f64);
    let now = bson::DateTime::now().timestamp_millis();
    for (stream, checkpoint) in store.checkpoints()? {
        let Some(at) = checkpoint_time_ms(&checkpoint) else {
            continue;
        };
        let lag = (now - at).max(0) as f64 / 1000.0;
        // A partition's checkpoints (cluster mode) are in its scope.
        match stream.split_once('\0') {
            Some((partition, stream)) => gauge!(
                STREAM_LAG,
                "stream" => stream.to_owned(),
                "partition" => partition.to_owned()
            )
            .set(lag),
            None => gauge!(STREAM_LAG, "stream" => stream).set(lag),
        }
    }
    Ok(())
}

/// Sets the gauges of a cluster (cluster mode): the instances alive, and
/// each partition's lease, and whether this instance serves it (`serves`).
///
/// ```
/// use herald_engine::cluster::LeaseRecord;
/// let lease = LeaseRecord { lease: "p0/2".into(), owner: Some("a".into()), epoch: 3, expires_ms: 0 };
/// herald_engine::metrics::set_cluster_gauges(1, &[lease], |partition| partition == "p0/2");
/// ```
pub fn set_cluster_gauges(
    alive: usize,
    leases: &[crate::cluster::LeaseRecord],
    serves: impl Fn(&str) -> bool,
) {
    let now = bson::DateTime::now().timestamp_millis();
    gauge!(CLUSTER_INSTANCES).set(alive as f64);
    for lease in leases {
        let partition = || lease.lease.clone();
        gauge!(CLUSTER_SERVED, "partition" => partition()).set(if serves(&lease.lease) {
            1.0
        } else {
            0.0
        });
        gauge!(CLUSTER_LEASE_EXPIRES, "partition" => partition())
            .set((lease.expires_ms - now) as f64 / 1000.0);
        gauge!(CLUSTER_LEASE_EPOCH, "partition" => partition()).set(lease.epoch as f64);
    }
}

/// The time a checkpoint stands at, in milliseconds since the epoch: the
/// cluster time in its resume token (which a quiet stream's
/// `postBatchResumeToken` keeps moving), else the wall time of the last
/// event before it.
pub fn checkpoint_time_ms(c: &herald_store::Checkpoint) -> Option<i64> {
    c.position
        .cluster_time()
        .map(|t| i64::from(t.time) * 1000)
        .or(c.wall_time_ms)
}
