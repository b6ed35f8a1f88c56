use super::*;
use bson::Bson;

fn timer(rule: &str, name: &str, due_ms: i64, doc: i32) -> Timer {
    Timer {
        rule: rule.into(),
        name: name.into(),
        due_ms,
        set_at_ms: 0,
        payload: Bson::Null,
        ns: "d.c".into(),
        document_key: Some(bson::rawdoc! { "_id": doc }),
        version: 1,
    }
}

fn id(rule: &str, name: &str) -> TimerId {
    (Arc::from(rule), name.to_owned())
}

fn stored(store: &Store, timers: &[Timer]) {
    let mut commit = store.begin();
    for t in timers {
        commit.set_timer(t).unwrap();
    }
    store.commit(commit).unwrap();
}

fn names(timers: Vec<Timer>) -> Vec<String> {
    timers.into_iter().map(|t| t.name).collect()
}

/// Store and pending merge in due order; a fired (or cancelled) one is
/// hidden until its removal is committed, and gone after.
#[test]
fn pending_changes_overlay_the_store_until_committed() {
    let store = Store::temporary().unwrap();
    let a = timer("r", "a", 10, 1);
    let p = timer_partition(&a);
    stored(&store, std::slice::from_ref(&a));
    let book = TimerBook::new(store.clone(), false, [Arc::from("r")], None).unwrap();
    let b = timer("r", "b", 5, 1);
    book.write(1, id("r", "b"), Some(b.clone()));
    // (Each call's timers are the caller's to fire; these look again without
    // firing, so they go from the narrowest look to the widest.)
    assert_eq!(names(book.due(&[p], 100, 1).unwrap()), ["b"], "the limit");
    assert_eq!(names(book.due(&[p], 7, 10).unwrap()), ["b"]);
    assert_eq!(names(book.due(&[p], 100, 10).unwrap()), ["b", "a"]);
    // a fires; b is set again (which lowers the bound): a stays hidden.
    book.write(2, id("r", "a"), None);
    book.write(2, id("r", "b"), Some(b.clone()));
    assert_eq!(names(book.due(&[p], 100, 10).unwrap()), ["b"]);
    // The group commits: a's removal and b's set reach the store, then the
    // book forgets them; the store alone says the same.
    let mut commit = store.begin();
    commit.fire_timer("r", "a", 1);
    commit.set_timer(&b).unwrap();
    store.commit(commit).unwrap();
    book.committed(2);
    assert!(book.pending.lock().unwrap().changes.is_empty());
    let fresh = TimerBook::new(store.clone(), false, [Arc::from("r")], None).unwrap();
    assert_eq!(names(fresh.due(&[p], 100, 10).unwrap()), ["b"]);
}

/// An earlier item's change that arrives late does not undo a later one's.
#[test]
fn a_later_items_change_wins() {
    let store = Store::temporary().unwrap();
    let book = TimerBook::new(store, false, [Arc::from("r")], None).unwrap();
    let a = timer("r", "a", 10, 1);
    let p = timer_partition(&a);
    book.write(5, id("r", "a"), Some(a));
    book.write(3, id("r", "a"), None);
    assert_eq!(names(book.due(&[p], 100, 10).unwrap()), ["a"]);
    book.write(5, id("r", "a"), None);
    assert!(book.due(&[p], 100, 10).unwrap().is_empty());
    book.committed(4);
    assert_eq!(
        book.pending.lock().unwrap().changes.len(),
        1,
        "seq 5 is not committed"
    );
}

/// After a look that found nothing due, the bound moves past it; a timer
/// set later lowers it again, so it is not missed.
#[test]
fn the_bound_never_hides_a_timer_set_after_it() {
    let store = Store::temporary().unwrap();
    let book = TimerBook::new(store, false, [Arc::from("r")], None).unwrap();
    let a = timer("r", "a", 50, 1);
    let p = timer_partition(&a);
    assert!(book.due(&[p], 100, 10).unwrap().is_empty());
    assert_eq!(book.next_due[p].load(Ordering::Relaxed), i64::MAX);
    book.write(1, id("r", "a"), Some(a));
    assert_eq!(book.next_due[p].load(Ordering::Relaxed), 50);
    assert_eq!(names(book.due(&[p], 60, 10).unwrap()), ["a"]);
    // Other partitions see none of it.
    let other = (p + 1) % PARTITIONS;
    assert!(book.due(&[other], 100, 10).unwrap().is_empty());
}

/// Timers of a rule that is not loaded are never due; the latest due time
/// counts the store and what is pending.
#[test]
fn unloaded_rules_wait_and_the_latest_due_time_counts_everything() {
    let store = Store::temporary().unwrap();
    let gone = timer("gone", "g", 1, 1);
    stored(&store, &[gone.clone(), timer("r", "s", 30, 1)]);
    let book = TimerBook::new(store, false, [Arc::from("r")], None).unwrap();
    let p = timer_partition(&gone);
    assert_eq!(names(book.due(&[p], 100, 10).unwrap()), ["s"]);
    assert_eq!(book.latest_due().unwrap(), Some(30));
    book.write(1, id("r", "late"), Some(timer("r", "late", 90, 2)));
    assert_eq!(book.latest_due().unwrap(), Some(90));
}

/// A dry run forgets what it fires of its own, but keeps the store's hidden.
#[test]
fn a_dry_run_forgets_its_own_fired_timers() {
    let store = Store::temporary().unwrap();
    let kept = timer("r", "kept", 5, 1);
    stored(&store, std::slice::from_ref(&kept));
    let book = TimerBook::new(store, true, [Arc::from("r")], None).unwrap();
    let p = timer_partition(&kept);
    book.write(1, id("r", "own"), Some(timer("r", "own", 6, 1)));
    book.write(2, id("r", "own"), None);
    book.write(2, id("r", "kept"), None);
    let pending = book.pending.lock().unwrap();
    assert_eq!(
        pending.changes.len(),
        1,
        "only the store's timer stays hidden"
    );
    assert!(pending.by_due[p].is_empty());
    drop(pending);
    assert!(book.due(&[p], 100, 10).unwrap().is_empty());
}

/// Past the look-ahead, a partition's bound is a lower bound: its timer
/// behind 300 of another partition's is still found when due.
#[test]
fn a_timer_behind_many_of_other_partitions_is_found() {
    let store = Store::temporary().unwrap();
    let crowd = timer("r", "c0", 0, 1);
    let px = timer_partition(&crowd);
    let lone = (2..)
        .map(|doc| timer("r", "lone", 10_000, doc))
        .find(|t| timer_partition(t) != px)
        .unwrap();
    let py = timer_partition(&lone);
    let mut timers: Vec<Timer> = (0..300)
        .map(|i| timer("r", &format!("c{i}"), 100 + i, 1))
        .collect();
    timers.push(lone);
    stored(&store, &timers);
    let book = TimerBook::new(store, false, [Arc::from("r")], None).unwrap();
    assert!(book.next_due[py].load(Ordering::Relaxed) <= 10_000);
    assert!(book.due(&[py], 9_999, 10).unwrap().is_empty());
    assert_eq!(names(book.due(&[py], 10_000, 10).unwrap()), ["lone"]);
    // Both partitions together: earliest first, across them.
    let both = book.due(&[px, py], 20_000, 1_000).unwrap();
    assert_eq!(both.len(), 301);
    assert!(both.windows(2).all(|w| w[0].due_ms <= w[1].due_ms));
}

/// A backlog is handed out in batches while the fired ones still sit in the
/// store (uncommitted): each batch starts where the last ended, timers that
/// share a due time included; after a commit, the store is read from the
/// start again, so a timer set earlier than where the batches had got is found.
#[test]
fn a_backlog_is_read_once_across_uncommitted_batches() {
    let store = Store::temporary().unwrap();
    let first = timer("r", "t0", 100, 1);
    let p = timer_partition(&first);
    let mut timers: Vec<Timer> = (0..10)
        .map(|i| timer("r", &format!("t{i}"), 100, 1))
        .collect();
    timers.extend((0..5).map(|i| timer("r", &format!("u{i}"), 200, 1)));
    stored(&store, &timers);
    let book = TimerBook::new(store.clone(), false, [Arc::from("r")], None).unwrap();
    let mut handed = Vec::new();
    loop {
        let batch = book.due(&[p], 1_000, 4).unwrap();
        if batch.is_empty() {
            break;
        }
        for t in &batch {
            book.write(1, id("r", &t.name), None);
        }
        handed.extend(names(batch));
    }
    let expected: Vec<String> = (0..10)
        .map(|i| format!("t{i}"))
        .chain((0..5).map(|i| format!("u{i}")))
        .collect();
    assert_eq!(handed, expected, "each once, in order");
    // The group commits the fires and a timer set earlier than all of them.
    let early = timer("r", "early", 50, 1);
    book.write(2, id("r", "early"), Some(early.clone()));
    let mut commit = store.begin();
    for t in &timers {
        commit.fire_timer(&t.rule, &t.name, t.version);
    }
    commit.set_timer(&early).unwrap();
    store.commit(commit).unwrap();
    book.committed(2);
    assert_eq!(names(book.due(&[p], 1_000, 4).unwrap()), ["early"]);
}

/// The latest due time counts only timers that can fire: not those of
/// rules that are not loaded, nor stored ones cancelled or fired meanwhile.
#[test]
fn the_latest_due_time_skips_what_cannot_fire() {
    let store = Store::temporary().unwrap();
    stored(
        &store,
        &[
            timer("r", "early", 10, 1),
            timer("r", "late", 500, 1),
            timer("gone", "g", 9_000, 1),
        ],
    );
    let book = TimerBook::new(store, false, [Arc::from("r")], None).unwrap();
    assert_eq!(
        book.latest_due().unwrap(),
        Some(500),
        "the unloaded rule's is left out"
    );
    book.write(1, id("r", "late"), None);
    assert_eq!(
        book.latest_due().unwrap(),
        Some(10),
        "the cancelled one is left out"
    );
    book.write(2, id("r", "later"), Some(timer("r", "later", 700, 2)));
    assert_eq!(book.latest_due().unwrap(), Some(700));
}

/// In cluster mode a book fires only the timers of documents in its
/// partition (by the server's hash of the document key), and timers set for
/// no document only as the first partition.
#[test]
fn a_cluster_partition_fires_only_its_documents_timers() {
    use herald_core::partition::Partition;
    let store = Store::temporary().unwrap();
    let timers: Vec<Timer> = (0..40)
        .map(|doc| timer("r", &format!("t{doc}"), 10, doc))
        .collect();
    let keyless = Timer {
        document_key: None,
        ..timer("r", "keyless", 10, 0)
    };
    stored(&store, &timers);
    stored(&store, std::slice::from_ref(&keyless));
    let all: Vec<usize> = (0..crate::pipeline::partition::PARTITIONS).collect();
    let mut fired = Vec::new();
    for partition in Partition::all(4) {
        let book = TimerBook::new(store.clone(), false, [Arc::from("r")], Some(partition)).unwrap();
        let names = names(book.due(&all, 100, 1_000).unwrap());
        for t in &timers {
            let key = bson::RawBsonRef::Document(t.document_key.as_deref().unwrap());
            let ours = partition.contains(herald_core::hashed::hashed_index_key_raw(key));
            assert_eq!(names.contains(&t.name), ours, "{} in {partition}", t.name);
        }
        assert_eq!(names.contains(&"keyless".to_owned()), partition.index == 0);
        fired.extend(names);
    }
    // Each timer fires in exactly one partition.
    fired.sort();
    let mut expected: Vec<String> = timers.iter().map(|t| t.name.clone()).collect();
    expected.push("keyless".into());
    expected.sort();
    assert_eq!(fired, expected);
}
