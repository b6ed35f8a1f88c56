use super::*;
use crate::ledger::Ledger;
use proptest::prelude::*;
use std::collections::{HashSet, VecDeque};

/// Spreads small numbers over u128 like fingerprints (an odd multiplier is
/// a bijection), so the hasher sees uniform marks.
fn spread(n: u64) -> u128 {
    u128::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
}

/// One commit, as [`crate::Store::commit`] drives the ledger; returns the marks recorded.
fn commit(ledger: &Ledger, id: u64, marks: &[u128]) -> Vec<u128> {
    let _one_at_a_time = ledger.lock_commits();
    let pending = ledger.pending(marks);
    let fresh = pending.fresh.clone();
    let record = (!fresh.is_empty()).then_some((id, id as i64));
    ledger.committed(pending, record);
    fresh
}

#[test]
fn seal_sizes_are_table_capacities() {
    assert_eq!(seal_size(500_000), 114_688);
    assert_eq!(seal_size(100), 14);
    assert_eq!(seal_size(12), 3);
    assert_eq!(seal_size(8), 2);
    assert_eq!(seal_size(0), 1);
    // A hot set filled to its seal size is exactly full: std's table did not
    // grow past it (if std changed its table sizes, this says so).
    for limit in [28, 100, 1_000, 500_000] {
        let size = seal_size(limit);
        let mut hot = Hot::default();
        hot.extend((0..size as u64).map(spread));
        assert_eq!(hot.capacity(), size, "window {limit}");
    }
}

#[test]
fn the_window_keeps_exactly_the_newest_marks() {
    // Window 8, seal size 2, one mark per record (ids 1, 2, ...).
    let mut window = Window::new(8);
    for n in 1..=21u64 {
        window.record(n, n as i64 * 10, &[spread(n)]);
        window.prune();
        // Generations of two records; one is dropped once the rest hold 8.
        let kept = if n >= 10 { 8 + (n % 2) } else { n };
        assert_eq!(window.kept(), kept as usize, "after record {n}");
        for m in 1..=21 {
            let expected = m <= n && m > n - kept;
            assert_eq!(window.contains(spread(m)), expected, "{m} after {n}");
        }
    }
    // Dropped: records 1-2, 3-4, ... 11-12, waiting for a commit to delete them.
    let doomed: Vec<(u64, u64, i64)> = window
        .doomed()
        .iter()
        .map(|s| (s.first, s.last, s.oldest_ms))
        .collect();
    assert_eq!(
        doomed,
        [
            (1, 2, 10),
            (3, 4, 30),
            (5, 6, 50),
            (7, 8, 70),
            (9, 10, 90),
            (11, 12, 110)
        ]
    );
    assert_eq!(
        window.stats(),
        LedgerStats {
            marks: 9,
            window: 8,
            oldest_ms: Some(130)
        }
    );
}

#[test]
fn loading_newest_first_keeps_the_newer_copy_of_a_mark() {
    let mut window = Window::new(8);
    window.record_older(9, 90, &[spread(1), spread(2)]);
    window.record_older(8, 80, &[spread(2), spread(3)]);
    window.finish_loading();
    assert_eq!(window.kept(), 3);
    // Record 8's copy of mark 2 was skipped: record 8 holds only mark 3.
    let spans: Vec<(u64, u64, usize)> = window
        .generations
        .iter()
        .map(|g| (g.span.first, g.span.last, g.marks.len()))
        .collect();
    assert_eq!(spans, [(8, 8, 1), (9, 9, 2)]);
    assert!(window.hot.is_empty());
}

#[test]
fn a_window_of_zero_keeps_nothing() {
    let ledger = Ledger::new(Window::new(0));
    assert_eq!(commit(&ledger, 1, &[spread(1), spread(2)]), []);
    assert!(!ledger.contains(spread(1)));
    assert_eq!(ledger.stats().marks, 0);
}

proptest! {
    /// The ledger answers like a model: the recorded marks in order (a
    /// VecDeque), of which the ledger keeps a suffix of the documented length.
    #[test]
    fn the_window_answers_like_a_model(
        limit in 0usize..40,
        commits in prop::collection::vec(prop::collection::vec(0u64..60, 0..12), 0..80),
    ) {
        let ledger = Ledger::new(Window::new(limit));
        let mut recorded: VecDeque<u128> = VecDeque::new();
        let mut largest = 0;
        for (id, marks) in commits.iter().enumerate() {
            let marks: Vec<u128> = marks.iter().map(|&m| spread(m)).collect();
            let kept_before = ledger.stats().marks;
            let kept: HashSet<u128> = recorded.iter().rev().take(kept_before).copied().collect();
            let mut expected: Vec<u128> = marks.iter().copied().filter(|m| !kept.contains(m)).collect();
            expected.sort_unstable();
            expected.dedup();
            if limit == 0 {
                expected.clear();
            }
            let fresh = commit(&ledger, id as u64, &marks);
            prop_assert_eq!(&fresh, &expected);
            largest = largest.max(fresh.len());
            recorded.extend(fresh);

            let k = ledger.stats().marks;
            prop_assert!(k >= limit.min(recorded.len()), "{} kept of window {}", k, limit);
            let slack = seal_size(limit).max(largest);
            prop_assert!(k <= (limit + slack).saturating_sub(1), "{} kept of window {}", k, limit);
            if limit == 0 {
                prop_assert_eq!(k, 0);
            }
            prop_assert!(ledger.read().filter_covers_generations());
            let suffix: HashSet<u128> = recorded.iter().rev().take(k).copied().collect();
            prop_assert_eq!(suffix.len(), k, "every kept mark is in one record");
            for m in 0..60 {
                prop_assert_eq!(ledger.contains(spread(m)), suffix.contains(&spread(m)), "{}", m);
            }
        }
    }
}

proptest! {
    /// Loading (newest records first, as at open) and recording after it
    /// keep the filter over every generation, through its rebuilds, and
    /// every mark loaded is found.
    #[test]
    fn loading_keeps_the_filter_over_every_generation(
        limit in 1usize..40,
        records in prop::collection::vec(prop::collection::vec(0u64..80, 1..10), 1..60),
        later in prop::collection::vec(prop::collection::vec(80u64..160, 1..10), 0..30),
    ) {
        let mut window = Window::new(limit);
        for (id, marks) in records.iter().enumerate().rev() {
            let marks: Vec<u128> = marks.iter().map(|&m| spread(m)).collect();
            window.record_older(id as u64, id as i64, &marks);
            prop_assert!(window.filter_covers_generations());
        }
        window.finish_loading();
        prop_assert!(window.filter_covers_generations());
        for &m in records.iter().flatten() {
            prop_assert!(window.contains(spread(m)), "{} loaded", m);
        }
        for (n, marks) in later.iter().enumerate() {
            let fresh = window.fresh(&marks.iter().map(|&m| spread(m)).collect::<Vec<_>>());
            window.record((records.len() + n) as u64, 0, &fresh);
            window.prune();
            prop_assert!(window.filter_covers_generations());
            // (A mark already kept is not recorded again: it ages from its
            // first record, so only the fresh ones are sure to be kept.)
            for &m in &fresh {
                prop_assert!(window.contains(m), "{} just recorded", m);
            }
        }
    }
}

/// Runs three windows' worth of commits of `per_commit` marks each through a
/// ledger of the default window; returns the most bytes it held after a
/// commit, the marks it kept then, and the peak bytes at any moment.
fn measure_memory(per_commit: u64) -> (isize, usize, isize) {
    const WINDOW: usize = 500_000;
    let base = counting::live();
    counting::reset_peak();
    let ledger = Ledger::new(Window::new(WINDOW));
    let (mut most, mut most_kept) = (0, 0);
    for id in 0..(3 * WINDOW as u64).div_ceil(per_commit) {
        let marks: Vec<u128> = (0..per_commit)
            .map(|i| spread(id * per_commit + i))
            .collect();
        commit(&ledger, id, &marks);
        drop(marks);
        let bytes = counting::live() - base;
        let kept = ledger.stats().marks;
        if bytes > most {
            (most, most_kept) = (bytes, kept);
        }
        assert!(kept >= WINDOW.min((id + 1) as usize * per_commit as usize));
        assert!(kept < WINDOW + 114_688.max(per_commit as usize));
    }
    let peak = counting::peak() - base;
    println!(
        "window {WINDOW}, {per_commit} marks a commit: at most {most} bytes after a commit \
         ({:.2} per window mark, {:.2} per mark kept, {most_kept} kept); peak {peak} bytes",
        most as f64 / WINDOW as f64,
        most as f64 / most_kept as f64,
    );
    (most, most_kept, peak)
}

/// A hash table of `u128` with `buckets` buckets: 17 bytes a bucket, and a
/// group's width of control bytes more (16 with SSE2).
fn table(buckets: isize) -> isize {
    buckets * 17 + 16
}

/// A full generation of the default window: 114,688 marks in 32,768 groups.
const GENERATION: isize = 114_688 * 16 + (32_768 + 1) * 4;

/// The bytes of a filter sized for `marks`: ten bits each, in 64-byte blocks.
fn filter(marks: usize) -> isize {
    ((marks * 10).div_ceil(512) * 64) as isize
}

/// The default window's filter once it is steady: rebuilt at a seal with
/// four generations kept, for them, the new one and two seals of room.
const FILTER_MARKS: usize = 7 * 114_688;

#[test]
fn memory_follows_the_window() {
    let (most, _, peak) = measure_memory(512);
    // Five full generations, a hot set of under 41,248 marks in a table of
    // 65,536 buckets, and the filter.
    let expected_most = 5 * GENERATION + table(65_536) + filter(FILTER_MARKS);
    assert!(
        most >= expected_most && most < expected_most + 4_096,
        "{most} bytes"
    );
    // The peak is a seal that rebuilds the filter: four generations, the
    // full hot set (131,072 buckets), the fifth generation grouped from it,
    // and the filter in use with the one built to replace it; the commit's
    // own vectors (3 x 8 KiB) come on top.
    let expected_peak = 5 * GENERATION + table(131_072) + 2 * filter(FILTER_MARKS);
    assert!(
        peak >= expected_peak && peak < expected_peak + 32 * 1_024,
        "{peak} bytes"
    );
}

/// Commits whose marks do not divide the seal size leave each generation
/// short of it, so more generations hold the window: memory still follows
/// the marks kept (at most 18 bytes each in generations), plus the hot
/// set's table and the filter, and never the number of generations.
#[test]
fn memory_follows_the_marks_whatever_the_commit_size() {
    for per_commit in [9_000u64, 40_960, 60_000] {
        let (most, most_kept, peak) = measure_memory(per_commit);
        let commit_vectors = 3 * 16 * per_commit as isize;
        let room = 3 * 114_688.max(per_commit as usize);
        let filter = filter(most_kept + room);
        let bound = 18 * most_kept as isize + table(131_072) + filter + commit_vectors + 4_096;
        assert!(
            most <= bound,
            "{per_commit} a commit: {most} bytes for {most_kept} marks"
        );
        // A seal holds the hot set and its grouped copy at once, and a
        // rebuild two filters.
        let seal = 114_688 * 18 + 32_768 * 4;
        assert!(
            peak <= bound + seal + filter,
            "{per_commit} a commit: peak {peak} bytes"
        );
    }
}

/// A counting allocator, per thread, so tests running alongside do not
/// disturb the measure of `memory_follows_the_window`.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static LIVE: Cell<isize> = const { Cell::new(0) };
        static PEAK: Cell<isize> = const { Cell::new(0) };
    }

    fn add(bytes: isize) {
        let _ = LIVE.try_with(|live| {
            live.set(live.get() + bytes);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
        });
    }

    /// Live bytes allocated by this thread.
    pub(super) fn live() -> isize {
        LIVE.with(Cell::get)
    }

    /// The most live bytes since [`reset_peak`].
    pub(super) fn peak() -> isize {
        PEAK.with(Cell::get)
    }

    pub(super) fn reset_peak() {
        PEAK.with(|peak| peak.set(live()));
    }

    pub(super) struct Counting;

    // SAFETY: every call is forwarded to the system allocator unchanged.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let ptr = unsafe { System.alloc(layout) };
            if !ptr.is_null() {
                add(layout.size() as isize);
            }
            ptr
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            let ptr = unsafe { System.alloc_zeroed(layout) };
            if !ptr.is_null() {
                add(layout.size() as isize);
            }
            ptr
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) };
            add(-(layout.size() as isize));
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let new = unsafe { System.realloc(ptr, layout, new_size) };
            if !new.is_null() {
                add(new_size as isize - layout.size() as isize);
            }
            new
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;
}
