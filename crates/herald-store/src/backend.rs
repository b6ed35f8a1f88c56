//! Where a [`Store`](crate::Store) keeps its records: an ordered map of byte
//! keys to byte values, read by key or by key range, changed only in atomic,
//! durable batches.
//!
//! Everything that gives the records their meaning (the ledger window, the
//! timer index, dead-letter numbering, format upgrades) lives in the store,
//! once; a backend only keeps bytes in key order. Two backends exist: sled on
//! the local disk ([`SledBackend`], the embedded default), and a MongoDB
//! database for cluster mode ([`MongoBackend`]).

mod mongodb;
pub(crate) mod sled;

pub use self::mongodb::{LEASES, MongoBackend};
pub use self::sled::SledBackend;

use crate::StoreError;
use std::ops::{Bound, Range, RangeInclusive};

/// One record: its key and value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// One change of a [`Batch`]: a key and its new value (`None`: removed).
pub type Change = (Vec<u8>, Option<Vec<u8>>);

/// Records read in key order, as they are iterated.
pub type Entries<'a> = Box<dyn Iterator<Item = Result<Entry, StoreError>> + 'a>;

/// An ordered key-value map with atomic, durable batches: what the store
/// needs of the place that keeps its records.
///
/// ```
/// use herald_store::backend::{Backend, Batch, KeyRange, SledBackend};
/// let backend = SledBackend::temporary()?;
/// let mut batch = Batch::default();
/// batch.insert(b"a1".to_vec(), b"one".to_vec());
/// batch.insert(b"a2".to_vec(), b"two".to_vec());
/// batch.insert(b"b1".to_vec(), b"other".to_vec());
/// backend.apply(batch)?;
/// let keys: Vec<Vec<u8>> = backend
///     .scan(KeyRange::prefix(b"a"), true)
///     .map(|entry| entry.map(|(key, _)| key))
///     .collect::<Result<_, _>>()?;
/// assert_eq!(keys, [b"a2".to_vec(), b"a1".to_vec()]);
/// assert_eq!(backend.get(b"b1")?, Some(b"other".to_vec()));
/// # Ok::<(), herald_store::StoreError>(())
/// ```
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// The value at `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// The records in `range`, in key order (`reverse`: largest key first).
    fn scan(&self, range: KeyRange, reverse: bool) -> Entries<'_>;

    /// Applies every change of `batch`, in order, all or none, and returns
    /// once they survive a crash. A batch with [fences](Batch::fence) applies
    /// only if every lease is still held ([`StoreError::Fenced`] if not); a
    /// backend without leases refuses it.
    fn apply(&self, batch: Batch) -> Result<(), StoreError>;

    /// A fresh id, larger than every id this backend gave before (since it
    /// was opened, and before that).
    fn generate_id(&self) -> Result<u64, StoreError>;

    /// True if other processes write the same records at the same time
    /// (cluster mode): numbers shared by all of them come from
    /// [`Backend::reserve`], not from records read before a batch.
    fn shared(&self) -> bool {
        false
    }

    /// Takes `n` consecutive numbers from the counter `counter`, shared by
    /// every process using the records, and returns the first; numbers taken
    /// are never given again, even if the batch that used them fails.
    /// Only a [`shared`](Backend::shared) backend has counters.
    fn reserve(&self, counter: &str, n: u64) -> Result<u64, StoreError> {
        let _ = n;
        Err(StoreError::BadValue {
            what: "counter",
            reason: format!("{counter}: this backend keeps no shared counters"),
        })
    }

    /// Bytes the records take where they are kept.
    fn size(&self) -> Result<u64, StoreError>;
}

/// Changes to apply together; a later change to a key overrides an earlier one.
///
/// ```
/// let mut batch = herald_store::backend::Batch::default();
/// batch.insert(b"k".to_vec(), b"v".to_vec());
/// batch.remove(b"k".to_vec());
/// assert_eq!(batch.len(), 2);
/// ```
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    changes: Vec<Change>,
    fences: Vec<Fence>,
}

/// A lease the writer must still hold when a batch applies (cluster mode):
/// the backend checks it in the same transaction, so a writer that lost its
/// lease (paused, cut off, taken over) writes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fence {
    /// The lease's name (the `_id` of its document).
    pub lease: String,
    /// The instance holding it.
    pub owner: String,
    /// The lease's epoch when this holder took it; every take raises it.
    pub epoch: i64,
}

impl Batch {
    /// Writes `value` at `key`.
    pub fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.changes.push((key.into(), Some(value.into())));
    }

    /// Removes the record at `key`, if there is one.
    pub fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.changes.push((key.into(), None));
    }

    /// Makes the batch apply only while `fence`'s lease is held as it says.
    pub fn fence(&mut self, fence: Fence) {
        if !self.fences.contains(&fence) {
            self.fences.push(fence);
        }
    }

    /// The leases the batch needs.
    pub fn fences(&self) -> &[Fence] {
        &self.fences
    }

    /// Number of changes.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// True if the batch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The changes in the order made (key, new value or `None` to remove),
    /// and the fences.
    pub fn into_parts(self) -> (Vec<Change>, Vec<Fence>) {
        (self.changes, self.fences)
    }
}

/// A range of keys.
///
/// ```
/// use herald_store::backend::KeyRange;
/// let range = KeyRange::prefix(b"t");
/// assert!(range.contains(b"t\x00\x01") && !range.contains(b"u"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// The lower bound.
    pub start: Bound<Vec<u8>>,
    /// The upper bound.
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> Self {
        // The smallest key after every key with the prefix: the prefix with
        // its last byte below 0xff raised by one (none if all are 0xff).
        let mut after = prefix.to_vec();
        let end = loop {
            match after.pop() {
                None => break Bound::Unbounded,
                Some(0xff) => continue,
                Some(byte) => {
                    after.push(byte + 1);
                    break Bound::Excluded(after);
                }
            }
        };
        Self {
            start: Bound::Included(prefix.to_vec()),
            end,
        }
    }

    /// True if `key` is in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        std::ops::RangeBounds::<[u8]>::contains(
            &(
                self.start.as_ref().map(Vec::as_slice),
                self.end.as_ref().map(Vec::as_slice),
            ),
            key,
        )
    }
}

impl From<Range<Vec<u8>>> for KeyRange {
    fn from(range: Range<Vec<u8>>) -> Self {
        Self {
            start: Bound::Included(range.start),
            end: Bound::Excluded(range.end),
        }
    }
}

impl From<RangeInclusive<Vec<u8>>> for KeyRange {
    fn from(range: RangeInclusive<Vec<u8>>) -> Self {
        let (start, end) = range.into_inner();
        Self {
            start: Bound::Included(start),
            end: Bound::Included(end),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_holds_exactly_the_keys_with_the_prefix() {
        let range = KeyRange::prefix(b"a\xff");
        assert!(range.contains(b"a\xff") && range.contains(b"a\xff\xff\x00"));
        assert!(!range.contains(b"a\xfe\xff") && !range.contains(b"b"));
        assert_eq!(range.end, Bound::Excluded(b"b".to_vec()));
        assert_eq!(KeyRange::prefix(b"\xff\xff").end, Bound::Unbounded);
        assert_eq!(KeyRange::prefix(b"").end, Bound::Unbounded);
    }
}
