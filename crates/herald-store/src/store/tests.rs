use super::*;
use crate::DeadLetter;
use crate::keys;
use bson::Bson;
use bson::RawDocumentBuf;
use herald_core::Position;

#[test]
fn commits_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let mut c = store.begin();
        c.mark_done("r", b"t1");
        c.set_state("r", "k", &Bson::Int32(5)).unwrap();
        c.checkpoint(
            "file:x",
            &Position::File {
                offset: 42,
                line: 3,
            },
        );
        store.commit(c).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(store.is_done("r", b"t1").unwrap());
    assert!(!store.is_done("r", b"t2").unwrap());
    assert!(!store.is_done("other", b"t1").unwrap());
    assert_eq!(store.get_state("r", "k").unwrap(), Some(Bson::Int32(5)));
    assert_eq!(
        store.checkpoint("file:x").unwrap(),
        Some(Position::File {
            offset: 42,
            line: 3
        })
    );
    assert_eq!(store.checkpoints().unwrap().len(), 1);
}

#[test]
fn state_can_be_deleted() {
    let store = Store::temporary().unwrap();
    let mut c = store.begin();
    c.set_state("r", "k", &Bson::String("v".into())).unwrap();
    store.commit(c).unwrap();
    let mut c = store.begin();
    c.del_state("r", "k");
    store.commit(c).unwrap();
    assert_eq!(store.get_state("r", "k").unwrap(), None);
}

#[test]
fn dead_letters_round_trip_in_order() {
    let store = Store::temporary().unwrap();
    let event = RawDocumentBuf::from_document(
        &bson::doc! {"_id": {"_data": "01"}, "operationType": "insert"},
    )
    .unwrap();
    let mut c = store.begin();
    for n in 0..3 {
        c.dead_letter(&DeadLetter {
            id: store.next_id().unwrap(),
            rule: format!("rule{n}"),
            token: vec![n],
            event: event.clone(),
            error: "boom".into(),
            attempts: 5,
            keys: crate::KeyScheme::EffectsOnly,
            done: vec![crate::DoneEffect {
                number: u32::from(n),
                digest: u64::MAX - 1,
            }],
            first_at: bson::DateTime::from_millis(7),
            at: bson::DateTime::from_millis(7),
        })
        .unwrap();
    }
    store.commit(c).unwrap();
    let letters: Vec<DeadLetter> = store.dead_letters().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        letters.iter().map(|l| l.rule.as_str()).collect::<Vec<_>>(),
        ["rule0", "rule1", "rule2"]
    );
    assert_eq!(letters[2].event, event);
    assert_eq!(letters[1].attempts, 5);
    assert_eq!(
        letters[2].done,
        [crate::DoneEffect {
            number: 2,
            digest: u64::MAX - 1
        }]
    );
    assert_eq!(letters[2].keys, crate::KeyScheme::EffectsOnly);
}

#[test]
fn a_foreign_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Foreign { .. }), "{err}");
    assert!(err.to_string().contains("not a herald store"), "{err}");
}

#[test]
fn a_newer_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .raw_put(keys::FORMAT, (FORMAT_VERSION + 1).to_be_bytes())
            .unwrap();
    }
    let err = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerFormat { found, .. } if found == FORMAT_VERSION + 1),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade herald"), "{err}");
}

#[test]
fn a_damaged_store_is_refused_not_reset() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let mut c = store.begin();
        c.mark_done("r", b"t");
        store.commit(c).unwrap();
    }
    // Overwrite the configuration and the data with garbage.
    std::fs::write(dir.path().join("conf"), b"\xff\xfe garbage").unwrap();
    std::fs::write(dir.path().join("db"), vec![0xA5; 4096]).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("is damaged"), "{err}");
}

#[test]
fn dead_letters_can_be_fetched_and_removed_and_counts_stored() {
    let store = Store::temporary().unwrap();
    let event = RawDocumentBuf::from_document(
        &bson::doc! {"_id": {"_data": "01"}, "operationType": "insert"},
    )
    .unwrap();
    let id = store.next_id().unwrap();
    let mut c = store.begin();
    c.dead_letter(&DeadLetter {
        id,
        rule: "r".into(),
        token: vec![1],
        event,
        error: "e".into(),
        attempts: 1,
        keys: crate::KeyScheme::EffectsOnly,
        done: Vec::new(),
        first_at: bson::DateTime::from_millis(0),
        at: bson::DateTime::from_millis(0),
    })
    .unwrap();
    c.rule_counts(
        "r",
        &crate::RuleCounts {
            matched: 3,
            succeeded: 2,
            failed: 1,
            deduplicated: 0,
        },
    );
    store.commit(c).unwrap();
    assert_eq!(store.dead_letter(id).unwrap().unwrap().rule, "r");
    assert_eq!(
        store.rule_counts().unwrap(),
        vec![(
            "r".to_owned(),
            crate::RuleCounts {
                matched: 3,
                succeeded: 2,
                failed: 1,
                deduplicated: 0
            }
        )]
    );
    let mut c = store.begin();
    c.remove_dead_letter(id);
    store.commit(c).unwrap();
    assert!(store.dead_letter(id).unwrap().is_none());
}

#[test]
fn a_store_in_use_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let _open = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
}

/// Retries `open` while the store's files are still locked by a handle
/// just dropped: sled's flusher thread lets go of them shortly after the
/// last handle, not at once. Gives up after ten seconds.
fn when_unlocked<T, E: std::fmt::Display>(mut open: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match open() {
            Err(e)
                if std::time::Instant::now() < deadline
                    && (e.to_string().contains("could not acquire lock")
                        || e.to_string().contains("in use by another process")) =>
            {
                std::thread::yield_now();
            }
            other => return other,
        }
    }
}

#[test]
fn a_store_whose_data_was_lost_is_refused_but_an_interrupted_creation_is_not() {
    let dir = tempfile::tempdir().unwrap();
    // Stopped while being created: sled's files, no marker yet.
    drop(sled::Config::new().path(dir.path()).open().unwrap());
    drop(when_unlocked(|| Store::open(dir.path())).unwrap());
    assert!(dir.path().join(crate::backend::sled::CREATED).exists());
    // The marker gone, as when the data file is truncated.
    {
        let db = when_unlocked(|| sled::Config::new().path(dir.path()).open()).unwrap();
        db.open_tree("herald")
            .unwrap()
            .remove(keys::FORMAT)
            .unwrap();
        db.flush().unwrap();
    }
    let err = when_unlocked(|| Store::open(dir.path())).unwrap_err();
    assert!(
        err.to_string().contains("format marker is missing"),
        "{err}"
    );
}

fn letter(rule: &str) -> DeadLetter {
    DeadLetter {
        id: 0,
        rule: rule.into(),
        token: vec![1],
        event: RawDocumentBuf::from_document(&bson::doc! {"_id": {"_data": "01"}}).unwrap(),
        error: "boom".into(),
        attempts: 1,
        keys: crate::KeyScheme::EffectsOnly,
        done: Vec::new(),
        first_at: bson::DateTime::from_millis(1),
        at: bson::DateTime::from_millis(1),
    }
}

fn letter_ids(store: &Store) -> Vec<u64> {
    store
        .dead_letters()
        .map(|l| l.map(|l| l.id))
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn dead_letters_are_numbered_in_order_and_no_id_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let mut c = store.begin();
        for rule in ["a", "b", "c"] {
            c.add_dead_letter(&letter(rule)).unwrap();
        }
        store.commit(c).unwrap();
        assert_eq!(letter_ids(&store), [1, 2, 3]);
        // The newest is dropped: its id is not given again.
        let mut c = store.begin();
        c.remove_dead_letter(3);
        store.commit(c).unwrap();
    }
    // Nor after reopening.
    let store = Store::open(dir.path()).unwrap();
    let mut c = store.begin();
    c.add_dead_letter(&letter("d")).unwrap();
    store.commit(c).unwrap();
    assert_eq!(letter_ids(&store), [1, 2, 4]);
    assert_eq!(store.dead_letter(4).unwrap().unwrap().rule, "d");
}

#[test]
fn numbering_follows_letters_written_before_it() {
    // A store of the previous version: letters at ids from `next_id`, no
    // last id recorded.
    let store = Store::temporary().unwrap();
    let mut c = store.begin();
    c.dead_letter(&DeadLetter {
        id: 57,
        ..letter("old")
    })
    .unwrap();
    store.commit(c).unwrap();
    let mut c = store.begin();
    c.add_dead_letter(&letter("new")).unwrap();
    store.commit(c).unwrap();
    assert_eq!(letter_ids(&store), [57, 58]);
    assert_eq!(store.dead_letter(57).unwrap().unwrap().rule, "old");
}

#[cfg(feature = "fault-injection")]
#[test]
fn a_failed_commit_gives_no_id() {
    let store = Store::temporary().unwrap();
    store.fail_one_commit_after(0);
    let mut c = store.begin();
    c.add_dead_letter(&letter("lost")).unwrap();
    assert!(store.commit(c).is_err());
    let mut c = store.begin();
    c.add_dead_letter(&letter("kept")).unwrap();
    store.commit(c).unwrap();
    assert_eq!(letter_ids(&store), [1]);
}
