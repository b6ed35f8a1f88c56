//! The ledger through the store: the window on disk, reopening, and the
//! conversions of older store formats.

use super::*;
use crate::{LedgerStats, RuleCounts, keys};
use bson::Bson;
use herald_core::Position;

fn window(ledger_window: usize) -> StoreOptions {
    StoreOptions { ledger_window }
}

fn token(n: u32) -> Vec<u8> {
    format!("t{n:04}").into_bytes()
}

/// Commits one group marking these tokens of rule `r`, at time `at`.
fn mark(store: &Store, at: i64, tokens: impl IntoIterator<Item = u32>) {
    let mut commit = store.begin();
    commit.done_at = at;
    for t in tokens {
        commit.mark_done("r", &token(t));
    }
    store.commit(commit).unwrap();
}

/// The tokens in 0..100 whose marks the store holds.
fn done(store: &Store) -> Vec<u32> {
    (0..100)
        .filter(|&t| store.is_done("r", &token(t)).unwrap())
        .collect()
}

/// The ledger records on disk: id and marks.
fn records(store: &Store) -> Vec<(u64, Vec<u128>)> {
    store
        .raw_scan([keys::LEDGER_GROUP])
        .map(|item| {
            let (key, value) = item.unwrap();
            let (_, marks) = ledger::decode(&value).unwrap();
            (keys::parse_ledger_group(&key).unwrap(), marks.collect())
        })
        .collect()
}

fn fingerprints(tokens: impl IntoIterator<Item = u32>) -> Vec<u128> {
    tokens
        .into_iter()
        .map(|t| ledger::fingerprint("r", &token(t)))
        .collect()
}

#[test]
fn the_window_keeps_exactly_the_newest_marks_in_memory_and_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        // Window 8: generations of two one-mark records.
        let store = Store::open_with(dir.path(), &window(8)).unwrap();
        for n in 1..=21 {
            mark(&store, i64::from(n), [n]);
        }
        assert_eq!(done(&store), (13..=21).collect::<Vec<_>>());
        assert_eq!(store.ledger_stats().marks, 9);
        // Records 1-12 left memory; commit 21 deleted the last of them (11, 12).
        let on_disk: Vec<u128> = records(&store).into_iter().flat_map(|r| r.1).collect();
        assert_eq!(on_disk, fingerprints(13..=21));
    }
    let store = Store::open_with(dir.path(), &window(8)).unwrap();
    // Reading newest first, the open keeps 8 marks and deletes record 13.
    assert_eq!(done(&store), (14..=21).collect::<Vec<_>>());
    assert_eq!(
        store.ledger_stats(),
        LedgerStats {
            marks: 8,
            window: 8,
            oldest_ms: Some(14)
        }
    );
    let on_disk: Vec<u128> = records(&store).into_iter().flat_map(|r| r.1).collect();
    assert_eq!(on_disk, fingerprints(14..=21));
}

#[test]
fn the_records_of_a_dropped_generation_go_with_the_next_commit() {
    let store = Store::temporary_with(&window(8)).unwrap();
    for n in 1..=10 {
        mark(&store, 1_000 * i64::from(n), [n]);
    }
    // The generation of records 1 and 2 left memory at commit 10 ...
    assert_eq!(done(&store), (3..=10).collect::<Vec<_>>());
    assert_eq!(store.ledger_stats().oldest_ms, Some(3_000));
    let ids: Vec<u64> = records(&store).into_iter().map(|r| r.0).collect();
    assert_eq!(ids.len(), 10, "... but is still on disk");
    // ... and the next commit, even one without marks, deletes its records.
    let mut commit = store.begin();
    commit.set_state("r", "k", &Bson::Int32(1)).unwrap();
    store.commit(commit).unwrap();
    let left: Vec<u64> = records(&store).into_iter().map(|r| r.0).collect();
    assert_eq!(left, ids[2..]);
}

#[test]
fn a_mark_already_held_is_not_recorded_again() {
    let store = Store::temporary().unwrap();
    mark(&store, 1, [1, 2, 1]);
    mark(&store, 2, [1, 3]);
    mark(&store, 3, [2]); // nothing new: no record, no write
    let mut sorted_1_2 = fingerprints([1, 2]);
    sorted_1_2.sort_unstable();
    let marks: Vec<Vec<u128>> = records(&store).into_iter().map(|r| r.1).collect();
    assert_eq!(marks, [sorted_1_2, fingerprints([3])]);
    assert_eq!(store.ledger_stats().marks, 3);
    assert_eq!(done(&store), [1, 2, 3]);
}

#[test]
fn a_window_of_zero_keeps_nothing_and_deletes_old_records() {
    let store = Store::temporary_with(&window(0)).unwrap();
    mark(&store, 1, [1, 2]);
    assert_eq!(done(&store), Vec::<u32>::new());
    assert!(records(&store).is_empty());
    assert_eq!(
        store.ledger_stats(),
        LedgerStats {
            marks: 0,
            window: 0,
            oldest_ms: None
        }
    );

    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        mark(&store, 1, [1, 2]);
        let mut commit = store.begin();
        commit.set_state("r", "k", &Bson::Int32(7)).unwrap();
        store.commit(commit).unwrap();
    }
    let store = Store::open_with(dir.path(), &window(0)).unwrap();
    assert!(records(&store).is_empty());
    assert_eq!(done(&store), Vec::<u32>::new());
    assert_eq!(store.get_state("r", "k").unwrap(), Some(Bson::Int32(7)));
}

#[test]
fn reopening_with_a_smaller_window_prunes_the_oldest_records() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<u64> = {
        let store = Store::open(dir.path()).unwrap();
        for group in 0..10 {
            mark(&store, i64::from(group), group * 10..group * 10 + 10);
        }
        assert_eq!(done(&store), (0..100).collect::<Vec<_>>());
        records(&store).into_iter().map(|r| r.0).collect()
    };
    // Window 25: whole records, newest first, until 25 marks are kept: 3 records.
    let store = Store::open_with(dir.path(), &window(25)).unwrap();
    assert_eq!(done(&store), (70..100).collect::<Vec<_>>());
    let left: Vec<u64> = records(&store).into_iter().map(|r| r.0).collect();
    assert_eq!(left, ids[7..]);
    assert_eq!(
        store.ledger_stats(),
        LedgerStats {
            marks: 30,
            window: 25,
            oldest_ms: Some(7)
        }
    );
}

/// A format-1 store: one key per mark, valued with its commit time.
fn first_format_store(dir: &Path, marks: u32) {
    let store = Store::open(dir).unwrap();
    for i in 0..marks {
        let token = format!("token-{i:05}");
        store
            .raw_put(
                keys::ledger("rule", token.as_bytes()),
                i64::from(i).to_be_bytes(),
            )
            .unwrap();
    }
    store.raw_put(keys::FORMAT, 1u32.to_be_bytes()).unwrap();
}

#[test]
fn a_first_format_ledger_is_converted_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    first_format_store(dir.path(), 5_000);
    let store = Store::open(dir.path()).unwrap();
    let is_done = |i: u32| {
        store
            .is_done("rule", format!("token-{i:05}").as_bytes())
            .unwrap()
    };
    for i in [0, 4_095, 4_096, 4_999] {
        assert!(is_done(i), "{i}");
    }
    assert!(!is_done(5_000));
    assert!(!store.is_done("other", b"token-00001").unwrap());
    assert_eq!(
        store.raw_scan([keys::LEDGER]).count(),
        0,
        "old keys removed"
    );
    let sizes: Vec<usize> = records(&store).iter().map(|r| r.1.len()).collect();
    assert_eq!(sizes, [4_096, 904], "oldest first, 4,096 marks per record");
    // Each record is dated by its newest mark.
    assert_eq!(store.ledger_stats().oldest_ms, Some(4_095));
    let format = store.raw_get(keys::FORMAT).unwrap().unwrap();
    assert_eq!(format.as_ref(), FORMAT_VERSION.to_be_bytes());

    // With a window of 1,000, only the newest 1,000 marks (by time) are converted.
    let dir = tempfile::tempdir().unwrap();
    first_format_store(dir.path(), 5_000);
    let store = Store::open_with(dir.path(), &window(1_000)).unwrap();
    let is_done = |i: u32| {
        store
            .is_done("rule", format!("token-{i:05}").as_bytes())
            .unwrap()
    };
    assert!(!is_done(3_999));
    assert!(is_done(4_000));
    assert!(is_done(4_999));
    assert_eq!(store.ledger_stats().marks, 1_000);
    assert_eq!(records(&store).len(), 1);
}

#[test]
fn a_second_format_ledger_is_reset_and_everything_else_kept() {
    let dir = tempfile::tempdir().unwrap();
    let position = Position::File {
        offset: 42,
        line: 3,
    };
    {
        let store = Store::open(dir.path()).unwrap();
        let mut commit = store.begin();
        commit.set_state("r", "k", &Bson::Int32(5)).unwrap();
        commit.checkpoint("file:x", &position);
        commit.rule_counts("r", &RuleCounts::default());
        store.commit(commit).unwrap();
        // Format-2 records: commit time, then 64-bit fingerprints. The second
        // (two marks, 24 bytes) would even decode as a format-3 record.
        let mut three = 7i64.to_be_bytes().to_vec();
        three.extend([1u64, 2, 3].iter().flat_map(|m| m.to_le_bytes()));
        let mut two = 8i64.to_be_bytes().to_vec();
        two.extend([4u64, 5].iter().flat_map(|m| m.to_le_bytes()));
        store.raw_put(keys::ledger_group(100), three).unwrap();
        store.raw_put(keys::ledger_group(101), two).unwrap();
        store.raw_put(keys::FORMAT, 2u32.to_be_bytes()).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(records(&store).is_empty());
    assert_eq!(store.ledger_stats().marks, 0);
    let format = store.raw_get(keys::FORMAT).unwrap().unwrap();
    assert_eq!(format.as_ref(), FORMAT_VERSION.to_be_bytes());
    assert_eq!(store.get_state("r", "k").unwrap(), Some(Bson::Int32(5)));
    assert_eq!(store.checkpoint("file:x").unwrap(), Some(position));
    assert_eq!(
        store.rule_counts().unwrap(),
        [("r".to_owned(), RuleCounts::default())]
    );
    // The ledger works again from here.
    mark(&store, 9, [1]);
    assert_eq!(done(&store), [1]);
}

#[test]
fn a_damaged_ledger_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .raw_put(keys::ledger_group(7), &[1, 2, 3][..])
            .unwrap();
    }
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.is_bad_input());
    assert!(err.to_string().contains("ledger record"), "{err}");
}

#[cfg(feature = "fault-injection")]
#[test]
fn injected_failures_fail_every_commit_after_n_and_apply_nothing() {
    let store = Store::temporary().unwrap();
    store.fail_commits_after(2);
    mark(&store, 1, [1]);
    store.commit(store.begin()).unwrap(); // an empty commit does not count
    mark(&store, 2, [2]);
    for attempt in 0..2 {
        let mut commit = store.begin();
        commit.mark_done("r", &token(3));
        commit.set_state("r", "k", &Bson::Int32(1)).unwrap();
        let err = store.commit(commit).unwrap_err();
        assert!(
            matches!(&err, StoreError::Sled(sled::Error::Io(e)) if e.to_string().starts_with("injected store failure")),
            "attempt {attempt}: {err:?}"
        );
        assert!(!err.is_bad_input());
    }
    assert_eq!(done(&store), [1, 2]);
    assert_eq!(store.get_state("r", "k").unwrap(), None);
    assert_eq!(records(&store).len(), 2);
    // A new plan replaces the old one.
    store.fail_commits_after(1);
    mark(&store, 4, [4]);
    assert_eq!(done(&store), [1, 2, 4]);
}
