//! The marks in memory: the newest `ledger_window` of them, in a structure
//! whose size follows the window, not the length of the run.
//!
//! New marks go into a hash set, the *hot* set. When the next record would
//! overfill it, the hot set is sealed into a *generation*: its marks grouped
//! by their top bits (see `window/generation.rs`: 17 to 18 bytes a mark, a
//! lookup a cache miss or two), remembering the span of records they came
//! from, and a new hot set starts. A Bloom filter over the generations
//! (`window/filter.rs`, ten bits for each mark it is sized for) rules out
//! most marks that are in none of them with one read, before any
//! generation is looked at. It is sized from the marks the generations hold
//! (and room for two more seals), so it follows the marks too.
//!
//! When the marks kept without the oldest generation are still at least the
//! window, that generation is dropped, and its span of records is handed to
//! the next commit to delete ([`Window::doomed`]). Pruning whole generations
//! keeps the bookkeeping to one span per generation (never one entry per
//! record or per mark) and the disk deletes in a few large steps.
//!
//! Records are never split: a generation holds whole records, so the marks
//! kept are always the newest ones in record order, and a mark's record is
//! deleted only when every mark in it has left memory.

mod filter;
mod generation;

use super::LedgerStats;
use filter::Filter;
use generation::Grouped;
use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// A hasher that passes a fingerprint through: fingerprints are SHA-256
/// bytes, already uniform, so hashing them again would only cost time.
#[derive(Debug, Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, n: u128) {
        // The low half: as uniform as the whole (the table uses a few bits).
        self.0 = n as u64;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u128` keys are hashed here. Any other input is folded in
        // (FNV-1a), so the hasher stays correct if that ever changes.
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The hot set: recent marks, hashed by [`PassThrough`].
type Hot = HashSet<u128, BuildHasherDefault<PassThrough>>;

/// A stretch of records: the first and last record id, and the oldest
/// commit time among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) first: u64,
    pub(crate) last: u64,
    pub(crate) oldest_ms: i64,
}

impl Span {
    /// `span` grown to cover one more record.
    fn including(span: Option<Span>, id: u64, done_at: i64) -> Span {
        match span {
            None => Span {
                first: id,
                last: id,
                oldest_ms: done_at,
            },
            Some(s) => Span {
                first: s.first.min(id),
                last: s.last.max(id),
                oldest_ms: s.oldest_ms.min(done_at),
            },
        }
    }
}

/// Sealed marks and the records they came from.
#[derive(Debug)]
struct Generation {
    marks: Grouped,
    span: Span,
}

/// The newest marks, bounded by the window (see the guarantee in
/// [`crate::ledger`]).
#[derive(Debug)]
pub(crate) struct Window {
    /// The window: the newest this many marks are always kept.
    limit: usize,
    /// The hot set seals before it would hold more than this.
    seal_at: usize,
    hot: Hot,
    /// The records whose marks are in the hot set.
    hot_span: Option<Span>,
    /// Oldest first.
    generations: VecDeque<Generation>,
    /// Holds at least every generation's marks.
    filter: Filter,
    /// Marks in the hot set and the generations.
    kept: usize,
    /// Records of dropped generations, still on disk until a commit deletes them.
    doomed: Vec<Span>,
}

impl Window {
    /// An empty window of `limit` marks (0: no ledger).
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            seal_at: seal_size(limit),
            hot: Hot::default(),
            hot_span: None,
            generations: VecDeque::new(),
            filter: Filter::new(0),
            kept: 0,
            doomed: Vec::new(),
        }
    }

    /// Marks kept.
    pub(crate) fn kept(&self) -> usize {
        self.kept
    }

    /// Whether the mark is kept. Newest first: a replay mostly asks about
    /// recent pairs, and the hot set answers those with one probe; the
    /// filter rules out most marks in no generation.
    pub(crate) fn contains(&self, mark: u128) -> bool {
        self.hot.contains(&mark)
            || (self.filter.may_contain(mark)
                && self
                    .generations
                    .iter()
                    .rev()
                    .any(|g| g.marks.contains(mark)))
    }

    /// The marks of `marks` to record: each once, and none already kept.
    /// Nothing when the ledger is off.
    pub(crate) fn fresh(&self, marks: &[u128]) -> Vec<u128> {
        if self.limit == 0 {
            return Vec::new();
        }
        let mut fresh = marks.to_vec();
        fresh.sort_unstable();
        fresh.dedup();
        fresh.retain(|&m| !self.contains(m));
        fresh
    }

    /// Whether recording `adding` more marks must seal the hot set first.
    /// Sealing before the table would grow keeps it at its seal size.
    pub(crate) fn needs_seal(&self, adding: usize) -> bool {
        !self.hot.is_empty() && self.hot.len() + adding > self.seal_at
    }

    /// The hot set's marks, grouped: a generation to be. Built apart from
    /// [`Self::seal`] so that lookups can go on meanwhile.
    pub(crate) fn grouped_hot(&self) -> Grouped {
        Grouped::new(self.hot.iter().copied(), self.hot.len())
    }

    /// What sealing `grouped` does to the filter: nothing if its marks fit
    /// the filter in use (they are added to it), else the filter to use
    /// instead, built here over the generations kept and `grouped`, sized
    /// for them and two seals more. Built apart from [`Self::seal`], as
    /// [`Self::grouped_hot`] is, so that lookups can go on meanwhile.
    pub(crate) fn filter_for(&self, grouped: &Grouped) -> Option<Filter> {
        if self.filter.has_room(grouped.len()) {
            return None;
        }
        let held: usize = self.generations.iter().map(|g| g.marks.len()).sum();
        let room = self.seal_at.max(grouped.len()).saturating_mul(2);
        let mut filter = Filter::new(held.saturating_add(grouped.len()).saturating_add(room));
        for generation in &self.generations {
            generation.marks.iter().for_each(|m| filter.insert(m));
        }
        grouped.iter().for_each(|m| filter.insert(m));
        Some(filter)
    }

    /// Turns the hot set into the newest generation; `grouped` is
    /// [`Self::grouped_hot`] and `filter` [`Self::filter_for`] it, both
    /// built while the window was not changing.
    pub(crate) fn seal(&mut self, grouped: Grouped, filter: Option<Filter>) {
        if let Some(generation) = self.take_hot(grouped, filter) {
            self.generations.push_back(generation);
        }
    }

    /// Adds the newest record, of marks from [`Self::fresh`], sealing the
    /// hot set into the newest generation first if they would overfill it.
    pub(crate) fn record(&mut self, id: u64, done_at: i64, marks: &[u128]) {
        if self.needs_seal(marks.len()) {
            let grouped = self.grouped_hot();
            let filter = self.filter_for(&grouped);
            self.seal(grouped, filter);
        }
        self.add_to_hot(id, done_at, marks);
    }

    /// Drops the oldest generations while the rest still hold the window,
    /// remembering their records for the next commit to delete.
    pub(crate) fn prune(&mut self) {
        while let Some(oldest) = self.generations.front()
            && self.kept - oldest.marks.len() >= self.limit
        {
            let oldest = self.generations.pop_front().expect("checked");
            self.kept -= oldest.marks.len();
            self.doomed.push(oldest.span);
        }
    }

    /// Records of dropped generations, to delete in the next commit.
    pub(crate) fn doomed(&self) -> &[Span] {
        &self.doomed
    }

    /// The first `deleted` doomed spans are gone from disk.
    pub(crate) fn forget_doomed(&mut self, deleted: usize) {
        self.doomed.drain(..deleted);
    }

    /// Adds a record older than all those added so far (at open, reading
    /// newest first). A mark the window already has belongs to the newer
    /// record, and is skipped here.
    pub(crate) fn record_older(&mut self, id: u64, done_at: i64, marks: &[u128]) {
        let fresh = self.fresh(marks);
        if self.needs_seal(fresh.len()) {
            self.seal_older();
        }
        self.add_to_hot(id, done_at, &fresh);
    }

    /// Ends loading: the hot set holds the oldest records loaded, so it
    /// becomes the oldest generation, and new records start a fresh hot set.
    pub(crate) fn finish_loading(&mut self) {
        self.seal_older();
    }

    /// Sizes for `herald status`.
    pub(crate) fn stats(&self) -> LedgerStats {
        let oldest_ms = self
            .generations
            .iter()
            .map(|g| g.span.oldest_ms)
            .chain(self.hot_span.map(|s| s.oldest_ms))
            .min();
        LedgerStats {
            marks: self.kept,
            window: self.limit,
            oldest_ms,
        }
    }

    fn seal_older(&mut self) {
        let grouped = self.grouped_hot();
        let filter = self.filter_for(&grouped);
        if let Some(generation) = self.take_hot(grouped, filter) {
            self.generations.push_front(generation);
        }
    }

    fn add_to_hot(&mut self, id: u64, done_at: i64, marks: &[u128]) {
        self.hot.extend(marks.iter().copied());
        self.kept += marks.len();
        self.hot_span = Some(Span::including(self.hot_span, id, done_at));
    }

    /// The hot set's span with its marks `grouped`, as a generation, its
    /// marks in the filter (`filter`, which holds them, or the one in use);
    /// a new empty hot set in its place (freed rather than cleared: it
    /// regrows as marks arrive, so a nearly empty one costs little, see
    /// "Memory" in the ledger docs). None if the hot set holds no record.
    fn take_hot(&mut self, grouped: Grouped, filter: Option<Filter>) -> Option<Generation> {
        debug_assert_eq!(grouped.len(), self.hot.len(), "grouped from this hot set");
        let span = self.hot_span.take()?;
        match filter {
            Some(filter) => self.filter = filter,
            None => grouped.iter().for_each(|m| self.filter.insert(m)),
        }
        self.hot = Hot::default();
        Some(Generation {
            marks: grouped,
            span,
        })
    }

    /// Whether the filter holds every generation's marks (it must, always).
    #[cfg(test)]
    pub(crate) fn filter_covers_generations(&self) -> bool {
        self.generations
            .iter()
            .all(|g| g.marks.iter().all(|m| self.filter.may_contain(m)))
    }
}

/// The hot set's seal size for a window: the capacity of the largest hash
/// table no bigger than a quarter of the window. A table has a power of two
/// of buckets and holds at most 7/8 of them (3 and 7 for the two smallest),
/// so asking for exactly a quarter could double the memory; sealing at a
/// table's capacity means the table is full when it seals and never grows.
/// (`seal_sizes_are_table_capacities` checks this against std's tables.)
pub(crate) fn seal_size(limit: usize) -> usize {
    let quarter = (limit / 4).max(1);
    let mut best = quarter.min(3);
    let mut buckets = 8usize;
    while buckets / 8 * 7 <= quarter {
        best = buckets / 8 * 7;
        match buckets.checked_mul(2) {
            Some(more) => buckets = more,
            None => break,
        }
    }
    best
}

#[cfg(test)]
mod tests;
