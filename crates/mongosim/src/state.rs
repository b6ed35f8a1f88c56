//! Everything the server holds, behind one lock.

use crate::change_stream::ChangeStreamCursor;
use crate::clock::Clock;
use crate::data::{Catalog, Collection};
use crate::error::CommandError;
use crate::fail_point::FailPoints;
use crate::history::History;
use crate::oplog::{Ns, Op, Oplog};
use bson::{DateTime, Document, Timestamp};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::AtomicI64;
use tokio::sync::watch;

/// An open cursor.
#[derive(Debug, Clone)]
pub enum Cursor {
    /// The rest of a `find` or `aggregate` result.
    Find {
        /// `db.coll` for replies.
        ns: String,
        /// Documents not yet returned.
        remaining: VecDeque<Document>,
        /// The point in time of a snapshot read: each getMore checks it is
        /// still inside the history window, as the server reopens its
        /// storage snapshot there.
        read_at: Option<Timestamp>,
    },
    /// A change stream.
    ChangeStream(Box<ChangeStreamCursor>),
}

/// The mutable state.
#[derive(Debug)]
pub struct State {
    /// Databases and collections.
    pub catalog: Catalog,
    /// The capped oplog.
    pub oplog: Oplog,
    /// Cluster time.
    pub clock: Clock,
    /// Open cursors by id.
    pub cursors: HashMap<i64, Cursor>,
    /// Change stream cursors taken out of `cursors` by a getMore that is waiting.
    pub in_flight: HashSet<i64>,
    /// In-flight cursors killed meanwhile: their getMore must not put them back.
    pub killed: HashSet<i64>,
    next_cursor: i64,
    /// Configured fail points.
    pub fail_points: FailPoints,
    /// Document versions for snapshot reads, and their window.
    pub history: History,
    /// Sessions' transactions.
    pub txns: crate::txn::Txns,
    /// While a transaction's statement runs (its data swapped in, see
    /// [`crate::commands::Ctx::lock`]): its writes, held back from the oplog.
    pub capture: Option<Vec<Op>>,
    /// Each document's newest write in the oplog (namespace, `_id` key
    /// bytes → position), against which transactions find conflicts.
    pub last_writes: HashMap<(Ns, Vec<u8>), u64>,
}

impl State {
    fn new(oplog_capacity: usize, snapshot_history_writes: Option<usize>) -> Self {
        let clock = Clock::default();
        let start = clock.now();
        Self {
            catalog: Catalog::default(),
            oplog: Oplog::new(oplog_capacity),
            clock,
            cursors: HashMap::new(),
            in_flight: HashSet::new(),
            killed: HashSet::new(),
            next_cursor: 1_000_000_007,
            fail_points: FailPoints::default(),
            history: History::new(start, snapshot_history_writes),
            txns: crate::txn::Txns::default(),
            capture: None,
            last_writes: HashMap::new(),
        }
    }

    /// Records a write in the oplog; returns its operation time.
    /// Inside a transaction's statement the write is held back for its
    /// commit instead (the time returned is then the current one).
    pub fn log(&mut self, op: Op) -> (Timestamp, DateTime) {
        if let Some(held) = &mut self.capture {
            held.push(op);
            return (self.clock.now(), DateTime::now());
        }
        let (ts, wall) = self.clock.tick();
        let doc = crate::txn::written(&op);
        let seq = self.oplog.push(ts, wall, None, op);
        if let Some(doc) = doc {
            self.last_writes.insert(doc, seq);
        }
        self.history.advance(ts);
        (ts, wall)
    }

    /// Records a document's state before the write just logged at `ts`
    /// (nothing inside a transaction's statement: its commit records them).
    pub fn remember(&mut self, ts: Timestamp, ns: &Ns, slot: u64, before: Option<Document>) {
        if self.capture.is_none() {
            self.history.record(ts, ns, slot, before);
        }
    }

    /// Records every document of a collection that the write at `ts`
    /// removed from `ns` (a drop, or the source of a rename).
    pub fn remember_all(&mut self, ts: Timestamp, ns: &Ns, coll: &Collection) {
        for (slot, doc) in coll.iter_slots() {
            self.history.record(ts, ns, slot, Some(doc.clone()));
        }
    }

    /// Copies of the documents of `db.coll` that `keep` accepts, in natural
    /// order: now, or as they were at `at` (failing with 239 if that is
    /// older than the history kept).
    pub fn documents(
        &self,
        ns: &Ns,
        at: Option<Timestamp>,
        keep: impl Fn(&Document) -> bool,
    ) -> Result<Vec<Document>, CommandError> {
        let current = self.catalog.get(&ns.db, &ns.coll);
        let Some(at) = at else {
            return Ok(current
                .map(|c| c.iter().filter(|d| keep(d)).cloned().collect())
                .unwrap_or_default());
        };
        self.history.check(at)?;
        let mut docs: BTreeMap<u64, Document> = current
            .map(|c| c.iter_slots().map(|(s, d)| (s, d.clone())).collect())
            .unwrap_or_default();
        self.history.rewind(ns, at, &mut docs);
        Ok(docs.into_values().filter(|d| keep(d)).collect())
    }

    /// Open change streams, including those inside a getMore.
    pub fn open_change_streams(&self) -> usize {
        self.cursors
            .values()
            .filter(|c| matches!(c, Cursor::ChangeStream(_)))
            .count()
            + self.in_flight.len()
    }

    /// Registers a cursor; returns its id (never 0).
    pub fn add_cursor(&mut self, cursor: Cursor) -> i64 {
        self.next_cursor += 1;
        let id = self.next_cursor;
        self.cursors.insert(id, cursor);
        id
    }
}

/// What every connection shares.
#[derive(Debug)]
pub struct Shared {
    /// The data, the oplog, cursors, fail points.
    pub state: Mutex<State>,
    /// The newest oplog position, for change streams waiting in getMore.
    pub oplog_tail: watch::Sender<u64>,
    /// `host:port` as clients dial it.
    pub host: String,
    /// The replica set name; `None` makes the server a standalone.
    pub set_name: Option<String>,
    /// Connection ids.
    pub next_connection: AtomicI64,
    /// When the server started (for `hello.electionId` and uptime).
    pub started: DateTime,
}

impl Shared {
    /// A fresh server state.
    pub fn new(
        host: String,
        set_name: Option<String>,
        oplog_capacity: usize,
        snapshot_history_writes: Option<usize>,
    ) -> Self {
        Self {
            state: Mutex::new(State::new(oplog_capacity, snapshot_history_writes)),
            oplog_tail: watch::channel(0).0,
            host,
            set_name,
            next_connection: AtomicI64::new(1),
            started: DateTime::now(),
        }
    }

    /// Locks the state.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wakes change streams after writes.
    pub fn notify_writes(&self, state: &State) {
        self.oplog_tail.send_replace(state.oplog.last_seq());
    }
}
