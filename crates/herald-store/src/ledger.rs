//! The dedupe ledger: which (rule, event) pairs are complete.
//!
//! A mark is a 64-bit fingerprint of (rule, resume token): the first eight
//! bytes of a SHA-256 over both. Each committed group writes one record, `L` +
//! a sequence number, holding its commit time and its marks; a group of 512
//! events is one insert, not 512. The marks of the records kept (younger than
//! the ledger TTL) are held in memory, so asking "is this done?" never reads
//! the disk. Memory is about 8 bytes per mark kept (see [`MarkSet`]).
//!
//! Two different pairs share a fingerprint with probability about n / 2^64
//! for n marks kept, far below anything else that can lose an event; the
//! effects' idempotency keys (128 bits) rest on the same kind of argument.

use crate::{StoreError, keys};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::RwLock;

/// The fingerprint of (rule, token).
///
/// ```
/// let a = herald_store::ledger::fingerprint("approvals", b"token-1");
/// assert_eq!(a, herald_store::ledger::fingerprint("approvals", b"token-1"));
/// assert_ne!(a, herald_store::ledger::fingerprint("approvals", b"token-2"));
/// ```
pub fn fingerprint(rule: &str, token: &[u8]) -> u64 {
    let mut hasher = Sha256::new();
    // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
    hasher.update((rule.len() as u64).to_be_bytes());
    hasher.update(rule.as_bytes());
    hasher.update(token);
    let digest = hasher.finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 has 32 bytes"))
}

/// One group's record: commit time, then the fingerprints.
pub(crate) fn encode(done_at: i64, marks: &[u64]) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + 8 * marks.len());
    value.extend_from_slice(&done_at.to_be_bytes());
    for mark in marks {
        value.extend_from_slice(&mark.to_le_bytes());
    }
    value
}

/// Reads a record back: its commit time and fingerprints.
pub(crate) fn decode(value: &[u8]) -> Option<(i64, impl Iterator<Item = u64> + '_)> {
    let (time, marks) = value.split_first_chunk::<8>()?;
    if marks.len() % 8 != 0 {
        return None;
    }
    let marks = marks
        .chunks_exact(8)
        .map(|m| u64::from_le_bytes(m.try_into().expect("eight bytes")));
    Some((i64::from_be_bytes(*time), marks))
}

/// The marks in memory, shared by the store's handles.
#[derive(Debug, Default)]
pub(crate) struct Marks(RwLock<MarkSet>);

impl Marks {
    pub(crate) fn contains(&self, mark: u64) -> bool {
        self.0.read().expect("ledger lock").contains(mark)
    }

    pub(crate) fn extend(&self, marks: impl IntoIterator<Item = u64>) {
        let mut set = self.0.write().expect("ledger lock");
        for mark in marks {
            set.insert(mark);
        }
    }

    pub(crate) fn replace(&self, marks: MarkSet) {
        *self.0.write().expect("ledger lock") = marks;
    }
}

/// Marks added lately are hashed; when there are this many, they are sorted into a run.
const RECENT_MAX: usize = 1 << 16;

/// A set of fingerprints at about 8 bytes each: a small hash set of recent
/// marks, and sorted runs searched by bisection. Runs are merged while the
/// newest is at least half the size of the one before, so there are about
/// log2(n / 65,536) of them (a log-structured merge, as in LSM trees).
#[derive(Debug, Default)]
pub(crate) struct MarkSet {
    recent: HashSet<u64>,
    runs: Vec<Vec<u64>>,
}

impl MarkSet {
    /// A set of `marks` (any order, duplicates allowed).
    pub(crate) fn from_vec(mut marks: Vec<u64>) -> Self {
        marks.sort_unstable();
        marks.dedup();
        let mut set = Self::default();
        if !marks.is_empty() {
            set.runs.push(marks);
        }
        set
    }

    pub(crate) fn contains(&self, mark: u64) -> bool {
        self.recent.contains(&mark) || self.runs.iter().any(|run| in_sorted(run, mark))
    }

    /// Adds a mark (a mark already present may end up in two runs, which is harmless).
    pub(crate) fn insert(&mut self, mark: u64) {
        self.recent.insert(mark);
        if self.recent.len() >= RECENT_MAX {
            let mut run: Vec<u64> = self.recent.drain().collect();
            run.sort_unstable();
            while let Some(last) = self.runs.last()
                && last.len() <= 2 * run.len()
            {
                let last = self.runs.pop().expect("checked");
                run = merge(&last, &run);
            }
            self.runs.push(run);
        }
    }

    #[cfg(test)]
    fn run_count(&self) -> usize {
        self.runs.len()
    }
}

/// Whether a sorted run holds `mark`. Fingerprints are uniform over u64, so
/// the mark's place is guessed from its value and then bracketed by steps
/// that double: a few nearby probes instead of a bisection across the run.
fn in_sorted(run: &[u64], mark: u64) -> bool {
    let Some(last) = run.len().checked_sub(1) else {
        return false;
    };
    let guess = ((u128::from(mark) * run.len() as u128) >> 64) as usize;
    let (mut lo, mut hi) = (guess.min(last), guess.min(last));
    let mut step = 1;
    while lo > 0 && run[lo] > mark {
        hi = lo;
        lo = lo.saturating_sub(step);
        step *= 2;
    }
    while hi < last && run[hi] < mark {
        lo = hi;
        hi = (hi + step).min(last);
        step *= 2;
    }
    run[lo..=hi].binary_search(&mark).is_ok()
}

fn merge(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] <= b[j] {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Reads every record into a set, checking each.
pub(crate) fn load(tree: &sled::Tree, path: &std::path::Path) -> Result<MarkSet, StoreError> {
    let mut marks = Vec::new();
    for item in tree.scan_prefix([keys::LEDGER_GROUP]) {
        let (key, value) = item?;
        let (_, fingerprints) = decode(&value).ok_or_else(|| StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("the ledger record {key:?} is unreadable"),
        })?;
        marks.extend(fingerprints);
    }
    Ok(MarkSet::from_vec(marks))
}

/// Rewrites marks of the first store format (one key per mark) as records.
pub(crate) fn migrate_v1(db: &sled::Db, tree: &sled::Tree) -> Result<usize, StoreError> {
    const PER_RECORD: usize = 4096;
    let mut migrated = 0;
    let mut batch = sled::Batch::default();
    let mut pending: Vec<u64> = Vec::new();
    let mut newest = i64::MIN;
    let flush = |batch: &mut sled::Batch,
                 pending: &mut Vec<u64>,
                 newest: &mut i64|
     -> Result<(), StoreError> {
        if !pending.is_empty() {
            batch.insert(
                keys::ledger_group(db.generate_id()?),
                encode(*newest, pending),
            );
            pending.clear();
            *newest = i64::MIN;
        }
        Ok(())
    };
    for item in tree.scan_prefix([keys::LEDGER]) {
        let (key, value) = item?;
        let done_at = <[u8; 8]>::try_from(value.as_ref())
            .map(i64::from_be_bytes)
            .unwrap_or(i64::MAX);
        if let Some((rule, token)) = keys::parse_ledger_v1(&key) {
            pending.push(fingerprint(rule, token));
            newest = newest.max(done_at);
        }
        batch.remove(key);
        migrated += 1;
        if pending.len() == PER_RECORD {
            flush(&mut batch, &mut pending, &mut newest)?;
        }
    }
    flush(&mut batch, &mut pending, &mut newest)?;
    tree.apply_batch(batch)?;
    Ok(migrated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back() {
        let value = encode(1_700_000_000_000, &[1, u64::MAX, 42]);
        let (at, marks) = decode(&value).unwrap();
        assert_eq!(at, 1_700_000_000_000);
        assert_eq!(marks.collect::<Vec<_>>(), [1, u64::MAX, 42]);
        assert!(decode(&value[..value.len() - 1]).is_none());
        assert!(decode(&value[..4]).is_none());
    }

    proptest::proptest! {
        /// The set answers like a plain hash set, whatever the order of inserts.
        #[test]
        fn mark_sets_hold_exactly_what_was_inserted(
            loaded in proptest::collection::vec(0u64..5_000, 0..300),
            added in proptest::collection::vec(0u64..5_000, 0..300),
        ) {
            let mut set = MarkSet::from_vec(loaded.clone());
            for &m in &added {
                set.insert(m);
            }
            let expected: HashSet<u64> = loaded.iter().chain(&added).copied().collect();
            for m in 0..5_000 {
                proptest::prop_assert_eq!(set.contains(m), expected.contains(&m), "{}", m);
            }
        }
    }

    proptest::proptest! {
        /// The guessed search finds exactly what bisection finds, on any sorted run.
        #[test]
        fn guessed_search_matches_bisection(
            mut run in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..200),
            probes in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..50),
        ) {
            run.sort_unstable();
            for m in probes.iter().copied().chain(run.iter().copied()) {
                proptest::prop_assert_eq!(in_sorted(&run, m), run.binary_search(&m).is_ok());
            }
        }
    }

    #[test]
    fn runs_stay_few_as_marks_pile_up() {
        let mut set = MarkSet::default();
        let n = 20 * RECENT_MAX as u64;
        for m in 0..n {
            set.insert(m.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
        assert!(set.run_count() <= 7, "{} runs", set.run_count());
        assert!(set.contains(7u64.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        assert!(!set.contains(1));
    }

    #[test]
    fn fingerprints_separate_rule_and_token() {
        assert_ne!(fingerprint("ab", b"c"), fingerprint("a", b"bc"));
        assert_ne!(fingerprint("a", b"t"), fingerprint("b", b"t"));
    }
}
