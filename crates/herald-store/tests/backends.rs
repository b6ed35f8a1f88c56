//! The store behaves the same on both backends: sled on the local disk, and a
//! MongoDB database (cluster mode) — mongosim here, or the replica set of
//! `HERALD_TEST_MONGODB_URI` (in a database named for the test).

use bson::{Bson, RawDocumentBuf, doc};
use herald_core::Position;
use herald_store::{DeadLetter, Store, Timer};

mod mongo;
use mongo::Mongo;

fn timer(name: &str, due_ms: i64, version: u64) -> Timer {
    Timer {
        rule: "r".into(),
        name: name.into(),
        due_ms,
        set_at_ms: 0,
        payload: Bson::String(format!("payload of {name}")),
        ns: "shop.orders".into(),
        document_key: Some(RawDocumentBuf::from_document(&doc! {"_id": 7}).unwrap()),
        version,
    }
}

fn letter(error: &str) -> DeadLetter {
    DeadLetter {
        id: 0,
        rule: "r".into(),
        token: vec![1, 2],
        event: RawDocumentBuf::from_document(&doc! {"_id": {"_data": "01"}}).unwrap(),
        error: error.into(),
        attempts: 3,
        keys: Default::default(),
        done: Vec::new(),
        first_at: bson::DateTime::from_millis(1),
        at: bson::DateTime::from_millis(2),
    }
}

/// Writes one of every kind of record, and the changes that replace them.
fn write_everything(store: &Store) {
    let mut commit = store.begin();
    commit.mark_done("r", b"token-1");
    commit.set_state("r", "count", &Bson::Int64(1)).unwrap();
    commit.set_state("r", "gone", &Bson::Boolean(true)).unwrap();
    commit.checkpoint(
        "mongo:shop.orders",
        &Position::File {
            offset: 10,
            line: 1,
        },
    );
    commit.set_timer(&timer("b", 20, 1)).unwrap();
    commit.set_timer(&timer("a", 30, 1)).unwrap();
    commit.add_dead_letter(&letter("first")).unwrap();
    commit.set_info("streams", &serde_json::json!({"opened": 1}));
    store.commit(commit).unwrap();

    let mut commit = store.begin();
    commit.mark_done("r", b"token-2");
    commit.set_state("r", "count", &Bson::Int64(2)).unwrap();
    commit.del_state("r", "gone");
    commit.checkpoint(
        "mongo:shop.orders",
        &Position::File {
            offset: 20,
            line: 2,
        },
    );
    commit.set_timer(&timer("a", 10, 2)).unwrap(); // moved earlier
    commit.add_dead_letter(&letter("second")).unwrap();
    store.commit(commit).unwrap();
}

/// What [`write_everything`] must leave, read back through every reader.
fn check_everything(store: &Store) {
    assert!(store.is_done("r", b"token-1").unwrap());
    assert!(store.is_done("r", b"token-2").unwrap());
    assert!(!store.is_done("r", b"token-3").unwrap());
    assert_eq!(store.get_state("r", "count").unwrap(), Some(Bson::Int64(2)));
    assert_eq!(store.get_state("r", "gone").unwrap(), None);
    assert_eq!(
        store.checkpoint("mongo:shop.orders").unwrap(),
        Some(Position::File {
            offset: 20,
            line: 2
        })
    );
    assert_eq!(store.checkpoints().unwrap().len(), 1);
    let timers: Vec<(String, i64, u64)> = store
        .timers()
        .map(|t| t.map(|t| (t.name, t.due_ms, t.version)))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(timers, [("a".into(), 10, 2), ("b".into(), 20, 1)]);
    assert_eq!(
        store.timer("r", "a").unwrap().unwrap().payload,
        Bson::String("payload of a".into())
    );
    let letters: Vec<(u64, String)> = store
        .dead_letters()
        .map(|l| l.map(|l| (l.id, l.error)))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(letters, [(1, "first".into()), (2, "second".into())]);
    assert_eq!(
        store.info("streams").unwrap(),
        Some(serde_json::json!({"opened": 1}))
    );
}

#[test]
fn sled_keeps_every_kind_of_record() {
    let dir = tempfile::tempdir().unwrap();
    write_everything(&Store::open(dir.path()).unwrap());
    check_everything(&Store::open(dir.path()).unwrap());
}

#[test]
fn mongodb_keeps_every_kind_of_record_as_sled_does() {
    let mongo = Mongo::start("every_kind");
    let store = mongo.open();
    assert!(store.path().is_none());
    write_everything(&store);
    check_everything(&store);
    drop(store);
    // Opened again (another instance, or a restart): the same records,
    // the ledger's marks included.
    check_everything(&mongo.open());
}

#[test]
fn mongodb_scans_page_through_many_records_both_ways() {
    let mongo = Mongo::start("paging");
    let store = mongo.open();
    let mut commit = store.begin();
    for i in 0..2_500 {
        commit.set_timer(&timer(&format!("t{i:04}"), i, 1)).unwrap();
    }
    store.commit(commit).unwrap();
    let names =
        |timers: Vec<Timer>| -> Vec<String> { timers.into_iter().map(|t| t.name).collect() };
    let forward: Vec<Timer> = store.timers().collect::<Result<_, _>>().unwrap();
    let expected: Vec<String> = (0..2_500).map(|i| format!("t{i:04}")).collect();
    assert_eq!(names(forward), expected);
    let backward: Vec<Timer> = store
        .timers_latest_first()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(names(backward), reversed);
    let due: Vec<Timer> = store.timers_due(1_499).collect::<Result<_, _>>().unwrap();
    assert_eq!(due.len(), 1_500);
    let after: Vec<Timer> = store.timers_after(2_000).collect::<Result<_, _>>().unwrap();
    assert_eq!(after.len(), 499);
    assert_eq!(store.timer_stats().unwrap()[0].pending, 2_500);
}

#[test]
fn a_mongodb_commit_that_fails_applies_nothing() {
    let mongo = Mongo::start("failed_commit");
    let store = mongo.open();
    let mut commit = store.begin();
    commit.set_state("r", "k", &Bson::Int32(1)).unwrap();
    store.commit(commit).unwrap();
    // The second write of the next commit fails (not a transient error).
    mongo.admin(doc! {
        "configureFailPoint": "failCommand",
        "mode": {"times": 1},
        "data": {"failCommands": ["insert"], "errorCode": 2},
    });
    let mut commit = store.begin();
    commit.set_state("r", "k", &Bson::Int32(2)).unwrap();
    commit.checkpoint("s", &Position::File { offset: 5, line: 1 });
    commit.mark_done("r", b"t");
    let err = store.commit(commit).unwrap_err();
    assert!(err.to_string().contains("failCommand"), "{err}");
    // Nothing of it: the old state, no checkpoint; reopened, no mark either.
    assert_eq!(store.get_state("r", "k").unwrap(), Some(Bson::Int32(1)));
    assert_eq!(store.checkpoint("s").unwrap(), None);
    drop(store);
    let store = mongo.open();
    assert!(!store.is_done("r", b"t").unwrap());
    assert_eq!(store.get_state("r", "k").unwrap(), Some(Bson::Int32(1)));
}

#[test]
fn a_transient_transaction_error_is_retried_and_applied_once() {
    let mongo = Mongo::start("transient");
    let store = mongo.open();
    mongo.admin(doc! {
        "configureFailPoint": "failCommand",
        "mode": {"times": 1},
        "data": {
            "failCommands": ["insert"],
            "errorCode": 112,
            "errorLabels": ["TransientTransactionError"],
        },
    });
    let mut commit = store.begin();
    commit.add_dead_letter(&letter("once")).unwrap();
    store.commit(commit).unwrap();
    let letters: Vec<DeadLetter> = store.dead_letters().collect::<Result<_, _>>().unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].id, 1);
}

fn fenced(store: &Store, epoch: i64) -> Store {
    store.scoped(herald_store::Scope {
        name: "p1".into(),
        fence: Some(herald_store::backend::Fence {
            lease: "p1".into(),
            owner: "a".into(),
            epoch,
        }),
    })
}

#[test]
fn a_commit_fenced_by_a_lease_taken_over_writes_nothing() {
    let mongo = Mongo::start("fencing");
    let store = mongo.open();
    let (uri, database) = (mongo.uri.clone(), mongo.database.clone());
    let leases = move |update: bson::Document| {
        let (uri, database) = (uri.clone(), database.clone());
        mongo.runtime.block_on(async move {
            let client = mongodb::Client::with_uri_str(uri).await.unwrap();
            let leases = client
                .database(&database)
                .collection::<bson::Document>("leases");
            leases
                .update_one(doc! {"_id": "p1"}, update)
                .upsert(true)
                .await
                .unwrap();
        });
    };
    leases(doc! {"$set": {"owner": "a", "epoch": 1_i64}});
    let mine = fenced(&store, 1);
    let mut commit = mine.begin();
    commit.checkpoint(
        "mongodb:shop.orders",
        &Position::File { offset: 1, line: 1 },
    );
    commit.set_state("r", "k", &Bson::Int32(1)).unwrap();
    mine.commit(commit).unwrap();
    // Another instance takes the lease over: the epoch moves on.
    leases(doc! {"$set": {"owner": "b", "epoch": 2_i64}});
    let mut commit = mine.begin();
    commit.checkpoint(
        "mongodb:shop.orders",
        &Position::File { offset: 2, line: 2 },
    );
    commit.set_state("r", "k", &Bson::Int32(2)).unwrap();
    let err = mine.commit(commit).unwrap_err();
    assert!(
        matches!(err, herald_store::StoreError::Fenced { .. }),
        "{err}"
    );
    assert_eq!(
        mine.checkpoint("mongodb:shop.orders").unwrap(),
        Some(Position::File { offset: 1, line: 1 })
    );
    assert_eq!(store.get_state("r", "k").unwrap(), Some(Bson::Int32(1)));
    // The scope's checkpoint is its own: the unscoped store has none.
    assert_eq!(store.checkpoint("mongodb:shop.orders").unwrap(), None);
}

#[test]
fn the_embedded_store_refuses_a_fenced_commit() {
    let store = Store::temporary().unwrap();
    let mine = fenced(&store, 1);
    let mut commit = mine.begin();
    commit.set_state("r", "k", &Bson::Int32(1)).unwrap();
    let err = mine.commit(commit).unwrap_err();
    assert!(err.to_string().contains("keeps no leases"), "{err}");
    assert_eq!(store.get_state("r", "k").unwrap(), None);
}
