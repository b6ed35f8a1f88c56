//! Timers through the store: setting, replacing, cancelling and firing, the
//! order they list in, atomicity with the rest of a commit, reopening, the
//! format upgrade and damaged records.

use super::super::FORMAT_VERSION;
use crate::{Store, StoreError, Timer, TimerStats, keys};
use bson::{Bson, RawDocumentBuf, doc};

fn timer(rule: &str, name: &str, due_ms: i64, version: u64) -> Timer {
    Timer {
        rule: rule.into(),
        name: name.into(),
        due_ms,
        set_at_ms: 1_000,
        payload: Bson::Document(doc! {"remind": name, "n": 3}),
        ns: "shop.orders".into(),
        document_key: Some(RawDocumentBuf::from_document(&doc! {"_id": 42}).unwrap()),
        version,
    }
}

/// Commits the changes `build` makes.
fn commit(store: &Store, build: impl FnOnce(&mut crate::Commit)) {
    let mut commit = store.begin();
    build(&mut commit);
    store.commit(commit).unwrap();
}

fn set(store: &Store, timers: &[Timer]) {
    commit(store, |c| {
        for t in timers {
            c.set_timer(t).unwrap();
        }
    });
}

/// (due, rule, name, version) of the timers listed.
fn listed(
    timers: impl Iterator<Item = Result<Timer, StoreError>>,
) -> Vec<(i64, String, String, u64)> {
    timers
        .map(|t| t.map(|t| (t.due_ms, t.rule, t.name, t.version)))
        .collect::<Result<_, _>>()
        .unwrap()
}

fn row(due: i64, rule: &str, name: &str, version: u64) -> (i64, String, String, u64) {
    (due, rule.into(), name.into(), version)
}

#[test]
fn a_timer_reads_back_by_name_and_in_due_order() {
    let store = Store::temporary().unwrap();
    let remind = timer("r", "remind", 30, 1);
    set(
        &store,
        &[
            remind.clone(),
            timer("r", "expire", 10, 1),
            timer("q", "remind", 20, 7),
        ],
    );
    assert_eq!(store.timer("r", "remind").unwrap(), Some(remind));
    assert_eq!(store.timer("r", "missing").unwrap(), None);
    assert_eq!(store.timer("other", "remind").unwrap(), None);
    // Names are scoped to their rule.
    assert_eq!(store.timer("q", "remind").unwrap().unwrap().version, 7);
    assert_eq!(
        listed(store.timers()),
        [
            row(10, "r", "expire", 1),
            row(20, "q", "remind", 7),
            row(30, "r", "remind", 1)
        ]
    );
}

#[test]
fn setting_a_name_again_moves_the_timer() {
    let store = Store::temporary().unwrap();
    set(
        &store,
        &[timer("r", "n", 50, 1), timer("r", "other", 60, 1)],
    );
    set(&store, &[timer("r", "n", 70, 2)]);
    assert_eq!(
        listed(store.timers()),
        [row(60, "r", "other", 1), row(70, "r", "n", 2)]
    );
    assert_eq!(listed(store.timers_due(69)), [row(60, "r", "other", 1)]);
    // The old record is gone, not just unlisted.
    assert_eq!(store.raw_get(keys::timer_due(50, "r", "n")).unwrap(), None);
    // Set again at the same due time: one record, the new version.
    set(&store, &[timer("r", "n", 70, 3)]);
    assert_eq!(
        listed(store.timers()),
        [row(60, "r", "other", 1), row(70, "r", "n", 3)]
    );
}

#[test]
fn cancelling_removes_the_timer_and_cancelling_none_is_fine() {
    let store = Store::temporary().unwrap();
    set(&store, &[timer("r", "a", 1, 1), timer("r", "b", 2, 1)]);
    commit(&store, |c| c.cancel_timer("r", "a"));
    assert_eq!(store.timer("r", "a").unwrap(), None);
    assert_eq!(listed(store.timers()), [row(2, "r", "b", 1)]);
    commit(&store, |c| {
        c.cancel_timer("r", "a");
        c.cancel_timer("nobody", "b");
    });
    assert_eq!(listed(store.timers()), [row(2, "r", "b", 1)]);
    assert_eq!(store.raw_scan([keys::TIMER]).count(), 1);
}

#[test]
fn a_fire_removes_only_the_setting_that_fired() {
    let store = Store::temporary().unwrap();
    set(&store, &[timer("r", "n", 5, 1)]);
    commit(&store, |c| c.fire_timer("r", "n", 1));
    assert_eq!(store.timer("r", "n").unwrap(), None);
    assert!(listed(store.timers()).is_empty());
    assert_eq!(store.raw_scan([keys::TIMER]).count(), 0);
    // Fired at version 1, but set again (version 2) meanwhile: kept.
    set(&store, &[timer("r", "n", 5, 1)]);
    set(&store, &[timer("r", "n", 9, 2)]);
    commit(&store, |c| c.fire_timer("r", "n", 1));
    assert_eq!(listed(store.timers()), [row(9, "r", "n", 2)]);
    // A fire of a timer that is not there does nothing.
    commit(&store, |c| c.fire_timer("r", "gone", 2));
    assert_eq!(listed(store.timers()), [row(9, "r", "n", 2)]);
}

#[test]
fn the_changes_of_one_commit_apply_in_order() {
    let store = Store::temporary().unwrap();
    commit(&store, |c| {
        c.set_timer(&timer("r", "a", 10, 1)).unwrap();
        c.cancel_timer("r", "a");
        c.set_timer(&timer("r", "a", 20, 2)).unwrap();
        // Set then fired at the version set: gone.
        c.set_timer(&timer("r", "b", 30, 5)).unwrap();
        c.fire_timer("r", "b", 5);
        // Set twice, fired at the first version: the second is kept.
        c.set_timer(&timer("r", "c", 40, 1)).unwrap();
        c.set_timer(&timer("r", "c", 45, 2)).unwrap();
        c.fire_timer("r", "c", 1);
    });
    assert_eq!(
        listed(store.timers()),
        [row(20, "r", "a", 2), row(45, "r", "c", 2)]
    );
    assert_eq!(store.raw_scan([keys::TIMER]).count(), 2);
    // Against what the store held: moved twice in one commit, then removed.
    commit(&store, |c| {
        c.set_timer(&timer("r", "a", 25, 3)).unwrap();
        c.set_timer(&timer("r", "a", 27, 4)).unwrap();
        c.cancel_timer("r", "c");
        c.set_timer(&timer("r", "c", 50, 3)).unwrap();
        c.fire_timer("r", "c", 3);
    });
    assert_eq!(listed(store.timers()), [row(27, "r", "a", 4)]);
    assert_eq!(store.raw_scan([keys::TIMER_DUE]).count(), 1);
}

fn listed_dues(timers: impl Iterator<Item = Result<Timer, StoreError>>) -> Vec<i64> {
    listed(timers).into_iter().map(|t| t.0).collect()
}

#[test]
fn negative_and_positive_due_times_list_in_time_order() {
    let store = Store::temporary().unwrap();
    let dues = [3, -1, i64::MAX, 0, i64::MIN, -300, 1];
    set(
        &store,
        &dues
            .iter()
            .map(|&due| timer("r", &due.to_string(), due, 1))
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        listed_dues(store.timers()),
        [i64::MIN, -300, -1, 0, 1, 3, i64::MAX]
    );
    // Due at the moment asked about counts as due; a millisecond later does not.
    assert_eq!(listed_dues(store.timers_due(0)), [i64::MIN, -300, -1, 0]);
    assert_eq!(listed_dues(store.timers_due(-2)), [i64::MIN, -300]);
    assert_eq!(listed_dues(store.timers_due(2)), [i64::MIN, -300, -1, 0, 1]);
    assert_eq!(listed_dues(store.timers_due(i64::MIN)), [i64::MIN]);
    assert_eq!(listed_dues(store.timers_due(i64::MAX)).len(), 7);
    assert_eq!(listed_dues(store.timers_due(i64::MAX - 1)).len(), 6);
}

#[test]
fn timers_due_at_the_same_time_list_by_rule_then_name() {
    let store = Store::temporary().unwrap();
    set(
        &store,
        &[
            timer("b", "y", 5, 1),
            timer("aa", "x", 5, 1),
            timer("b", "x", 5, 1),
            timer("a", "z", 5, 1),
        ],
    );
    // Rules are length-prefixed in the key: shorter names first, then bytewise.
    assert_eq!(
        listed(store.timers()),
        [
            row(5, "a", "z", 1),
            row(5, "b", "x", 1),
            row(5, "b", "y", 1),
            row(5, "aa", "x", 1)
        ]
    );
}

#[test]
fn timer_stats_count_each_rules_timers_and_the_soonest() {
    let store = Store::temporary().unwrap();
    assert_eq!(store.timer_stats().unwrap(), []);
    set(
        &store,
        &[
            timer("b", "1", 40, 1),
            timer("b", "2", -10, 1),
            timer("b", "3", 5, 1),
            timer("aa", "1", 7, 1),
            timer("a", "1", 100, 1),
        ],
    );
    commit(&store, |c| c.cancel_timer("b", "2"));
    let stats = |rule: &str, pending, next_due_ms| TimerStats {
        rule: rule.into(),
        pending,
        next_due_ms,
    };
    assert_eq!(
        store.timer_stats().unwrap(),
        [stats("a", 1, 100), stats("aa", 1, 7), stats("b", 2, 5)]
    );
}

#[test]
fn a_commit_of_timer_changes_alone_is_written() {
    let store = Store::temporary().unwrap();
    set(&store, &[timer("r", "a", 1, 1)]);
    assert_eq!(listed(store.timers()), [row(1, "r", "a", 1)]);
    // Beside only marks the ledger already holds (which alone write nothing).
    commit(&store, |c| c.mark_done("r", b"t1"));
    commit(&store, |c| {
        c.mark_done("r", b"t1");
        c.cancel_timer("r", "a");
    });
    assert!(listed(store.timers()).is_empty());
}

#[test]
fn timers_are_scoped_and_long_rule_names_refused() {
    let store = Store::temporary().unwrap();
    let long = "r".repeat(keys::MAX_PART + 1);
    let mut c = store.begin();
    let err = c.set_timer(&timer(&long, "n", 1, 1)).unwrap_err();
    assert!(err.to_string().contains("shorten the rule's name"), "{err}");
    assert!(c.is_empty());
    // Cancelling or firing under such a name finds nothing and harms nothing.
    set(&store, &[timer(&"r".repeat(keys::MAX_PART), "n", 1, 1)]);
    commit(&store, |c| {
        c.cancel_timer(&long, "n");
        c.fire_timer(&long, "", 1);
    });
    assert_eq!(store.timers().count(), 1);
    assert_eq!(store.timer(&long, "n").unwrap(), None);
}

#[test]
fn timers_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let kept = timer("r", "kept", -5, 3);
    {
        let store = Store::open(dir.path()).unwrap();
        set(&store, &[kept.clone(), timer("r", "cancelled", 1, 1)]);
        commit(&store, |c| c.cancel_timer("r", "cancelled"));
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.timer("r", "kept").unwrap(), Some(kept.clone()));
    assert_eq!(
        store.timers().collect::<Result<Vec<_>, _>>().unwrap(),
        [kept]
    );
}

#[test]
fn a_third_format_store_is_upgraded_with_its_contents_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        commit(&store, |c| {
            c.mark_done("r", b"t1");
            c.set_state("r", "k", &Bson::Int32(5)).unwrap();
        });
        store.raw_put(keys::FORMAT, 3u32.to_be_bytes()).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let format = store.raw_get(keys::FORMAT).unwrap().unwrap();
    assert_eq!(FORMAT_VERSION, 4);
    assert_eq!(format.as_ref(), 4u32.to_be_bytes());
    assert!(store.is_done("r", b"t1").unwrap());
    assert_eq!(store.get_state("r", "k").unwrap(), Some(Bson::Int32(5)));
    assert!(listed(store.timers()).is_empty());
    set(&store, &[timer("r", "n", 1, 1)]);
    assert_eq!(listed(store.timers()), [row(1, "r", "n", 1)]);
}

#[test]
fn a_damaged_timer_record_is_reported_as_damage_to_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    set(&store, &[timer("r", "good", 1, 1)]);
    store
        .raw_put(keys::timer_due(5, "r", "bad"), &b"\x07garbage"[..])
        .unwrap();
    store
        .raw_put(keys::timer("r", "bad"), &keys::timer_entry(5, 1)[..])
        .unwrap();
    let results: Vec<_> = store.timers().collect();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].as_ref().unwrap().name, "good");
    let err = results[1].as_ref().unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { path, .. } if path == dir.path()),
        "{err}"
    );
    assert!(
        err.to_string().contains("a stored timer cannot be decoded"),
        "{err}"
    );
    assert!(matches!(
        store.timers_due(5).nth(1),
        Some(Err(StoreError::Corrupt { .. }))
    ));
    assert!(matches!(
        store.timer("r", "bad"),
        Err(StoreError::Corrupt { .. })
    ));
    // The index alone is still readable.
    assert_eq!(store.timer_stats().unwrap()[0].pending, 2);
    // A damaged index entry.
    store
        .raw_put(keys::timer("r", "bad"), &[1u8; 3][..])
        .unwrap();
    let err = store.timer_stats().unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("timer index entry"), "{err}");
    let mut c = store.begin();
    c.cancel_timer("r", "bad");
    assert!(matches!(store.commit(c), Err(StoreError::Corrupt { .. })));
}

#[cfg(feature = "fault-injection")]
#[test]
fn a_failed_commit_applies_none_of_its_timer_changes() {
    let store = Store::temporary().unwrap();
    set(&store, &[timer("r", "a", 1, 1), timer("r", "b", 2, 1)]);
    store.fail_one_commit_after(0);
    let mut c = store.begin();
    c.mark_done("r", b"t1");
    c.set_state("r", "k", &Bson::Int32(1)).unwrap();
    c.set_timer(&timer("r", "a", 10, 2)).unwrap();
    c.cancel_timer("r", "b");
    c.set_timer(&timer("r", "c", 3, 1)).unwrap();
    let err = store.commit(c).unwrap_err();
    assert!(err.to_string().contains("injected store failure"), "{err}");
    assert_eq!(
        listed(store.timers()),
        [row(1, "r", "a", 1), row(2, "r", "b", 1)]
    );
    assert!(!store.is_done("r", b"t1").unwrap());
    assert_eq!(store.get_state("r", "k").unwrap(), None);
    // The next commit succeeds, with all of its changes.
    commit(&store, |c| {
        c.mark_done("r", b"t1");
        c.fire_timer("r", "a", 1);
    });
    assert!(store.is_done("r", b"t1").unwrap());
    assert_eq!(listed(store.timers()), [row(2, "r", "b", 1)]);
}
