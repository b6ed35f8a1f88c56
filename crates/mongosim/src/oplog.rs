//! The oplog: every write, in order, in a capped window.
//!
//! Change streams read it; once an entry falls out of the window, a stream
//! cannot resume from before it (ChangeStreamHistoryLost), as on a real
//! replica set whose oplog has rolled over.

use bson::{DateTime, Document, Timestamp};
use std::collections::VecDeque;

/// A namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ns {
    /// Database.
    pub db: String,
    /// Collection.
    pub coll: String,
}

impl std::fmt::Display for Ns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.db, self.coll)
    }
}

/// What an entry records.
#[derive(Debug, Clone)]
pub enum Op {
    /// A document was inserted.
    Insert {
        /// Where.
        ns: Ns,
        /// `{_id}`.
        key: Document,
        /// The document.
        doc: Document,
    },
    /// A document was updated with operators.
    Update {
        /// Where.
        ns: Ns,
        /// `{_id}`.
        key: Document,
        /// `{updatedFields, removedFields, truncatedArrays}`.
        description: Document,
        /// The document before, when the collection records pre-images.
        pre: Option<Document>,
        /// The document after, when the collection records post-images.
        post: Option<Document>,
    },
    /// A document was replaced.
    Replace {
        /// Where.
        ns: Ns,
        /// `{_id}`.
        key: Document,
        /// The new document.
        doc: Document,
        /// The document before, when the collection records pre-images.
        pre: Option<Document>,
    },
    /// A document was deleted.
    Delete {
        /// Where.
        ns: Ns,
        /// `{_id}`.
        key: Document,
        /// The document before, when the collection records pre-images.
        pre: Option<Document>,
    },
    /// A collection was created (seen only with `showExpandedEvents`).
    Create {
        /// Which.
        ns: Ns,
    },
    /// Indexes were built (seen only with `showExpandedEvents`): one entry
    /// per index on an empty collection, one for the whole build otherwise.
    CreateIndexes {
        /// Where.
        ns: Ns,
        /// Their specs.
        indexes: Vec<Document>,
    },
    /// An index was dropped (seen only with `showExpandedEvents`).
    DropIndexes {
        /// Where.
        ns: Ns,
        /// Its spec.
        indexes: Vec<Document>,
    },
    /// A collection was dropped.
    Drop {
        /// Which.
        ns: Ns,
    },
    /// A collection was renamed.
    Rename {
        /// From.
        from: Ns,
        /// To.
        to: Ns,
    },
    /// A database was dropped (after a `Drop` for each of its collections).
    DropDatabase {
        /// Which.
        db: String,
    },
}

/// One oplog entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Position: 1, 2, 3, ... never reused.
    pub seq: u64,
    /// Operation time.
    pub ts: Timestamp,
    /// Wall time.
    pub wall: DateTime,
    /// `(lsid, txnNumber)` for writes in a session with a transaction number.
    pub txn: Option<(Document, i64)>,
    /// What happened.
    pub op: Op,
}

/// The capped oplog.
#[derive(Debug)]
pub struct Oplog {
    entries: VecDeque<Entry>,
    capacity: usize,
    next_seq: u64,
}

impl Oplog {
    /// An empty oplog keeping at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            next_seq: 1,
        }
    }

    /// Appends an entry, dropping the oldest if full; returns its sequence number.
    pub fn push(
        &mut self,
        ts: Timestamp,
        wall: DateTime,
        txn: Option<(Document, i64)>,
        op: Op,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(Entry {
            seq,
            ts,
            wall,
            txn,
            op,
        });
        seq
    }

    /// The sequence number of the newest entry (0 if none was ever written).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// The sequence number of the oldest entry still held (the next one if empty).
    pub fn first_seq(&self) -> u64 {
        self.entries.front().map_or(self.next_seq, |e| e.seq)
    }

    /// True if entries have been dropped from the window.
    pub fn has_rolled_over(&self) -> bool {
        self.first_seq() > 1
    }

    /// The entry with this sequence number, if still held.
    pub fn get(&self, seq: u64) -> Option<&Entry> {
        let first = self.entries.front()?.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.entries.get(index)
    }

    /// The first entry at or after this operation time.
    pub fn first_at_or_after(&self, ts: Timestamp) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| (e.ts.time, e.ts.increment) >= (ts.time, ts.increment))
    }

    /// The oldest entry held.
    pub fn oldest(&self) -> Option<&Entry> {
        self.entries.front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_rolls() {
        let mut oplog = Oplog::new(3);
        for i in 0..5 {
            oplog.push(
                Timestamp {
                    time: 1,
                    increment: i,
                },
                DateTime::now(),
                None,
                Op::Drop {
                    ns: Ns {
                        db: "d".into(),
                        coll: "c".into(),
                    },
                },
            );
        }
        assert_eq!((oplog.first_seq(), oplog.last_seq()), (3, 5));
        assert!(oplog.get(2).is_none());
        assert_eq!(oplog.get(4).unwrap().seq, 4);
        assert!(oplog.has_rolled_over());
        assert_eq!(
            oplog
                .first_at_or_after(Timestamp {
                    time: 1,
                    increment: 0
                })
                .unwrap()
                .seq,
            3
        );
    }
}
