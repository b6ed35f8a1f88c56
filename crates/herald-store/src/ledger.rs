//! The dedupe ledger: which (rule, event) pairs are complete, so that an
//! event delivered again (a stream resumed from an earlier point, an event
//! file replayed) does not repeat its effects.
//!
//! # Marks
//! A mark says "this rule completed the event with this resume token". It is
//! the pair's 128-bit [`fingerprint`]: the first 16 bytes of a SHA-256 over
//! the rule and the token. Each committed group writes one record, `L` + a
//! record id (a big-endian u64 from sled, increasing with commit order),
//! holding the group's commit time and its new marks; a group of 512 events is
//! one insert, not 512. A mark already in the ledger is not written again (a
//! dead letter retried marks its pair a second time), so every mark lives in
//! exactly one record, and deleting an old record never loses a mark that a
//! newer record still needs.
//!
//! # The window
//! Replays reach back only so far (an event file read again overlaps the
//! previous run; a stream restarted from an earlier position goes back a
//! bounded stretch), so the ledger keeps the marks of the newest
//! `ledger_window` completed pairs
//! ([`StoreOptions::ledger_window`](crate::StoreOptions::ledger_window)) and
//! forgets older ones while running, deleting their records in a later
//! commit's batch (no extra flush; if the process stops first, the next open
//! deletes them). Memory therefore follows the window, not the length of the
//! run. Marks are kept and dropped in generations of whole records (see
//! `ledger/window.rs`), so the window is exact at one end and has a bounded
//! slack at the other. With `W` the window and `G` the larger of the seal
//! size (the hot set's capacity, at most `W / 4`: 114,688 for the default
//! window) and the most marks one record holds, after every commit and at
//! open:
//! - the marks kept are the newest `K` recorded, in record order;
//! - `min(W, recorded) <= K <= W + G - 1`: the newest `W` marks are always
//!   found, and a mark with `W + G - 1` newer ones is never found. For groups
//!   smaller than the seal size, `K < 1.25 W` (at most 614,687 marks for the
//!   default window).
//!
//! # Scopes
//! Each [scope](crate::Scope) of a store (in cluster mode, each partition
//! an instance serves) has a ledger of its own: its own window of
//! `ledger_window` marks, its own records (keyed as `ledger/records.rs`
//! explains, so a partition's new owner loads exactly that partition's
//! window), and its own commit lock, so one scope's commit waiting on its
//! backend holds up no other scope. A scope's window is loaded when the
//! scope is first used, and freed with the last handle of that scope. The
//! bound above holds per window: a process keeps at most one window per
//! scope in use (an instance, one per partition it serves) plus the store's
//! own, each of at most `W + G - 1` marks (about 12 MB for the default
//! window; see "Memory").
//!
//! A mark found in the ledger is not refreshed: it ages from when it was first
//! recorded. A window of 0 turns the ledger off: nothing is kept, looked up
//! or written, and existing records are deleted at open.
//!
//! # Memory
//! A generation holds its marks grouped by their top bits: 16 bytes a mark
//! and 1 to 2 more for the table of group starts, whatever its size (see
//! `ledger/window/generation.rs`). A Bloom filter over the generations, at
//! ten bits for each mark it is sized for, rules out most new marks before
//! any generation is read (`ledger/window/filter.rs`); when it is full it
//! is rebuilt, sized for the marks the generations then hold and two seals
//! more, so it follows the marks too. The hot set is a hash table of
//! `u128`: 16 bytes plus one control byte per bucket, at most 7/8 full, so
//! 19.4 bytes per mark when it seals (it seals before it would grow past
//! its seal size), and it is freed at each seal to regrow from nothing. For
//! the default window of 500,000, with commits of 512 marks, the largest
//! steady size is five generations of 114,688 marks in 32,768 groups
//! (9,830,420 bytes), a hot set of under 41,248 marks in a table of 65,536
//! buckets (1,114,128 bytes) and a filter sized for seven generations'
//! marks (1,003,520 bytes): 11,948,068 bytes, 23.9 bytes per window mark,
//! or about 20 bytes per mark kept at that moment (602,000 to 614,000 of
//! them). Commits whose marks do not divide the seal size leave generations
//! short of it, and the window then spans more of them, but memory follows
//! the marks, not the generations: 11.4 to 12.5 MB with commits of 9,000 to
//! 60,000 marks. A seal briefly holds the hot set and its grouped copy, and
//! a rebuild the old filter and the new: 14.1 MB at the peak with commits
//! of 512 marks. The tests `memory_follows_the_window` and
//! `memory_follows_the_marks_whatever_the_commit_size` measure these with a
//! counting allocator.
//!
//! # Collisions
//! Two different pairs share a fingerprint with probability 2^-128. A lookup
//! of a new pair is a false "already done" (a skipped effect) with
//! probability at most `K / 2^128`: with 614,687 marks kept and 10,000
//! lookups a second for a hundred years, the expected number of false hits is
//! about 6e-20 (64-bit fingerprints, kept without bound, expected about one a
//! week at that rate). The effects' idempotency keys (128 bits) rest on the same
//! kind of argument.

mod open;
mod records;
mod window;

pub(crate) use open::{Converted, convert_v1, load, reset_v2};
pub(crate) use records::Records;
pub(crate) use window::Window;

use sha2::{Digest, Sha256};
use std::sync::{Mutex, MutexGuard, RwLock};
use window::Span;

/// The fingerprint of (rule, token): the first 16 bytes of SHA-256 over the
/// rule's length (u64, big-endian), the rule and the token, as a big-endian u128.
///
/// ```
/// let a = herald_store::ledger::fingerprint("approvals", b"token-1");
/// assert_eq!(a, herald_store::ledger::fingerprint("approvals", b"token-1"));
/// assert_ne!(a, herald_store::ledger::fingerprint("approvals", b"token-2"));
/// ```
pub fn fingerprint(rule: &str, token: &[u8]) -> u128 {
    let mut hasher = Sha256::new();
    // The length prefix keeps ("ab", "c") and ("a", "bc") apart.
    hasher.update((rule.len() as u64).to_be_bytes());
    hasher.update(rule.as_bytes());
    hasher.update(token);
    let digest = hasher.finalize();
    u128::from_be_bytes(digest[..16].try_into().expect("a SHA-256 has 32 bytes"))
}

/// How big the ledger is, for `herald status`.
///
/// ```
/// let store = herald_store::Store::temporary()?;
/// let stats = store.ledger_stats();
/// assert_eq!(stats.marks, 0);
/// assert_eq!(stats.window, herald_store::DEFAULT_LEDGER_WINDOW);
/// assert_eq!(stats.oldest_ms, None);
/// # Ok::<(), herald_store::StoreError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerStats {
    /// Marks kept (in memory, and in records on disk).
    pub marks: usize,
    /// The configured window: the newest this many marks are always kept.
    pub window: usize,
    /// The oldest commit time among the kept records, in milliseconds since
    /// the epoch; `None` if no record is kept.
    pub oldest_ms: Option<i64>,
}

/// Bytes of a record before its marks: the commit time.
const RECORD_HEADER: usize = 8;
/// Bytes of one mark in a record.
const MARK_BYTES: usize = 16;

/// One group's record: commit time (i64, big-endian), then the marks
/// (big-endian, so each is the first 16 bytes of its digest).
pub(crate) fn encode(done_at: i64, marks: &[u128]) -> Vec<u8> {
    let mut value = Vec::with_capacity(RECORD_HEADER + MARK_BYTES * marks.len());
    value.extend_from_slice(&done_at.to_be_bytes());
    for mark in marks {
        value.extend_from_slice(&mark.to_be_bytes());
    }
    value
}

/// Reads a record back: its commit time and marks; `None` if it is damaged.
pub(crate) fn decode(value: &[u8]) -> Option<(i64, impl Iterator<Item = u128> + '_)> {
    let (time, marks) = value.split_first_chunk::<RECORD_HEADER>()?;
    if marks.len() % MARK_BYTES != 0 {
        return None;
    }
    let marks = marks
        .chunks_exact(MARK_BYTES)
        .map(|m| u128::from_be_bytes(m.try_into().expect("sixteen bytes")));
    Some((i64::from_be_bytes(*time), marks))
}

/// The ledger in memory, shared by the store's handles.
///
/// Lookups take a read lock; a commit holds `commits` from choosing its new
/// marks until they are in the window, so two commits cannot both record the
/// same mark, and record ids reach the window in the order they were issued.
/// One per scope (see "Scopes"): commits of different scopes do not wait
/// for each other here.
#[derive(Debug)]
pub(crate) struct Ledger {
    window: RwLock<Window>,
    commits: Mutex<()>,
}

/// What a commit writes to the ledger, decided under [`Ledger::lock_commits`].
pub(crate) struct Pending {
    /// The commit's marks not yet in the ledger, each once.
    pub(crate) fresh: Vec<u128>,
    /// Records of dropped generations, to delete in this commit's batch.
    pub(crate) doomed: Vec<Span>,
}

impl Ledger {
    pub(crate) fn new(window: Window) -> Self {
        Self {
            window: RwLock::new(window),
            commits: Mutex::new(()),
        }
    }

    pub(crate) fn contains(&self, mark: u128) -> bool {
        self.read().contains(mark)
    }

    pub(crate) fn stats(&self) -> LedgerStats {
        self.read().stats()
    }

    /// Held by a commit from [`Self::pending`] to [`Self::committed`].
    pub(crate) fn lock_commits(&self) -> MutexGuard<'_, ()> {
        self.commits.lock().expect("ledger commit lock")
    }

    /// What a commit with these marks must write.
    pub(crate) fn pending(&self, marks: &[u128]) -> Pending {
        let window = self.read();
        Pending {
            fresh: window.fresh(marks),
            doomed: window.doomed().to_vec(),
        }
    }

    /// Takes a commit's effects into memory, once its batch is on disk: the
    /// doomed records it deleted, and its record (id, commit time, marks).
    pub(crate) fn committed(&self, pending: Pending, record: Option<(u64, i64)>) {
        // Group a full hot set (and rebuild the filter, when it is full)
        // under the read lock: lookups go on meanwhile,
        // and nothing else changes the window while this commit holds the
        // commit lock.
        let sealed = {
            let window = self.read();
            window.needs_seal(pending.fresh.len()).then(|| {
                let grouped = window.grouped_hot();
                let filter = window.filter_for(&grouped);
                (grouped, filter)
            })
        };
        let mut window = self.window.write().expect("ledger lock");
        window.forget_doomed(pending.doomed.len());
        if let Some((grouped, filter)) = sealed {
            window.seal(grouped, filter);
        }
        if let Some((id, done_at)) = record {
            window.record(id, done_at, &pending.fresh);
        }
        window.prune();
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Window> {
        self.window.read().expect("ledger lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back() {
        let value = encode(1_700_000_000_000, &[1, u128::MAX, 42]);
        assert_eq!(value.len(), 8 + 3 * 16);
        let (at, marks) = decode(&value).unwrap();
        assert_eq!(at, 1_700_000_000_000);
        assert_eq!(marks.collect::<Vec<_>>(), [1, u128::MAX, 42]);
        assert!(decode(&value[..value.len() - 1]).is_none());
        assert!(decode(&value[..4]).is_none());
    }

    #[test]
    fn fingerprints_are_the_first_sixteen_digest_bytes() {
        // Computed independently: the first 16 bytes of
        // sha256(00 00 00 00 00 00 00 09 "approvals" "token-1").
        assert_eq!(
            fingerprint("approvals", b"token-1"),
            0xa0ae_ac66_2f8f_3954_50de_db18_6306_3091
        );
        // An empty rule hashes its zero length: sha256 of eight zero bytes.
        assert_eq!(
            fingerprint("", b""),
            0xaf55_70f5_a181_0b7a_f78c_af4b_c70a_660f
        );
    }

    #[test]
    fn fingerprints_separate_rule_and_token() {
        assert_ne!(fingerprint("ab", b"c"), fingerprint("a", b"bc"));
        assert_ne!(fingerprint("a", b"t"), fingerprint("b", b"t"));
    }
}
