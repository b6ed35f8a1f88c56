//! Where a source stands: what a checkpoint stores.

use serde::{Deserialize, Serialize};

/// A source's position after some event, from which it can resume.
///
/// ```
/// use herald_core::Position;
/// let p = Position::File { offset: 120, line: 2 };
/// assert_eq!(p.to_string(), "line 2 (byte 120)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Position {
    /// A file source: the byte offset just past the last consumed line, and that line's number.
    File {
        /// Byte offset of the next line to read.
        offset: u64,
        /// Number (1-based) of the last line consumed.
        line: u64,
    },
    /// A change stream: the resume token's canonical bytes ([`crate::ResumeToken::as_bytes`]).
    Token {
        /// The token's bytes.
        bytes: Vec<u8>,
    },
    /// A stream's snapshot, before its change stream starts: the documents
    /// of its targets' collections as of the cluster time `at`, read target
    /// by target and collection by collection (in name order), and in `_id`
    /// order within each.
    Snapshot {
        /// The snapshot's cluster time `[seconds, increment]`; the change
        /// stream starts just after it.
        at: [u32; 2],
        /// The watch target being read (`db.coll`, `db` or `*`).
        target: String,
        /// The collection being read (`db.coll`).
        ns: String,
        /// `{_id: <last _id read>}` as BSON bytes; empty before the first
        /// document of `ns`.
        after: Vec<u8>,
    },
    /// A stream's snapshot is read whole: its change stream starts just
    /// after the snapshot's time.
    SnapshotDone {
        /// The snapshot's cluster time `[seconds, increment]`.
        at: [u32; 2],
    },
}

/// The first cluster time after `t`.
///
/// ```
/// use bson::Timestamp;
/// let t = Timestamp { time: 7, increment: u32::MAX };
/// assert_eq!(herald_core::position::just_after(t), Timestamp { time: 8, increment: 0 });
/// ```
pub fn just_after(t: bson::Timestamp) -> bson::Timestamp {
    match t.increment.checked_add(1) {
        Some(increment) => bson::Timestamp {
            time: t.time,
            increment,
        },
        None => bson::Timestamp {
            time: t.time.saturating_add(1),
            increment: 0,
        },
    }
}

impl Position {
    /// The cluster time a change stream position stands at, if its token
    /// says (see [`crate::ResumeToken::cluster_time`]); just after its time
    /// for a snapshot read whole (whose change stream starts there); `None`
    /// for files and for a snapshot being read.
    pub fn cluster_time(&self) -> Option<bson::Timestamp> {
        match self {
            Self::Token { bytes } => crate::ResumeToken::from_bytes(bytes.clone())
                .ok()?
                .cluster_time(),
            // A snapshot being read stands before every change it will
            // hand over; one read whole stands just after its time, where
            // its change stream starts.
            Self::Snapshot { .. } => None,
            Self::SnapshotDone { at } => Some(just_after(bson::Timestamp {
                time: at[0],
                increment: at[1],
            })),
            Self::File { .. } => None,
        }
    }

    /// The `_id` after which a snapshot position's collection goes on
    /// (`None` at its start, or for other positions).
    ///
    /// ```
    /// use herald_core::Position;
    /// let after = bson::to_vec(&bson::doc! { "_id": 7 }).unwrap();
    /// let p = Position::Snapshot {
    ///     at: [1_700_000_000, 1], target: "shop".into(), ns: "shop.orders".into(), after,
    /// };
    /// assert_eq!(p.snapshot_after(), Some(bson::Bson::Int32(7)));
    /// assert_eq!(p.to_string(), "snapshot of shop at 1700000000:1: shop.orders after _id 7");
    /// ```
    pub fn snapshot_after(&self) -> Option<bson::Bson> {
        let Self::Snapshot { after, .. } = self else {
            return None;
        };
        bson::from_slice::<bson::Document>(after)
            .ok()?
            .remove("_id")
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File { offset, line } => write!(f, "line {line} (byte {offset})"),
            Self::Token { bytes } => match crate::ResumeToken::from_bytes(bytes.clone()) {
                Ok(token) => write!(f, "token {token}"),
                Err(_) => write!(f, "token <{} unreadable bytes>", bytes.len()),
            },
            Self::SnapshotDone { at } => write!(f, "snapshot at {}:{} read whole", at[0], at[1]),
            Self::Snapshot { at, target, ns, .. } => {
                write!(f, "snapshot of {target} at {}:{}: {ns}", at[0], at[1])?;
                match self.snapshot_after() {
                    Some(id) => write!(f, " after _id {id}"),
                    None => write!(f, " (start)"),
                }
            }
        }
    }
}
