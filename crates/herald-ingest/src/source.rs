//! The contract between sources and the engine.

use herald_core::{ChangeEvent, Position};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

/// An event and the position just after it.
#[derive(Debug, Clone)]
pub struct SourcedEvent {
    /// The change event.
    pub event: ChangeEvent,
    /// Where to resume once this event (and all before it) is complete.
    pub position: Position,
}

/// A line of an event file that could not be read as a change event.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}:{line}:{column}: {message}")]
pub struct BadLine {
    /// The file.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: u64,
    /// 1-based column in that line.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// What a source delivers at a time: events of one stream, in order.
#[derive(Debug, Default)]
pub struct Batch {
    /// The stream the batch belongs to (checkpointed on its own).
    pub stream: Arc<str>,
    /// Events in source order.
    pub events: Vec<SourcedEvent>,
    /// Lines skipped in this batch (only with `skip_bad_lines`).
    pub skipped: Vec<BadLine>,
    /// A position past the batch even if it has no events (a change stream's
    /// `postBatchResumeToken`), so quiet sources still advance.
    pub end: Option<Position>,
    /// What happened to the stream itself, after the batch's events and
    /// before its end position: a stop is recorded no later than the
    /// checkpoint past the event that caused it, so a crash cannot keep one
    /// and lose the other.
    pub notices: Vec<StreamNotice>,
    /// What the stream watches, if it watches a target (a change stream): an
    /// event without a namespace (`invalidate`) concerns only the rules
    /// whose target is within it.
    pub scope: Option<herald_core::WatchTarget>,
}

/// Events in the life of a stream that are not change events.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamNotice {
    /// The stream's resume point had left the oplog; it restarted from now, and
    /// the events in between were not seen (`on_history_lost = "from_now"`).
    Gap {
        /// The last position before the gap.
        last: Option<Position>,
        /// Its cluster time, if known.
        last_time: Option<bson::Timestamp>,
        /// Why.
        reason: String,
    },
    /// The stream ended and will deliver nothing more.
    Stopped {
        /// The targets the stream carried, now stopped (none for a file).
        targets: Vec<herald_core::WatchTarget>,
        /// Why.
        reason: String,
        /// True if it ended by an error (the run should report failure).
        failed: bool,
    },
    /// A target narrower than the stream was dropped or renamed, and its
    /// policy is to stop: its rules receive no later event of this stream.
    TargetStopped {
        /// The target.
        target: herald_core::WatchTarget,
        /// Why.
        reason: String,
    },
    /// A snapshot could not be read at its point in time and was read on
    /// without one: `count` changes between the snapshot's time and the end
    /// of the read concerned its collections, so up to that many documents
    /// may have been seen twice (as an insert and as their change).
    SnapshotOverlap {
        /// The changes in the window.
        count: u64,
        /// Why the read lost its point in time.
        reason: String,
    },
    /// The stream failed and is being reopened (retries are counted).
    Retrying {
        /// The error.
        error: String,
        /// Which consecutive attempt failed.
        attempt: u32,
    },
}

/// Where a source starts reading when nothing says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTime {
    /// At this cluster time, its events included (a configured operation time).
    From(bson::Timestamp),
    /// After this cluster time (the server's time now: everything at or
    /// before it happened before herald started).
    After(bson::Timestamp),
}

/// Why a source cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A line is not a valid change event (and bad lines are not being skipped).
    #[error(
        "{0}\n  (fix or delete the line, or pass --skip-bad-lines to count and skip bad lines)"
    )]
    BadLine(BadLine),
    /// Reading failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A change stream's resume point is no longer in the oplog
    /// (`on_history_lost = "fail"`).
    #[error(
        "stream {stream}: the stored resume token is no longer in the oplog (ChangeStreamHistoryLost): events since {since} can no longer be read. To continue from now and record the gap, set on_history_lost = \"from_now\" in [mongodb]; to start over, remove the stream's checkpoint from the store"
    )]
    HistoryLost {
        /// The stream.
        stream: String,
        /// The stored position, as text.
        since: String,
    },
    /// The server is a standalone: MongoDB has change streams only on
    /// replica sets and sharded clusters.
    #[error(
        "the MongoDB server is a standalone, which has no change streams; run it as a replica set (one node will do: start mongod with --replSet rs0 and run rs.initiate() once) or point [mongodb] uri at a replica set"
    )]
    NotReplicaSet,
    /// A snapshot read failed for good (not a network or retryable error).
    #[error(
        "{0}; the stream is stopped, and its next start goes on with the snapshot where it stopped"
    )]
    Snapshot(String),
    /// The server's current time could not be read (to start rules added
    /// since the last run from now).
    #[error(
        "cannot read the server's time to start the rules added since the last run from now: {0}; check the connection and restart"
    )]
    ServerTime(String),
    /// The stored position does not belong to this source.
    #[error("cannot resume {path} from {position}: {reason}")]
    BadPosition {
        /// The file.
        path: PathBuf,
        /// The stored position.
        position: Box<Position>,
        /// Why it does not fit.
        reason: String,
    },
}

/// A stream of change events.
///
/// ```
/// # async fn demo() -> Result<(), herald_ingest::SourceError> {
/// use herald_ingest::{FileSource, Source};
/// let mut source = FileSource::open("examples/approvals/events.jsonl")?;
/// while let Some(batch) = source.next_batch().await? {
///     for item in batch.events {
///         println!("{} at {}", item.event.operation_type(), item.position);
///     }
/// }
/// # Ok(()) }
/// ```
pub trait Source: Send {
    /// The stable names of the streams it reads; each is checkpointed under its
    /// name (`file:/abs/path.jsonl`, `mongodb:finance.expenses`).
    fn streams(&self) -> Vec<String>;

    /// Starts `stream` after `position` instead of at its default start.
    fn resume_from(&mut self, stream: &str, position: &Position) -> Result<(), SourceError>;

    /// The watch target of a stream of this kind of source, by its name,
    /// whether this source reads it or an earlier one did (`mongodb:shop`);
    /// `None` for streams that watch no target (files). The engine uses it
    /// to carry checkpoints over when the streams covering the rules change.
    fn stream_target(&self, _stream: &str) -> Option<herald_core::WatchTarget> {
        None
    }

    /// Starts `stream` at a cluster time (events at that time included),
    /// for a stream that takes over from overlapping ones.
    fn resume_at_time(&mut self, stream: &str, _time: bson::Timestamp) -> Result<(), SourceError> {
        Err(SourceError::BadPosition {
            path: stream.into(),
            position: Box::new(Position::File { offset: 0, line: 0 }),
            reason: "this source cannot start at a cluster time".into(),
        })
    }

    /// Whether a first start of `target` reads its snapshot (`start_at =
    /// "snapshot"`): its new rules then take the snapshot's events.
    fn snapshots(&self, _target: &herald_core::WatchTarget) -> bool {
        false
    }

    /// Reads `stream`'s snapshot at `at` before its changes (its targets'
    /// first start, which the rules' floors recorded; see
    /// [`Source::snapshots`]).
    fn snapshot_at(&mut self, stream: &str, _at: bson::Timestamp) -> Result<(), SourceError> {
        Err(SourceError::BadPosition {
            path: stream.into(),
            position: Box::new(Position::File { offset: 0, line: 0 }),
            reason: "this source has no snapshots".into(),
        })
    }

    /// The source's current cluster time (the server's, now), if it has one.
    fn current_time(
        &mut self,
    ) -> impl Future<Output = Result<Option<bson::Timestamp>, SourceError>> + Send {
        std::future::ready(Ok(None))
    }

    /// Where a stream without a checkpoint starts (`start_at`): a configured
    /// operation time, or the server's time now. A rule added to the rules
    /// starts taking events there, not at an older checkpoint. `None` for
    /// sources without cluster times (files).
    fn start_time(
        &mut self,
    ) -> impl Future<Output = Result<Option<StartTime>, SourceError>> + Send {
        std::future::ready(Ok(None))
    }

    /// The next batch, or `None` when every stream has ended.
    ///
    /// Must be cancel-safe: the engine may drop the future to commit on time.
    fn next_batch(&mut self) -> impl Future<Output = Result<Option<Batch>, SourceError>> + Send;
}
