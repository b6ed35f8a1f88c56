//! Opening, reading and committing to the store.

use crate::ledger::{self, Marks};
use crate::{Checkpoint, Commit, DeadLetter, Gap, RuleCounts, StoreError, keys};
use bson::Bson;
use herald_core::Position;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The store format this build writes and reads.
/// Format 2 keeps the ledger as one record per group (see [`crate::ledger`]);
/// a format 1 store is converted when opened.
pub const FORMAT_VERSION: u32 = 2;

/// sled's page cache: small, because herald reads little and writes in groups;
/// a large cache only grows the resident set.
pub const CACHE_BYTES: u64 = 8 * 1024 * 1024;

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

/// herald's durable state: checkpoints, ledger, rule state, dead letters.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    tree: sled::Tree,
    path: Option<PathBuf>,
    marks: Arc<Marks>,
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    ///
    /// Refuses a directory with other files in it, a store of a newer format,
    /// and a damaged store, each with a message saying what to do.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = dir.as_ref().to_path_buf();
        check_directory(&path)?;
        let db = open_with_lock_retry(&path)?;
        Self::init(db, Some(path))
    }

    /// A store that lives only as long as the process (dry runs, the demo).
    pub fn temporary() -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(None)
            .open()?;
        Self::init(db, None)
    }

    fn init(db: sled::Db, path: Option<PathBuf>) -> Result<Self, StoreError> {
        let tree = db.open_tree("herald")?;
        let shown = path.clone().unwrap_or_default();
        match tree.get(keys::FORMAT)? {
            None => {
                tree.insert(keys::FORMAT, &FORMAT_VERSION.to_be_bytes())?;
                db.flush()?;
            }
            Some(bytes) => {
                let found = <[u8; 4]>::try_from(bytes.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt {
                        path: shown.clone(),
                        reason: "the format marker is unreadable".into(),
                    })?;
                if found > FORMAT_VERSION {
                    return Err(StoreError::NewerFormat {
                        path: shown,
                        found,
                        supported: FORMAT_VERSION,
                    });
                }
                if found < 2 {
                    let migrated = ledger::migrate_v1(&db, &tree)?;
                    tree.insert(keys::FORMAT, &FORMAT_VERSION.to_be_bytes())?;
                    db.flush()?;
                    tracing::info!(marks = migrated, "converted the ledger to store format 2");
                }
            }
        }
        let marks = Arc::new(Marks::default());
        marks.replace(ledger::load(&tree, &shown)?);
        Ok(Self {
            db,
            tree,
            path,
            marks,
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
            ..Commit::default()
        }
    }

    /// Applies a group atomically and flushes it to disk.
    pub fn commit(&self, commit: Commit) -> Result<(), StoreError> {
        if commit.is_empty() {
            return Ok(());
        }
        let mut batch = commit.batch;
        if !commit.marks.is_empty() {
            batch.insert(
                keys::ledger_group(self.db.generate_id()?),
                ledger::encode(commit.done_at, &commit.marks),
            );
        }
        self.tree.apply_batch(batch)?;
        self.db.flush()?;
        self.marks.extend(commit.marks);
        Ok(())
    }

    /// A fresh, increasing id (for dead letters).
    pub fn next_id(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }

    /// True if `rule` has completed the event with these token bytes.
    pub fn is_done(&self, rule: &str, token: &[u8]) -> Result<bool, StoreError> {
        Ok(self.is_marked(ledger::fingerprint(rule, token)))
    }

    /// True if the pair with this [fingerprint](ledger::fingerprint) is complete.
    pub fn is_marked(&self, fingerprint: u64) -> bool {
        self.marks.contains(fingerprint)
    }

    /// A stream's checkpoint position.
    pub fn checkpoint(&self, stream: &str) -> Result<Option<Position>, StoreError> {
        Ok(self.checkpoint_record(stream)?.map(|c| c.position))
    }

    /// A stream's checkpoint with its times.
    pub fn checkpoint_record(&self, stream: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.tree
            .get(keys::checkpoint(stream))?
            .map(|bytes| {
                Checkpoint::decode(&bytes).map_err(|e| StoreError::BadValue {
                    what: "checkpoint",
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    /// All checkpoints, by stream id.
    pub fn checkpoints(&self) -> Result<Vec<(String, Checkpoint)>, StoreError> {
        let mut all = Vec::new();
        for item in self.tree.scan_prefix([keys::CHECKPOINT]) {
            let (key, value) = item?;
            let stream = String::from_utf8_lossy(&key[1..]).into_owned();
            let checkpoint = Checkpoint::decode(&value).map_err(|e| StoreError::BadValue {
                what: "checkpoint",
                reason: e.to_string(),
            })?;
            all.push((stream, checkpoint));
        }
        Ok(all)
    }

    /// Recorded gaps, oldest first.
    pub fn gaps(&self) -> Result<Vec<Gap>, StoreError> {
        let mut all = Vec::new();
        for item in self.tree.scan_prefix([keys::GAP]) {
            let (_, value) = item?;
            all.push(
                serde_json::from_slice(&value).map_err(|e| StoreError::BadValue {
                    what: "gap",
                    reason: e.to_string(),
                })?,
            );
        }
        Ok(all)
    }

    /// A rule's state value.
    pub fn get_state(&self, rule: &str, key: &str) -> Result<Option<Bson>, StoreError> {
        let Some(bytes) = self.tree.get(keys::state(rule, key))? else {
            return Ok(None);
        };
        let doc =
            bson::Document::from_reader(bytes.as_ref()).map_err(|e| StoreError::BadValue {
                what: "state value",
                reason: e.to_string(),
            })?;
        Ok(doc.get("v").cloned())
    }

    /// The dead letters, oldest first.
    pub fn dead_letters(&self) -> impl Iterator<Item = Result<DeadLetter, StoreError>> + '_ {
        self.tree.scan_prefix([keys::DEAD_LETTER]).map(|item| {
            let (key, value) = item?;
            let id = <[u8; 8]>::try_from(&key[1..])
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::BadValue {
                    what: "dead letter key",
                    reason: format!("{} bytes", key.len()),
                })?;
            DeadLetter::from_bytes(id, &value)
        })
    }

    /// One dead letter.
    pub fn dead_letter(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        self.tree
            .get(keys::dead_letter(id))?
            .map(|bytes| DeadLetter::from_bytes(id, &bytes))
            .transpose()
    }

    /// Every rule's counts, by rule name.
    pub fn rule_counts(&self) -> Result<Vec<(String, RuleCounts)>, StoreError> {
        let mut all = Vec::new();
        for item in self.tree.scan_prefix([keys::COUNTS]) {
            let (key, value) = item?;
            let counts = serde_json::from_slice(&value).map_err(|e| StoreError::BadValue {
                what: "rule counts",
                reason: e.to_string(),
            })?;
            all.push((String::from_utf8_lossy(&key[1..]).into_owned(), counts));
        }
        Ok(all)
    }

    /// Deletes ledger marks older than `cutoff_ms` (milliseconds since the epoch); returns how many.
    ///
    /// The ledger only has to outlive the replays a resume can cause, which
    /// never reach further back than the oplog window; older marks are waste.
    pub fn gc_ledger(&self, cutoff_ms: i64) -> Result<usize, StoreError> {
        let mut removed = 0;
        let mut batch = sled::Batch::default();
        for item in self.tree.scan_prefix([keys::LEDGER_GROUP]) {
            let (key, value) = item?;
            if let Some((done_at, marks)) = ledger::decode(&value)
                && done_at < cutoff_ms
            {
                removed += marks.count();
                batch.remove(key);
            }
        }
        if removed > 0 {
            self.tree.apply_batch(batch)?;
            self.db.flush()?;
            let shown = self.path.clone().unwrap_or_default();
            self.marks.replace(ledger::load(&self.tree, &shown)?);
        }
        Ok(removed)
    }

    /// An informational record set with [`Commit::set_info`].
    pub fn info(&self, name: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.tree
            .get(keys::info(name))?
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| StoreError::BadValue {
                    what: "info record",
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }
}

/// How long to wait for a store's lock: a store closed by this same process
/// may keep it for a moment while sled's background threads finish.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

fn open_with_lock_retry(path: &Path) -> Result<sled::Db, StoreError> {
    let started = std::time::Instant::now();
    loop {
        let opened = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(None)
            .open();
        match opened {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                if started.elapsed() >= LOCK_WAIT {
                    return Err(StoreError::Locked {
                        path: path.to_path_buf(),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(
                e @ (sled::Error::Corruption { .. }
                | sled::Error::Unsupported(_)
                | sled::Error::ReportableBug(_)),
            ) => {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                });
            }
            Err(other) => return Err(StoreError::Sled(other)),
        }
    }
}

/// A directory may hold a store already (sled's `conf` file), or nothing at all.
fn check_directory(path: &Path) -> Result<(), StoreError> {
    let Ok(entries) = std::fs::read_dir(path) else {
        return Ok(()); // missing: sled creates it; unreadable: sled reports the I/O error
    };
    let names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if names.is_empty() || names.iter().any(|n| n == "conf") {
        return Ok(());
    }
    Err(StoreError::Foreign {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests;
