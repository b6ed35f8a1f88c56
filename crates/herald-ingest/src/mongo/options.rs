//! How streams start and what they do when history is lost or they are invalidated.

use herald_core::WatchTarget;
use std::collections::HashMap;
use std::time::Duration;

/// Where a stream without a checkpoint starts: `"now"`, `"snapshot"` (the
/// documents that exist first, see [`snapshot`](super::snapshot)), or an
/// operation time `"SECONDS[:INCREMENT]"` in a configuration.
///
/// ```
/// use herald_ingest::mongo::StartAt;
/// assert_eq!("now".parse::<StartAt>(), Ok(StartAt::Now));
/// assert_eq!("snapshot".parse::<StartAt>(), Ok(StartAt::Snapshot));
/// assert_eq!(
///     "1700000000:2".parse::<StartAt>(),
///     Ok(StartAt::OperationTime(bson::Timestamp { time: 1_700_000_000, increment: 2 }))
/// );
/// assert!("yesterday".parse::<StartAt>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(try_from = "String")]
pub enum StartAt {
    /// At the current time: only changes from now on.
    #[default]
    Now,
    /// At an operation time (`startAtOperationTime`).
    OperationTime(bson::Timestamp),
    /// A target's documents as of the server's time now, as `insert`
    /// events with `snapshot: true`, then the changes after it.
    Snapshot,
}

impl std::str::FromStr for StartAt {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "now" => return Ok(Self::Now),
            "snapshot" => return Ok(Self::Snapshot),
            _ => {}
        }
        let (seconds, increment) = text.split_once(':').unwrap_or((text, "0"));
        match (seconds.parse::<u32>(), increment.parse::<u32>()) {
            (Ok(time), Ok(increment)) => {
                Ok(Self::OperationTime(bson::Timestamp { time, increment }))
            }
            _ => Err(format!(
                "start_at must be \"now\", \"snapshot\" or an operation time SECONDS[:INCREMENT], not {text:?}"
            )),
        }
    }
}

impl TryFrom<String> for StartAt {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

/// What to do when the stored resume token is no longer in the oplog (code 286).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryLostPolicy {
    /// Stop with an error that explains what happened and how to go on.
    #[default]
    Fail,
    /// Record the gap, warn, and continue from now.
    FromNow,
}

/// What to do when a stream is invalidated (its collection or database dropped or renamed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidatePolicy {
    /// End the stream.
    #[default]
    Stop,
    /// Reopen it with `startAfter` the invalidate event (for a re-created collection).
    Restart,
}

/// Options of a [`MongoSource`](super::MongoSource).
#[derive(Debug, Clone)]
pub struct MongoSourceOptions {
    /// Where streams without a checkpoint start.
    pub start_at: StartAt,
    /// Per-target `start_at` (only `snapshot` differs in effect: a stream
    /// starts at one time, but reads the snapshots of its targets that ask).
    pub start_at_for: HashMap<WatchTarget, StartAt>,
    /// Snapshots read only the collections within this target (`herald
    /// backfill --target`).
    pub snapshot_within: Option<WatchTarget>,
    /// The history-lost policy.
    pub on_history_lost: HistoryLostPolicy,
    /// The invalidate policy for targets not named in `on_invalidate_for`.
    pub on_invalidate: InvalidatePolicy,
    /// Per-target invalidate policies.
    pub on_invalidate_for: HashMap<WatchTarget, InvalidatePolicy>,
    /// How long a getMore waits for new events (`maxAwaitTimeMS`).
    pub max_await: Duration,
    /// Events per server batch: the `batchSize` of the stream's aggregate
    /// and of each getMore. Bounded, so the server prepares the next batch
    /// while the engine handles this one (an unbounded getMore of a
    /// backlog returns up to 16 MiB, read and handled one after the other).
    pub server_batch: u32,
    /// Events per batch handed to the engine, at most.
    pub max_batch: usize,
    /// How long a batch may gather events before it is handed on.
    pub max_batch_delay: Duration,
    /// First wait before reopening a failed stream; doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    /// The longest wait between reopen attempts.
    pub max_backoff: Duration,
    /// Append `$changeStreamSplitLargeEvent` so events over 16 MiB arrive as
    /// fragments (joined before rules see them) instead of failing the stream.
    pub split_large_events: bool,
    /// Batches buffered between the streams and the engine: when the engine is
    /// slow, streams stop calling getMore and the oplog buffers instead.
    pub queue: usize,
    /// Read the snapshots a first start reads (and go on with interrupted
    /// ones), then end, opening no change stream: `herald run
    /// --snapshot-only` and `herald backfill`. A later run goes on after
    /// each snapshot's time.
    pub snapshot_only: bool,
    /// Stages per watch target, after herald's `$match` (see [`super::plan_with`]).
    pub stages: std::collections::BTreeMap<WatchTarget, Vec<bson::Document>>,
}

impl MongoSourceOptions {
    /// `maxAwaitTimeMS` unless configured.
    pub const DEFAULT_MAX_AWAIT: Duration = Duration::from_millis(1000);
    /// Events per batch unless configured.
    pub const DEFAULT_MAX_BATCH: usize = 512;
    /// Events per server batch unless configured: two engine batches.
    pub const DEFAULT_SERVER_BATCH: u32 = 1024;

    /// Whether a target's first start reads its snapshot.
    pub fn snapshots(&self, target: &WatchTarget) -> bool {
        self.start_at_for
            .get(target)
            .copied()
            .unwrap_or(self.start_at)
            == StartAt::Snapshot
    }

    /// The invalidate policy of a target.
    pub fn invalidate_policy(&self, target: &WatchTarget) -> InvalidatePolicy {
        self.on_invalidate_for
            .get(target)
            .copied()
            .unwrap_or(self.on_invalidate)
    }
}

impl Default for MongoSourceOptions {
    fn default() -> Self {
        Self {
            start_at: StartAt::Now,
            start_at_for: HashMap::new(),
            snapshot_within: None,
            on_history_lost: HistoryLostPolicy::Fail,
            on_invalidate: InvalidatePolicy::Stop,
            on_invalidate_for: HashMap::new(),
            max_await: Self::DEFAULT_MAX_AWAIT,
            server_batch: Self::DEFAULT_SERVER_BATCH,
            max_batch: Self::DEFAULT_MAX_BATCH,
            max_batch_delay: Duration::from_millis(20),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            queue: 8,
            split_large_events: false,
            snapshot_only: false,
            stages: std::collections::BTreeMap::new(),
        }
    }
}
