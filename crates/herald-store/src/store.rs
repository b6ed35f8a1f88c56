//! Opening, reading and committing to the store.
//!
//! A [`Store`] is opened with [`StoreOptions`] (the dedupe ledger's window);
//! opening refuses what is not a usable herald store and converts older
//! formats (see `store/open.rs`). Every change goes through [`Store::commit`]:
//! one atomic batch, flushed, that also writes the group's ledger record and
//! deletes the records the ledger window has let go.
//!
//! # Fault injection
//! With the cargo feature `fault-injection` (off by default), tests can make
//! commits fail as a failing disk would: `Store::fail_commits_after`, or the
//! environment variable `HERALD_FAULT_STORE_COMMITS=N` read at open, make every
//! commit after the next `N` successful ones fail with a
//! `StoreError::Sled(sled::Error::Io(..))` ("injected store failure ..."),
//! applying nothing. See `store/fault.rs`.

mod dead_letters;
mod fault;
mod open;
mod timers;

use crate::backend::{Backend, KeyRange, SledBackend};
use crate::ledger::{self, Ledger, LedgerStats};
use crate::scope::{self, Scope};
use crate::{Checkpoint, Commit, Gap, RuleCounts, StoreError, keys};
use bson::Bson;
use herald_core::Position;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
/// (rule, event) pairs, at most about 10.3 MB of memory (see
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
    ledger: Arc<Ledger>,
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
        let window = ledger::load(backend.as_ref(), &shown, options.ledger_window)?;
        Ok(Self {
            backend,
            path,
            location,
            scope: None,
            ledger: Arc::new(Ledger::new(window)),
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
    /// [`Scope`]); the ledger, rule state, timers and dead letters stay shared.
    pub fn scoped(&self, scope: Scope) -> Store {
        Store {
            scope: Some(Arc::new(scope)),
            ..self.clone()
        }
    }

    /// The scope, if the store is [scoped](Store::scoped).
    pub fn scope(&self) -> Option<&Scope> {
        self.scope.as_deref()
    }

    /// Applies a group atomically and flushes it to disk.
    ///
    /// The batch also holds the group's ledger record (its marks that the
    /// ledger does not hold yet) and the deletion of the records the window
    /// let go since the last commit, so pruning costs no flush of its own.
    pub fn commit(&self, commit: Commit) -> Result<(), StoreError> {
        if commit.is_empty() {
            return Ok(());
        }
        self.faults.check()?;
        // One commit at a time: the marks found new here must still be new
        // when they reach the window, and record ids must reach it in order.
        let _one_commit_at_a_time = self.ledger.lock_commits();
        let pending = self.ledger.pending(&commit.marks);
        // Every other change (timer changes too) counts in `len`.
        let only_old_marks = commit.len == commit.marks.len() && pending.fresh.is_empty();
        if only_old_marks && pending.doomed.is_empty() {
            return Ok(()); // nothing to write
        }
        let mut batch = commit.batch;
        if let Some(fence) = self.scope().and_then(|s| s.fence.clone()) {
            batch.fence(fence);
        }
        self.number_dead_letters(&mut batch, commit.new_letters)?;
        self.apply_timer_ops(&mut batch, commit.timer_ops)?;
        let record = if pending.fresh.is_empty() {
            None
        } else {
            let id = self.backend.generate_id()?;
            batch.insert(
                keys::ledger_group(id),
                ledger::encode(commit.done_at, &pending.fresh),
            );
            Some((id, commit.done_at))
        };
        for span in &pending.doomed {
            let records = keys::ledger_group(span.first)..=keys::ledger_group(span.last);
            for item in self.backend.scan(records.into(), false) {
                batch.remove(item?.0);
            }
        }
        self.backend.apply(batch)?;
        self.ledger.committed(pending, record);
        Ok(())
    }

    /// Makes every commit after the next `n` successful ones fail, as a
    /// failing disk would, applying nothing (`u64::MAX`: never). Replaces any
    /// earlier plan, including `HERALD_FAULT_STORE_COMMITS`.
    ///
    /// ```
    /// let store = herald_store::Store::temporary()?;
    /// store.fail_commits_after(1);
    /// let mut commit = store.begin();
    /// commit.mark_done("r", b"t1");
    /// store.commit(commit)?;
    /// let mut commit = store.begin();
    /// commit.mark_done("r", b"t2");
    /// assert!(store.commit(commit).unwrap_err().to_string().contains("injected store failure"));
    /// assert!(!store.is_done("r", b"t2")?);
    /// # Ok::<(), herald_store::StoreError>(())
    /// ```
    #[cfg(feature = "fault-injection")]
    pub fn fail_commits_after(&self, n: u64) {
        self.faults.fail_after(n);
    }

    /// Like [`Store::fail_commits_after`], but only the one commit after the
    /// next `n` fails; later commits succeed again (feature `fault-injection`).
    #[cfg(feature = "fault-injection")]
    pub fn fail_one_commit_after(&self, n: u64) {
        self.faults.fail_once_after(n);
    }

    /// A fresh, increasing id (for gaps); not contiguous.
    pub fn next_id(&self) -> Result<u64, StoreError> {
        self.backend.generate_id()
    }

    /// True if `rule` has completed the event with these token bytes.
    pub fn is_done(&self, rule: &str, token: &[u8]) -> Result<bool, StoreError> {
        Ok(self.is_marked(ledger::fingerprint(rule, token)))
    }

    /// True if the pair with this [fingerprint](ledger::fingerprint) is complete
    /// (as far as the ledger window remembers).
    pub fn is_marked(&self, fingerprint: u128) -> bool {
        self.ledger.contains(fingerprint)
    }

    /// The ledger's size and age, for `herald status`.
    pub fn ledger_stats(&self) -> LedgerStats {
        self.ledger.stats()
    }

    /// A stream's checkpoint position.
    pub fn checkpoint(&self, stream: &str) -> Result<Option<Position>, StoreError> {
        Ok(self.checkpoint_record(stream)?.map(|c| c.position))
    }

    /// A stream's checkpoint with its times.
    pub fn checkpoint_record(&self, stream: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.backend
            .get(&scope::key(keys::CHECKPOINT, self.scope(), stream))?
            .map(|bytes| {
                Checkpoint::decode(&bytes).map_err(|e| {
                    self.damaged(StoreError::BadValue {
                        what: "checkpoint",
                        reason: format!("stream {stream}: {e}"),
                    })
                })
            })
            .transpose()
    }

    /// All checkpoints, by stream id.
    pub fn checkpoints(&self) -> Result<Vec<(String, Checkpoint)>, StoreError> {
        let mut all = Vec::new();
        let prefix = scope::prefix(keys::CHECKPOINT, self.scope());
        for item in self.backend.scan(KeyRange::prefix(&prefix), false) {
            let (key, value) = item?;
            let stream = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            let checkpoint = Checkpoint::decode(&value).map_err(|e| {
                self.damaged(StoreError::BadValue {
                    what: "checkpoint",
                    reason: format!("stream {stream}: {e}"),
                })
            })?;
            all.push((stream, checkpoint));
        }
        Ok(all)
    }

    /// Recorded gaps, oldest first.
    pub fn gaps(&self) -> Result<Vec<Gap>, StoreError> {
        let mut all = Vec::new();
        for item in self.scan_prefix(keys::GAP) {
            let (_, value) = item?;
            all.push(serde_json::from_slice(&value).map_err(|e| {
                self.damaged(StoreError::BadValue {
                    what: "gap",
                    reason: e.to_string(),
                })
            })?);
        }
        Ok(all)
    }

    /// A rule's state value.
    pub fn get_state(&self, rule: &str, key: &str) -> Result<Option<Bson>, StoreError> {
        let Some(bytes) = self.backend.get(&keys::state(rule, key))? else {
            return Ok(None);
        };
        let doc = bson::Document::from_reader(bytes.as_slice()).map_err(|e| {
            self.damaged(StoreError::BadValue {
                what: "state value",
                reason: format!("rule {rule}, key {key}: {e}"),
            })
        })?;
        Ok(doc.get("v").cloned())
    }

    /// One rule's counts, if any were stored.
    pub fn rule_count(&self, rule: &str) -> Result<Option<RuleCounts>, StoreError> {
        self.backend
            .get(&scope::key(keys::COUNTS, self.scope(), rule))?
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| {
                    self.damaged(StoreError::BadValue {
                        what: "rule counts",
                        reason: e.to_string(),
                    })
                })
            })
            .transpose()
    }

    /// Every rule's counts, by rule name.
    pub fn rule_counts(&self) -> Result<Vec<(String, RuleCounts)>, StoreError> {
        let mut all = Vec::new();
        let prefix = scope::prefix(keys::COUNTS, self.scope());
        for item in self.backend.scan(KeyRange::prefix(&prefix), false) {
            let (key, value) = item?;
            let counts = serde_json::from_slice(&value).map_err(|e| {
                self.damaged(StoreError::BadValue {
                    what: "rule counts",
                    reason: e.to_string(),
                })
            })?;
            all.push((
                String::from_utf8_lossy(&key[prefix.len()..]).into_owned(),
                counts,
            ));
        }
        Ok(all)
    }

    /// An informational record set with [`Commit::set_info`].
    pub fn info(&self, name: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.backend
            .get(&scope::key(keys::INFO, self.scope(), name))?
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| {
                    self.damaged(StoreError::BadValue {
                        what: "info record",
                        reason: format!("{name}: {e}"),
                    })
                })
            })
            .transpose()
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
