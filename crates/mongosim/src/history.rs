//! Snapshot history: the versions of documents that point-in-time reads
//! (`readConcern: {level: "snapshot", atClusterTime}`) need, and the window
//! after which they are gone.
//!
//! A real primary keeps history in the storage engine back to its *oldest
//! timestamp*, which it sets, whenever the stable timestamp moves (on a
//! single-node replica set: on every write), to the stable timestamp minus
//! `minSnapshotHistoryWindowInSeconds` (default 300), and never moves back
//! (WiredTigerKVEngine; jstests/noPassthrough/minSnapshotHistoryWindowInSeconds.js).
//! A read at a timestamp older than that fails with 239 `SnapshotTooOld`
//! ("Read timestamp ... is older than the oldest available timestamp.",
//! WiredTigerRecoveryUnit). Changing the window therefore takes effect at
//! the next write, not at once.
//!
//! mongosim keeps, for each write (one oplog entry), an undo record per
//! document it changed: the collection, the document's slot (its place in
//! natural order) and the document before (`None`: it did not exist). A read
//! at `T` takes the collection as it is now and undoes, newest first, every
//! write after `T`. Drops and renames record their documents too, so a
//! collection dropped, renamed or recreated after `T` reads as it was at `T`
//! (the 7.0 server's point-in-time catalog).
//!
//! As `oplog_capacity` counts entries rather than bytes, mongosim adds a
//! deterministic stand-in for the seconds-based window that tests can drive
//! without sleeping: [`History::new`]'s `max_writes` keeps the undo records
//! of the last `n` document writes only. When a write falls out, the oldest
//! readable time becomes that write's timestamp: a read at `T` keeps working
//! while at most `n` document writes happened after `T`, and fails with 239
//! from the next one on. Both limits apply; history older than either is
//! dropped as writes happen, so memory stays bounded.

use crate::error::CommandError;
use crate::oplog::Ns;
use bson::{Document, Timestamp};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// `minSnapshotHistoryWindowInSeconds` unless set (the server's default).
pub const DEFAULT_WINDOW_SECONDS: i64 = 300;

/// One document's state before a write. Records are kept flat (a write
/// that changes several documents, like a drop, has several with the same
/// timestamp) and small: a shared namespace and a boxed document, so that
/// an insert costs a few dozen bytes of history.
#[derive(Debug, Clone)]
struct Undo {
    /// The write's timestamp.
    ts: Timestamp,
    /// Where.
    ns: Arc<Ns>,
    /// The document's slot in its collection (natural order).
    slot: u64,
    /// The document before the write; `None` if the write created it.
    before: Option<Box<Document>>,
}

/// Versions kept for snapshot reads, and the oldest time they reach.
#[derive(Debug)]
pub struct History {
    /// Undo records, oldest first, all newer than `oldest`.
    records: VecDeque<Undo>,
    /// How many writes (distinct timestamps) `records` holds.
    writes: usize,
    /// The oldest timestamp a snapshot read may use.
    oldest: Timestamp,
    /// `minSnapshotHistoryWindowInSeconds`.
    window_seconds: i64,
    /// mongosim's stand-in: keep the undo records of this many writes at most.
    max_writes: Option<usize>,
    /// The timestamps of the writes newer than `oldest` (for `max_writes`).
    readable: VecDeque<Timestamp>,
    /// The oldest snapshot of an open transaction: records after it are
    /// kept even once `oldest` passes them (WiredTiger keeps the history an
    /// open transaction's snapshot needs).
    pin: Option<Timestamp>,
}

/// How the server prints a `Timestamp` in messages: `Timestamp(1700000000, 3)`.
pub fn display(ts: Timestamp) -> String {
    format!("Timestamp({}, {})", ts.time, ts.increment)
}

impl History {
    /// History starting at `start` (reads before it are too old), keeping
    /// at most `max_writes` writes' versions if set.
    pub fn new(start: Timestamp, max_writes: Option<usize>) -> Self {
        Self {
            records: VecDeque::new(),
            writes: 0,
            oldest: start,
            window_seconds: DEFAULT_WINDOW_SECONDS,
            max_writes,
            readable: VecDeque::new(),
            pin: None,
        }
    }

    /// Keeps the records after `pin` whatever the window (`None`: no pin).
    pub fn set_pin(&mut self, pin: Option<Timestamp>) {
        self.pin = pin;
        self.trim();
    }

    /// `minSnapshotHistoryWindowInSeconds`.
    pub fn window_seconds(&self) -> i64 {
        self.window_seconds
    }

    /// Sets `minSnapshotHistoryWindowInSeconds`; returns the previous value.
    /// As on the server, it takes effect when the next write moves the
    /// stable timestamp.
    pub fn set_window_seconds(&mut self, seconds: i64) -> i64 {
        std::mem::replace(&mut self.window_seconds, seconds)
    }

    /// The oldest timestamp a snapshot read may use.
    pub fn oldest(&self) -> Timestamp {
        self.oldest
    }

    /// Called for every oplog entry: the stable timestamp is now `ts`, so
    /// the oldest timestamp becomes `ts` minus the window (seconds, same
    /// increment, as the server computes it), if that is newer.
    pub fn advance(&mut self, ts: Timestamp) {
        let seconds = i64::from(ts.time) - self.window_seconds;
        if let Ok(time) = u32::try_from(seconds) {
            self.raise(Timestamp {
                time,
                increment: ts.increment,
            });
        }
    }

    /// Records a document's state before the write at `ts` (logged last).
    pub fn record(&mut self, ts: Timestamp, ns: &Ns, slot: u64, before: Option<Document>) {
        let last = self.records.back();
        let ns = match last {
            Some(last) if *last.ns == *ns => last.ns.clone(),
            _ => Arc::new(ns.clone()),
        };
        if last.is_none_or(|last| last.ts != ts) {
            self.writes += 1;
            self.readable.push_back(ts);
        }
        self.records.push_back(Undo {
            ts,
            ns,
            slot,
            before: before.map(Box::new),
        });
        if let Some(max) = self.max_writes {
            while self.readable.len() > max {
                let ts = self.readable.pop_front().expect("more than max");
                self.raise(ts);
            }
        }
    }

    /// Moves the oldest readable timestamp forward to `to` and drops what
    /// no read can need any more (writes at or before it, unless pinned).
    fn raise(&mut self, to: Timestamp) {
        if to > self.oldest {
            self.oldest = to;
        }
        while self.readable.front().is_some_and(|ts| *ts <= self.oldest) {
            self.readable.pop_front();
        }
        self.trim();
    }

    /// Drops the records no read and no open transaction can need.
    fn trim(&mut self) {
        let keep_after = self.pin.map_or(self.oldest, |pin| pin.min(self.oldest));
        while let Some(front) = self.records.front().filter(|r| r.ts <= keep_after) {
            let ts = front.ts;
            self.records.pop_front();
            if self.records.front().is_none_or(|next| next.ts != ts) {
                self.writes -= 1;
            }
        }
    }

    /// Fails like the server when `at` is older than the history kept.
    pub fn check(&self, at: Timestamp) -> Result<(), CommandError> {
        if at < self.oldest {
            return Err(CommandError::new(
                239,
                "SnapshotTooOld",
                format!(
                    "Read timestamp {} is older than the oldest available timestamp.",
                    display(at)
                ),
            ));
        }
        Ok(())
    }

    /// Turns the documents of `ns` as they are now (by slot) into the
    /// documents as they were at `at`, undoing later writes newest first.
    /// The caller has [checked](Self::check) `at`.
    pub fn rewind(&self, ns: &Ns, at: Timestamp, docs: &mut BTreeMap<u64, Document>) {
        let later = self.records.iter().rev().take_while(|r| r.ts > at);
        for undo in later.filter(|r| *r.ns == *ns) {
            match &undo.before {
                Some(doc) => docs.insert(undo.slot, doc.as_ref().clone()),
                None => docs.remove(&undo.slot),
            };
        }
    }

    /// Writes whose versions are held (for tests of the window).
    pub fn len(&self) -> usize {
        self.writes
    }

    /// True if no versions are held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn ts(time: u32, increment: u32) -> Timestamp {
        Timestamp { time, increment }
    }

    fn ns() -> Ns {
        Ns {
            db: "d".into(),
            coll: "c".into(),
        }
    }

    #[test]
    fn the_seconds_window_follows_the_newest_write() {
        let mut history = History::new(ts(1000, 0), None);
        history.record(ts(1000, 1), &ns(), 0, None);
        history.advance(ts(1000, 1));
        history.record(ts(1200, 1), &ns(), 0, Some(doc! {"_id": 1}));
        history.advance(ts(1200, 1));
        assert_eq!(history.oldest(), ts(1000, 0));
        assert!(history.check(ts(1000, 0)).is_ok());
        // 301 s later the first write is outside the default 300 s window.
        history.advance(ts(1301, 2));
        assert_eq!(history.oldest(), ts(1001, 2));
        assert_eq!(history.len(), 1);
        let error = history.check(ts(1000, 1)).unwrap_err();
        assert_eq!(
            (error.code, error.code_name.as_str()),
            (239, "SnapshotTooOld")
        );
        assert_eq!(
            error.message,
            "Read timestamp Timestamp(1000, 1) is older than the oldest available timestamp."
        );
        // A smaller window applies at the next write; the oldest never moves back.
        assert_eq!(history.set_window_seconds(10), 300);
        assert_eq!(history.oldest(), ts(1001, 2));
        history.advance(ts(1302, 1));
        assert_eq!(history.oldest(), ts(1292, 1));
        assert!(history.is_empty());
        history.set_window_seconds(600);
        history.advance(ts(1303, 1));
        assert_eq!(history.oldest(), ts(1292, 1));
    }

    #[test]
    fn the_write_window_keeps_n_writes() {
        let mut history = History::new(ts(1, 0), Some(2));
        for i in 1..=3 {
            // A write of two documents (as a drop records) counts once.
            history.record(ts(1, i), &ns(), u64::from(i), None);
            history.record(ts(1, i), &ns(), u64::from(i) + 10, None);
        }
        assert_eq!(history.len(), 2);
        assert_eq!(history.oldest(), ts(1, 1));
        assert!(history.check(ts(1, 1)).is_ok());
        assert!(history.check(ts(1, 0)).is_err());
    }

    #[test]
    fn rewinding_undoes_newest_first() {
        let mut history = History::new(ts(1, 0), None);
        history.record(ts(1, 1), &ns(), 0, None);
        history.record(ts(1, 2), &ns(), 0, Some(doc! {"_id": 1, "v": 1}));
        history.record(ts(1, 3), &ns(), 0, Some(doc! {"_id": 1, "v": 2}));
        let now = || BTreeMap::from([(0, doc! {"_id": 1, "v": 3})]);
        let at = |t| {
            let mut docs = now();
            history.rewind(&ns(), ts(1, t), &mut docs);
            docs.into_values().collect::<Vec<_>>()
        };
        assert_eq!(at(0), Vec::<Document>::new());
        assert_eq!(at(1), vec![doc! {"_id": 1, "v": 1}]);
        assert_eq!(at(2), vec![doc! {"_id": 1, "v": 2}]);
        assert_eq!(at(3), vec![doc! {"_id": 1, "v": 3}]);
    }
}
