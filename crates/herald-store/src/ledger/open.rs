//! The ledger on disk at open: reading the newest records into the window,
//! deleting older ones, and converting the ledgers of older store formats.

use super::{Records, Window, decode, encode, fingerprint};
use crate::backend::{Backend, Batch, Fence, KeyRange};
use crate::{StoreError, keys};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;

/// Reads the newest of `records` into a window of `limit` marks and deletes
/// the older ones (one batch, flushed, needing `fence` if given): what a
/// crash or a smaller window left.
///
/// Every record is checked, even those deleted: a damaged record means a
/// damaged store, which is refused rather than silently trimmed.
pub(crate) fn load(
    backend: &dyn Backend,
    path: &Path,
    limit: usize,
    records: &Records,
    fence: Option<Fence>,
) -> Result<Window, StoreError> {
    let mut window = Window::new(limit);
    let mut stale = Batch::default();
    let (mut stale_records, mut stale_marks) = (0usize, 0usize);
    // Newest first: the window keeps the newest marks, and a mark found in
    // two records (possible only after a crash) belongs to the newer.
    for item in backend.scan(records.all(), true) {
        let (key, value) = item?;
        let damaged = || StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("the ledger record {key:?} is unreadable"),
        };
        let id = records.id(&key).ok_or_else(damaged)?;
        let (done_at, marks) = decode(&value).ok_or_else(damaged)?;
        if window.kept() >= limit {
            stale_records += 1;
            stale_marks += marks.count();
            stale.remove(key);
        } else {
            window.record_older(id, done_at, &marks.collect::<Vec<_>>());
        }
    }
    window.finish_loading();
    if stale_records > 0 {
        if let Some(fence) = fence {
            stale.fence(fence);
        }
        backend.apply(stale)?;
        tracing::info!(
            records = stale_records,
            marks = stale_marks,
            window = limit,
            "pruned ledger records older than the ledger window"
        );
    }
    Ok(window)
}

/// What converting a first-format ledger did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Converted {
    /// Marks found.
    pub(crate) found: usize,
    /// Marks written as format-3 records (the newest `limit`).
    pub(crate) kept: usize,
}

/// Adds to `batch` the conversion of a first-format ledger (one key per
/// mark, rule and token in the key) into format-3 records: the newest
/// `limit` marks by commit time, oldest first, 4,096 to a record, so that
/// record ids follow commit times as the window expects.
pub(crate) fn convert_v1(
    backend: &dyn Backend,
    limit: usize,
    batch: &mut Batch,
) -> Result<Converted, StoreError> {
    const PER_RECORD: usize = 4096;
    // A min-heap of (time, mark): the oldest leaves as newer ones arrive, so
    // memory follows the window, not the old ledger's size.
    let mut newest: BinaryHeap<Reverse<(i64, u128)>> = BinaryHeap::new();
    let mut found = 0;
    for item in backend.scan(KeyRange::prefix(&[keys::LEDGER]), false) {
        let (key, value) = item?;
        // A mark whose time is unreadable counts as newest: keeping it is safe.
        let done_at = <[u8; 8]>::try_from(value.as_ref())
            .map(i64::from_be_bytes)
            .unwrap_or(i64::MAX);
        if let Some((rule, token)) = keys::parse_ledger_v1(&key) {
            found += 1;
            newest.push(Reverse((done_at, fingerprint(rule, token))));
            if newest.len() > limit {
                newest.pop();
            }
        }
        batch.remove(key);
    }
    let mut marks: Vec<(i64, u128)> = newest.into_iter().map(|Reverse(m)| m).collect();
    marks.sort_unstable();
    for chunk in marks.chunks(PER_RECORD) {
        let done_at = chunk.last().expect("chunks are not empty").0;
        let fingerprints: Vec<u128> = chunk.iter().map(|&(_, mark)| mark).collect();
        batch.insert(
            keys::ledger_group(backend.generate_id()?),
            encode(done_at, &fingerprints),
        );
    }
    Ok(Converted {
        found,
        kept: marks.len(),
    })
}

/// Adds to `batch` the removal of a format-2 ledger, whose 64-bit
/// fingerprints cannot be widened; returns how many records it had.
pub(crate) fn reset_v2(backend: &dyn Backend, batch: &mut Batch) -> Result<usize, StoreError> {
    let mut records = 0;
    for item in backend.scan(KeyRange::prefix(&[keys::LEDGER_GROUP]), false) {
        batch.remove(item?.0);
        records += 1;
    }
    Ok(records)
}
