//! Opening a store: refusing a newer or damaged one, and bringing an older
//! one to the current format (the sled directory's own checks are in
//! `backend/sled.rs`).

use super::FORMAT_VERSION;
use crate::backend::{Backend, Batch};
use crate::{StoreError, keys, ledger};
use std::path::Path;

/// Marks a new store with [`FORMAT_VERSION`], refuses a newer one, and
/// converts an older one. A conversion and the new format marker are one
/// batch, so a crash leaves the store either wholly old or wholly converted.
///
/// A `created` store (see [`CREATED`]) without a marker is refused as
/// damaged, not taken for a new one: its checkpoints would silently start over.
pub(super) fn upgrade_format(
    backend: &dyn Backend,
    shown: &Path,
    window: usize,
    created: bool,
) -> Result<(), StoreError> {
    let Some(bytes) = backend.get(keys::FORMAT)? else {
        if created {
            return Err(StoreError::Corrupt {
                path: shown.to_path_buf(),
                reason: "its format marker is missing (the data file was truncated or overwritten)"
                    .into(),
            });
        }
        let mut batch = Batch::default();
        batch.insert(keys::FORMAT, FORMAT_VERSION.to_be_bytes());
        backend.apply(batch)?;
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
    let mut batch = Batch::default();
    let upgraded = match found {
        0 | 1 => Upgraded::Converted(ledger::convert_v1(backend, window, &mut batch)?),
        2 => Upgraded::Reset(ledger::reset_v2(backend, &mut batch)?),
        _ => Upgraded::Kept,
    };
    batch.insert(keys::FORMAT, FORMAT_VERSION.to_be_bytes());
    backend.apply(batch)?;
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
