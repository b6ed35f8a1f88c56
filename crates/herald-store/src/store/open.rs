//! Opening a store's directory: refusing what is not a usable herald store
//! (foreign files, a store in use, a newer or damaged store), and bringing an
//! older store to the current format.

use super::{CACHE_BYTES, FORMAT_VERSION};
use crate::{StoreError, keys, ledger};
use std::path::Path;

/// How long to wait for a store's lock: a store closed by this same process
/// may keep it for a moment while sled's background threads finish.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

pub(super) fn open_with_lock_retry(path: &Path) -> Result<sled::Db, StoreError> {
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
pub(super) const CREATED: &str = "herald-store";

/// Records that the store at `path` has its format marker on disk ([`CREATED`]).
pub(super) fn mark_created(path: &Path) -> Result<(), StoreError> {
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
pub(super) fn check_directory(path: &Path) -> Result<(), StoreError> {
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

/// Marks a new store with [`FORMAT_VERSION`], refuses a newer one, and
/// converts an older one. A conversion and the new format marker are one
/// batch, so a crash leaves the store either wholly old or wholly converted.
///
/// A `created` store (see [`CREATED`]) without a marker is refused as
/// damaged, not taken for a new one: its checkpoints would silently start over.
pub(super) fn upgrade_format(
    db: &sled::Db,
    tree: &sled::Tree,
    shown: &Path,
    window: usize,
    created: bool,
) -> Result<(), StoreError> {
    let Some(bytes) = tree.get(keys::FORMAT)? else {
        if created {
            return Err(StoreError::Corrupt {
                path: shown.to_path_buf(),
                reason: "its format marker is missing (the data file was truncated or overwritten)"
                    .into(),
            });
        }
        tree.insert(keys::FORMAT, &FORMAT_VERSION.to_be_bytes())?;
        db.flush()?;
        return Ok(());
    };
    let found = <[u8; 4]>::try_from(bytes.as_ref())
        .map(u32::from_be_bytes)
        .map_err(|_| StoreError::Corrupt {
            path: shown.to_path_buf(),
            reason: "the format marker is unreadable".into(),
        })?;
    if found > FORMAT_VERSION {
        return Err(StoreError::NewerFormat {
            path: shown.to_path_buf(),
            found,
            supported: FORMAT_VERSION,
        });
    }
    if found == FORMAT_VERSION {
        return Ok(());
    }
    /// What the upgrade did to the ledger, logged once it is on disk.
    enum Upgraded {
        Converted(ledger::Converted),
        Reset(usize),
        /// Format 3: the ledger is as format 4 keeps it, and there are no
        /// timers to convert.
        Kept,
    }
    let mut batch = sled::Batch::default();
    let upgraded = match found {
        0 | 1 => Upgraded::Converted(ledger::convert_v1(db, tree, window, &mut batch)?),
        2 => Upgraded::Reset(ledger::reset_v2(tree, &mut batch)?),
        _ => Upgraded::Kept,
    };
    batch.insert(keys::FORMAT, &FORMAT_VERSION.to_be_bytes());
    tree.apply_batch(batch)?;
    db.flush()?;
    match upgraded {
        Upgraded::Converted(v1) => tracing::info!(
            found = v1.found,
            kept = v1.kept,
            window,
            "converted the dedupe ledger of store format {found} to format {FORMAT_VERSION}"
        ),
        Upgraded::Reset(records) => tracing::warn!(
            records,
            "the dedupe ledger was reset: store format 2 kept 64-bit fingerprints, which cannot be \
             widened to the 128 bits of format 3 and later. Events replayed from before this \
             upgrade (a restart from an earlier position, an event file read again) run their \
             effects again, with the same idempotency keys; checkpoints, rule state and dead \
             letters are kept"
        ),
        Upgraded::Kept => tracing::info!(
            "upgraded store format {found} to format {FORMAT_VERSION} (timers); nothing to convert"
        ),
    }
    Ok(())
}
