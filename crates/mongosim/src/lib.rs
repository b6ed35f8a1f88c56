//! mongosim: a small, faithful MongoDB replica-set primary, in process, for tests.
//!
//! herald's change-stream logic must be tested against the real `mongodb`
//! driver over a real socket, and no MongoDB server can be installed where
//! herald is built. mongosim speaks the wire protocol the way a single-node
//! replica set does (OP_MSG, hello, CRUD, change streams with resume tokens,
//! a capped oplog, `failCommand`), following the server's documented
//! behaviour rather than convenience.
//!
//! ```no_run
//! # async fn demo() {
//! let sim = mongosim::MongoSim::builder().oplog_capacity(1_000).start().await.unwrap();
//! let client = mongodb::Client::with_uri_str(sim.uri()).await.unwrap();
//! # }
//! ```
//!
//! # Layout
//! - [`wire`] — message framing, OP_MSG, legacy OP_QUERY/OP_REPLY.
//! - [`server`] — the accept loop and per-connection request loop.
//! - [`commands`] — one file per command.
//! - [`change_stream`] — change stream cursors over the oplog.
//! - [`expr`] — the aggregation expression language (stages, `$expr`, `$toHashedIndexKey`).
//! - [`filter`] — query filters: herald-core's query language plus `$expr`.
//! - [`txn`] — sessions and multi-document transactions.
//! - [`writer`] — carrying out writes, in or outside a transaction.
//! - [`oplog`] — the capped oplog.
//! - [`history`] — document versions for snapshot reads, and their window.
//! - [`data`] — databases, collections, documents.
//! - [`indexes`] — the `_id` and secondary indexes, unique constraints.
//! - [`update`] — update operators and `updateDescription`.
//! - [`fail_point`] — `configureFailPoint: "failCommand"`.
//! - [`state`] — the shared state behind one lock.

pub mod change_stream;
pub mod clock;
pub mod commands;
pub mod data;
pub mod error;
pub mod expr;
pub mod fail_point;
pub mod filter;
pub mod history;
pub mod indexes;
pub mod oplog;
pub mod paths;
pub mod server;
pub mod size;
pub mod state;
pub mod txn;
pub mod update;
pub mod wire;
pub mod writer;

use state::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The replica set name mongosim reports.
pub const SET_NAME: &str = "rs0";
/// Oplog entries kept unless configured.
pub const DEFAULT_OPLOG_CAPACITY: usize = 1_000_000;

/// Configures a [`MongoSim`].
#[derive(Debug, Clone)]
pub struct Builder {
    oplog_capacity: usize,
    port: u16,
    standalone: bool,
    snapshot_history_writes: Option<usize>,
    transaction_lifetime_seconds: u64,
}

impl Builder {
    /// `transactionLifetimeLimitSeconds` (at least 1; default 60): a
    /// transaction still open this long after it started is aborted.
    /// `setParameter` changes it at run time too, as on the server.
    pub fn transaction_lifetime_limit_seconds(mut self, seconds: u64) -> Self {
        self.transaction_lifetime_seconds = seconds.max(1);
        self
    }

    /// Keeps at most `n` oplog entries; older resume points are then lost (code 286).
    pub fn oplog_capacity(mut self, n: usize) -> Self {
        self.oplog_capacity = n;
        self
    }

    /// Keeps the document versions of the last `n` writes only (mongosim's
    /// deterministic stand-in for `minSnapshotHistoryWindowInSeconds`,
    /// which still applies too): a snapshot read at `T` fails with 239
    /// `SnapshotTooOld` once more than `n` document writes happened after
    /// `T`. See [`history`].
    pub fn snapshot_history_writes(mut self, n: usize) -> Self {
        self.snapshot_history_writes = Some(n);
        self
    }

    /// Listens on this port (0, the default, picks a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Acts as a standalone server (no `setName`), which refuses change streams.
    pub fn standalone(mut self, standalone: bool) -> Self {
        self.standalone = standalone;
        self
    }

    /// Binds 127.0.0.1 and starts serving in the background.
    pub async fn start(self) -> std::io::Result<MongoSim> {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await?;
        let addr = listener.local_addr()?;
        let set_name = (!self.standalone).then(|| SET_NAME.to_owned());
        let shared = Arc::new(Shared::new(
            addr.to_string(),
            set_name,
            self.oplog_capacity,
            self.snapshot_history_writes,
            self.transaction_lifetime_seconds,
        ));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(listener, shared.clone(), async move {
            let _ = stopped.await;
        }));
        Ok(MongoSim {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
            standalone: self.standalone,
        })
    }
}

/// A running server; stops when dropped.
#[derive(Debug)]
pub struct MongoSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    standalone: bool,
}

impl MongoSim {
    /// Starts configuring a server.
    pub fn builder() -> Builder {
        Builder {
            oplog_capacity: DEFAULT_OPLOG_CAPACITY,
            port: 0,
            standalone: false,
            snapshot_history_writes: None,
            transaction_lifetime_seconds: txn::table::DEFAULT_LIFETIME_SECONDS,
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A URI for normal replica-set discovery (`directConnection` for a standalone).
    pub fn uri(&self) -> String {
        if self.standalone {
            format!("mongodb://{}/?directConnection=true", self.addr)
        } else {
            format!("mongodb://{}/?replicaSet={SET_NAME}", self.addr)
        }
    }

    /// A URI that skips discovery.
    pub fn direct_uri(&self) -> String {
        format!("mongodb://{}/?directConnection=true", self.addr)
    }

    /// The shared state, for white-box tests.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MongoSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
