//! Opening, reading and committing to the store.
//!
//! A [`Store`] is opened with [`StoreOptions`] (the dedupe ledger's window);
//! opening refuses what is not a usable herald store and converts older
//! formats (see `store/open.rs`). Every change goes through [`Store::commit`]:
//! one atomic batch, flushed, that also writes the group's ledger record and
//! deletes the records the ledger window has let go.
//!
//! - `store/commit.rs`: [`Store::commit`], and which commits wait for which.
//! - `store/ledgers.rs`: the store's ledger and its scopes' ledgers, and
//!   lookups in them.
//! - `store/records.rs`: reading checkpoints, gaps, state, counts and
//!   informational records.
//! - `store/dead_letters.rs`, `store/timers.rs`: dead letters and timers.
//! - `store/open.rs`: format checks and upgrades at open.
//!
//! # Fault injection
//! With the cargo feature `fault-injection` (off by default), tests can make
//! commits fail as a failing disk would: `Store::fail_commits_after`, or the
//! environment variable `HERALD_FAULT_STORE_COMMITS=N` read at open, make every
//! commit after the next `N` successful ones fail with a
//! `StoreError::Sled(sled::Error::Io(..))` ("injected store failure ..."),
//! applying nothing. See `store/fault.rs`.

mod commit;
mod dead_letters;
mod fault;
mod ledgers;
mod open;
mod records;
mod timers;

use crate::backend::{Backend, KeyRange, SledBackend};
use crate::ledger::{self, Ledger};
use crate::scope::Scope;
use crate::{Commit, StoreError};
use ledgers::{LazyLedger, Ledgers};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The store format this build writes and reads.
/// Format 3 keeps the ledger as records of 128-bit fingerprints, trimmed to a
/// window (see [`crate::ledger`]); format 4 adds timers. A format-1 store is
/// converted when opened, a format-2 store's ledger (64-bit fingerprints) is
/// reset, and a format-3 store (no timers yet) is only marked 4.
pub const FORMAT_VERSION: u32 = 4;

/// sled's page cache: small, because herald reads little and writes in groups;
/// a large cache only grows the resident set.
pub const CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// The default [`StoreOptions::ledger_window`]: the newest 500,000 completed
/// (rule, event) pairs, about 12 MB of memory (see
/// [`crate::ledger`]). That is under a minute of 10 rules matching 1,000
/// events a second, or 83 minutes of one rule at 100 a second; raise it when
/// replays (an event file read again, a stream restarted from further back)
/// reach further than that.
pub const DEFAULT_LEDGER_WINDOW: usize = 500_000;

/// How a store is opened.
///
/// ```
/// use herald_store::{Store, StoreOptions};
/// let store = Store::temporary_with(&StoreOptions { ledger_window: 1_000 })?;
/// assert_eq!(store.ledger_stats().window, 1_000);
/// # Ok::<(), herald_store::StoreError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// The dedupe ledger keeps the marks of at least this many of the newest
    /// completed (rule, event) pairs (at most about 1.25 times as many); 0
    /// turns the ledger off. Opening with a smaller window than before
    /// deletes the older records.
    pub ledger_window: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            ledger_window: DEFAULT_LEDGER_WINDOW,
        }
    }
}

/// When commits reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Events are committed in groups (by count or time), each group flushed: fast, and a crash
    /// re-runs at most the unflushed group, whose effects carry idempotency keys.
    #[default]
    Batch,
    /// Every event is committed and flushed on its own.
    Always,
}

/// herald's durable state: checkpoints, ledger, rule state, dead letters, timers.
/// Clones share one store.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    /// The directory of a store on the local disk.
    path: Option<PathBuf>,
    /// Where the store is, for messages (its directory, or its database).
    location: Option<PathBuf>,
    scope: Option<Arc<Scope>>,
    /// The ledger of this store's scope, or the store's own without one.
    ledger: Arc<LazyLedger>,
    /// The ledgers of the scopes in use, shared by every handle.
    ledgers: Arc<Ledgers>,
    /// The store-wide turn of commits on a backend that is not shared (see
    /// `store/commit.rs`).
    turn: Arc<Mutex<()>>,
    faults: fault::Faults,
}

impl Store {
    /// Opens (or creates) the store in `dir`, with the default [`StoreOptions`].
    ///
    /// Refuses a directory with other files in it, a store in use, a store of
    /// a newer format, and a damaged store, each with a message saying what to do.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(dir, &StoreOptions::default())
    }

    /// Opens (or creates) the store in `dir`, as [`Store::open`] does, with `options`.
    ///
    /// ```
    /// use herald_store::{Store, StoreOptions};
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = Store::open_with(dir.path(), &StoreOptions { ledger_window: 10_000 })?;
    /// assert_eq!(store.ledger_stats().window, 10_000);
    /// # Ok::<(), herald_store::StoreError>(())
    /// ```
    pub fn open_with(dir: impl AsRef<Path>, options: &StoreOptions) -> Result<Self, StoreError> {
        let path = dir.as_ref().to_path_buf();
        let (backend, created) = SledBackend::open(&path)?;
        let store = Self::init(
            Arc::new(backend),
            Some(path.clone()),
            None,
            options,
            created,
        )?;
        crate::backend::sled::mark_created(&path)?;
        Ok(store)
    }

    /// A store that lives only as long as the process (dry runs, the demo),
    /// with the default [`StoreOptions`].
    pub fn temporary() -> Result<Self, StoreError> {
        Self::temporary_with(&StoreOptions::default())
    }

    /// A store that lives only as long as the process, with `options`.
    pub fn temporary_with(options: &StoreOptions) -> Result<Self, StoreError> {
        Self::init(
            Arc::new(SledBackend::temporary()?),
            None,
            None,
            options,
            false,
        )
    }

    /// Opens (or creates) the store in a MongoDB database (cluster mode):
    /// the deployment at `uri` must be a replica set, for transactions.
    ///
    /// ```no_run
    /// use herald_store::{Store, StoreOptions};
    /// let uri = "mongodb://localhost:27017/?replicaSet=rs0";
    /// let store = Store::open_mongodb(uri, "herald", &StoreOptions::default())?;
    /// assert!(store.path().is_none());
    /// # Ok::<(), herald_store::StoreError>(())
    /// ```
    pub fn open_mongodb(
        uri: &str,
        database: &str,
        options: &StoreOptions,
    ) -> Result<Self, StoreError> {
        let backend = crate::backend::MongoBackend::connect(uri, database)?;
        let created = backend.has_records()?;
        let location = backend.location().to_owned();
        Self::on_backend(Arc::new(backend), &location, options, created)
    }

    /// A store on another [`Backend`] (`location`: where it is, for
    /// messages; `created`: whether it was made before, so a missing format
    /// marker means damage, not a new store).
    pub fn on_backend(
        backend: Arc<dyn Backend>,
        location: &str,
        options: &StoreOptions,
        created: bool,
    ) -> Result<Self, StoreError> {
        Self::init(backend, None, Some(location.into()), options, created)
    }

    /// Checks the format of a store just opened.
    fn init(
        backend: Arc<dyn Backend>,
        path: Option<PathBuf>,
        location: Option<PathBuf>,
        options: &StoreOptions,
        created: bool,
    ) -> Result<Self, StoreError> {
        let location = location.or_else(|| path.clone());
        let shown = location.clone().unwrap_or_default();
        open::upgrade_format(backend.as_ref(), &shown, options.ledger_window, created)?;
        let window = ledger::load(
            backend.as_ref(),
            &shown,
            options.ledger_window,
            &ledger::Records::of(None),
            None,
        )?;
        Ok(Self {
            backend,
            path,
            location,
            scope: None,
            ledger: Arc::new(LazyLedger::loaded(Ledger::new(window))),
            ledgers: Arc::new(Ledgers::new(options.ledger_window)),
            turn: Arc::new(Mutex::new(())),
            faults: fault::Faults::from_env(),
        })
    }

    /// The directory, if the store is not temporary.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Starts a group of changes.
    pub fn begin(&self) -> Commit {
        Commit {
            done_at: bson::DateTime::now().timestamp_millis(),
            scope: self.scope.clone(),
            ..Commit::default()
        }
    }

    /// The same store, with this engine's own records under `scope` (see
    /// [`Scope`]); rule state, timers and dead letters stay shared.
    ///
    /// The scope has a dedupe ledger of its own (see "Scopes" in
    /// [`crate::ledger`]), loaded from the scope's records when first used
    /// ([`Store::load_ledger`]) and shared by every handle of the same scope
    /// (fence included), so its commits wait for no other scope's.
    pub fn scoped(&self, scope: Scope) -> Store {
        Store {
            ledger: self.ledgers.of(&scope),
            scope: Some(Arc::new(scope)),
            ..self.clone()
        }
    }

    /// The scope, if the store is [scoped](Store::scoped).
    pub fn scope(&self) -> Option<&Scope> {
        self.scope.as_deref()
    }

    /// A fresh, increasing id (for gaps); not contiguous.
    pub fn next_id(&self) -> Result<u64, StoreError> {
        self.backend.generate_id()
    }

    /// A stored value that cannot be decoded, as damage to the store at its
    /// path, so the message names the store and what to do about it.
    fn damaged(&self, error: StoreError) -> StoreError {
        match (error, &self.location) {
            (StoreError::BadValue { what, reason }, Some(path)) => StoreError::Corrupt {
                path: path.clone(),
                reason: format!("a stored {what} cannot be decoded ({reason})"),
            },
            (other, _) => other,
        }
    }

    /// Bytes the store occupies on disk (or in its database).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.backend.size()
    }

    /// The records whose keys start with the one-byte `prefix`, in key order.
    fn scan_prefix(&self, prefix: u8) -> crate::backend::Entries<'_> {
        self.backend.scan(KeyRange::prefix(&[prefix]), false)
    }
}

/// Raw access to the records, for tests that damage or inspect them.
#[cfg(test)]
impl Store {
    fn raw_put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), StoreError> {
        let mut batch = crate::backend::Batch::default();
        batch.insert(key.as_ref(), value.as_ref());
        self.backend.apply(batch)
    }

    fn raw_clear(&self) -> Result<(), StoreError> {
        let everything = KeyRange {
            start: std::ops::Bound::Unbounded,
            end: std::ops::Bound::Unbounded,
        };
        let mut batch = crate::backend::Batch::default();
        for item in self.backend.scan(everything, false) {
            batch.remove(item?.0);
        }
        self.backend.apply(batch)
    }

    fn raw_get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend.get(key.as_ref())
    }

    fn raw_scan(&self, prefix: [u8; 1]) -> crate::backend::Entries<'_> {
        self.scan_prefix(prefix[0])
    }
}

#[cfg(test)]
mod ledger_tests;
#[cfg(test)]
mod records_fuzz;
#[cfg(test)]
mod tests;
