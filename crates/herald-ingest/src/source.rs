//! The contract between sources and the engine.

use herald_core::{ChangeEvent, Position};
use std::future::Future;
use std::path::PathBuf;

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

/// What a source delivers at a time.
#[derive(Debug, Default)]
pub struct Batch {
    /// Events in source order.
    pub events: Vec<SourcedEvent>,
    /// Lines skipped in this batch (only with `skip_bad_lines`).
    pub skipped: Vec<BadLine>,
    /// A position past the batch even if it has no events (a change stream's
    /// `postBatchResumeToken`), so quiet sources still advance.
    pub end: Option<Position>,
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
    /// The stored position does not belong to this source.
    #[error("cannot resume {path} from {position}: {reason}")]
    BadPosition {
        /// The file.
        path: PathBuf,
        /// The stored position.
        position: Position,
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
    /// A stable name, used as the checkpoint key (e.g. `file:/abs/path.jsonl`).
    fn id(&self) -> &str;

    /// Starts after `position` instead of at the beginning.
    fn resume_from(&mut self, position: &Position) -> Result<(), SourceError>;

    /// The next batch, or `None` when a finite source is exhausted.
    fn next_batch(&mut self) -> impl Future<Output = Result<Option<Batch>, SourceError>> + Send;
}
