//! Everything the server holds, behind one lock.

use crate::change_stream::ChangeStreamCursor;
use crate::clock::Clock;
use crate::data::{Catalog, Collection};
use crate::error::CommandError;
use crate::fail_point::FailPoints;
use crate::history::History;
use crate::oplog::{Ns, Op, Oplog};
use crate::txn::resources::Resource;
use crate::txn::{Transactions, TxnRef};
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
    /// Sessions and their transactions.
    pub txns: Transactions,
}

impl State {
    fn new(
        oplog_capacity: usize,
        snapshot_history_writes: Option<usize>,
        transaction_lifetime_seconds: u64,
    ) -> Self {
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
            txns: Transactions::new(transaction_lifetime_seconds),
        }
    }

    /// Records a write in the oplog; returns its operation time.
    pub fn log(&mut self, op: Op) -> (Timestamp, DateTime) {
        let (ts, wall) = self.clock.tick();
        // Open transactions conflict with catalog changes after their snapshot.
        match &op {
            Op::Create { ns } | Op::Drop { ns } => {
                self.txns.stamp(Resource::Catalog(ns.clone()), ts)
            }
            Op::Rename { from, to } => {
                self.txns.stamp(Resource::Catalog(from.clone()), ts);
                self.txns.stamp(Resource::Catalog(to.clone()), ts);
            }
            _ => {}
        }
        self.oplog.push(ts, wall, None, op);
        self.history.advance(ts);
        (ts, wall)
    }

    /// Records a document's state before the write just logged at `ts`.
    pub fn remember(&mut self, ts: Timestamp, ns: &Ns, slot: u64, before: Option<Document>) {
        self.history.record(ts, ns, slot, before);
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
    /// older than the history kept), or as the transaction `txn` sees them.
    pub fn documents(
        &mut self,
        ns: &Ns,
        at: Option<Timestamp>,
        txn: Option<&TxnRef>,
        keep: impl Fn(&Document) -> Result<bool, CommandError>,
    ) -> Result<Vec<Document>, CommandError> {
        let filtered = |docs: &mut dyn Iterator<Item = &Document>| {
            let mut out = Vec::new();
            for d in docs {
                if keep(d)? {
                    out.push(d.clone());
                }
            }
            Ok(out)
        };
        if let Some(txn) = txn {
            let mut open = self.txns.checkout(txn)?;
            open.touched.insert(ns.clone());
            let docs = self.transaction_view(&open, ns);
            self.txns.checkin(open);
            return filtered(&mut docs.values());
        }
        let current = self.catalog.get(&ns.db, &ns.coll);
        let Some(at) = at else {
            return match current {
                Some(c) => filtered(&mut c.iter()),
                None => Ok(Vec::new()),
            };
        };
        self.history.check(at)?;
        let mut docs: BTreeMap<u64, Document> = current
            .map(|c| c.iter_slots().map(|(s, d)| (s, d.clone())).collect())
            .unwrap_or_default();
        self.history.rewind(ns, at, &mut docs);
        filtered(&mut docs.values())
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
        transaction_lifetime_seconds: u64,
    ) -> Self {
        Self {
            state: Mutex::new(State::new(
                oplog_capacity,
                snapshot_history_writes,
                transaction_lifetime_seconds,
            )),
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
