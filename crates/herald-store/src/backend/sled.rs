//! The embedded backend: one sled tree in a local directory.
//!
//! Opening refuses a directory of other files and a store in use (waiting a
//! moment for a lock this process is letting go), and tells a store whose
//! data file was damaged from one never finished (see [`CREATED`]).

use super::{Backend, Batch, Entries, KeyRange};
use crate::StoreError;
use crate::store::CACHE_BYTES;
use std::path::Path;

/// The records in one sled tree, flushed at each batch.
#[derive(Debug, Clone)]
pub struct SledBackend {
    db: sled::Db,
    tree: sled::Tree,
}

impl SledBackend {
    /// Opens (or creates) the sled database in `dir`; also says whether the
    /// store there was created before (its [`CREATED`] file exists).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let (_, created) = herald_store::backend::SledBackend::open(dir.path())?;
    /// assert!(!created);
    /// # Ok::<(), herald_store::StoreError>(())
    /// ```
    pub fn open(dir: &Path) -> Result<(Self, bool), StoreError> {
        check_directory(dir)?;
        let created = dir.join(CREATED).exists();
        let db = open_with_lock_retry(dir)?;
        Ok((Self::on(db)?, created))
    }

    /// A database that lives only as long as the process.
    pub fn temporary() -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .temporary(true)
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(None)
            .open()?;
        Self::on(db)
    }

    fn on(db: sled::Db) -> Result<Self, StoreError> {
        let tree = db.open_tree("herald")?;
        Ok(Self { db, tree })
    }
}

impl Backend for SledBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree.get(key)?.map(|value| value.to_vec()))
    }

    fn scan(&self, range: KeyRange, reverse: bool) -> Entries<'_> {
        let entries = self
            .tree
            .range::<Vec<u8>, _>((range.start, range.end))
            .map(|item| {
                let (key, value) = item?;
                Ok((key.to_vec(), value.to_vec()))
            });
        if reverse {
            Box::new(entries.rev())
        } else {
            Box::new(entries)
        }
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let (all, fences) = batch.into_parts();
        if let Some(fence) = fences.first() {
            return Err(StoreError::Fenced {
                lease: fence.lease.clone(),
                reason: "the embedded store keeps no leases (they need the MongoDB store)".into(),
            });
        }
        let mut changes = sled::Batch::default();
        for (key, value) in all {
            match value {
                Some(value) => changes.insert(key, value),
                None => changes.remove(key),
            }
        }
        self.tree.apply_batch(changes)?;
        self.db.flush()?;
        Ok(())
    }

    fn generate_id(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }

    fn size(&self) -> Result<u64, StoreError> {
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

/// The file herald writes beside sled's once a new store's format marker is
/// on disk. A store that has it but no marker was damaged (sled opens a
/// truncated or overwritten data file as an empty database); one with
/// neither was stopped while being created, and is created again.
pub(crate) const CREATED: &str = "herald-store";

/// Records that the store at `path` has its format marker on disk ([`CREATED`]).
pub(crate) fn mark_created(path: &Path) -> Result<(), StoreError> {
    let file = path.join(CREATED);
    if file.exists() {
        return Ok(());
    }
    // Durably: written whole under another name, synced, renamed, and the
    // rename synced, so a power loss leaves either no file or this one.
    let io = |e| StoreError::Sled(sled::Error::Io(e));
    let partial = path.join(format!("{CREATED}.partial"));
    let mut out = std::fs::File::create(&partial).map_err(io)?;
    std::io::Write::write_all(
        &mut out,
        b"a herald store: sled's files, with herald's format marker\n",
    )
    .map_err(io)?;
    out.sync_all().map_err(io)?;
    std::fs::rename(&partial, &file).map_err(io)?;
    std::fs::File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(io)?;
    Ok(())
}

/// A directory may hold a store already (sled's `conf` file), the start of
/// one (only `blobs/`), or nothing at all. A file where the directory should
/// be is refused, and so is a directory of other files.
fn check_directory(path: &Path) -> Result<(), StoreError> {
    if path.exists() && !path.is_dir() {
        return Err(StoreError::NotADirectory {
            path: path.to_path_buf(),
        });
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return Ok(()); // missing: sled creates it; unreadable: sled reports the I/O error
    };
    let names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    // A store stopped while being created may hold only what sled writes
    // first (`blobs/`), or herald's marker not yet renamed.
    let partial_creation = names
        .iter()
        .all(|n| n == "blobs" || *n == format!("{CREATED}.partial"));
    if partial_creation || names.iter().any(|n| n == "conf") {
        return Ok(());
    }
    Err(StoreError::Foreign {
        path: path.to_path_buf(),
    })
}
