//! Checkpoints: where a stream stands, and when that was.

use herald_core::Position;
use serde::{Deserialize, Serialize};

/// A stream's stored position, with the times `herald status` reports.
///
/// ```
/// use herald_core::Position;
/// use herald_store::Checkpoint;
/// let c = Checkpoint::new(Position::File { offset: 10, line: 1 });
/// assert!(c.cluster_time.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Where to resume.
    pub position: Position,
    /// The cluster time of the last event before it, as `[seconds, increment]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_time: Option<[u32; 2]>,
    /// The server wall time of that event, in milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_time_ms: Option<i64>,
    /// When this checkpoint was committed, in milliseconds since the epoch.
    #[serde(default)]
    pub committed_at_ms: i64,
}

impl Checkpoint {
    /// A checkpoint at a position, committed now, with no event times.
    pub fn new(position: Position) -> Self {
        Self {
            position,
            cluster_time: None,
            wall_time_ms: None,
            committed_at_ms: bson::DateTime::now().timestamp_millis(),
        }
    }

    /// Decodes a stored checkpoint (also the bare positions of early stores).
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice::<Self>(bytes)
            .or_else(|_| serde_json::from_slice::<Position>(bytes).map(Self::new))
    }
}

/// A stretch of a stream that was skipped because its resume point had left the oplog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// The stream.
    pub stream: String,
    /// The last position before the gap (as text).
    pub last: Option<String>,
    /// The cluster time of the last event before the gap, `[seconds, increment]`.
    pub last_time: Option<[u32; 2]>,
    /// When the stream restarted from now, in milliseconds since the epoch.
    pub resumed_at_ms: i64,
    /// Why.
    pub reason: String,
}

/// How a rule has fared, for `herald status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCounts {
    /// Events the rule matched.
    pub matched: u64,
    /// Matches whose handler and effects all completed.
    pub succeeded: u64,
    /// Matches that went to the dead-letter queue.
    pub failed: u64,
    /// Matches skipped as already done (replays).
    pub deduplicated: u64,
}

impl std::ops::AddAssign for RuleCounts {
    /// Adds another's counts (the same rule's, counted elsewhere).
    fn add_assign(&mut self, other: Self) {
        self.matched += other.matched;
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.deduplicated += other.deduplicated;
    }
}
