//! Each scope of a store (cluster mode: each partition an instance serves)
//! has its own dedupe ledger: its own commit lock, so one scope's commit
//! stuck on the server holds up no other's, and its own records, so a
//! partition's next owner loads exactly that partition's marks.

use bson::doc;
use herald_core::Position;
use herald_store::backend::{Backend, Batch, Entries, Fence, KeyRange, MongoBackend};
use herald_store::{Scope, Store, StoreError, StoreOptions};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod mongo;
use mongo::Mongo;

/// Bounds every wait, so a test that would hang fails instead.
const PATIENCE: Duration = Duration::from_secs(30);

/// The MongoDB backend, reporting each batch that needs the lease `lease`
/// as it starts to apply (the store then holds its scope's commit lock).
#[derive(Debug)]
struct Tap {
    inner: MongoBackend,
    lease: String,
    entered: Mutex<Sender<()>>,
}

impl Backend for Tap {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }

    fn scan(&self, range: KeyRange, reverse: bool) -> Entries<'_> {
        self.inner.scan(range, reverse)
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.fences().iter().any(|f| f.lease == self.lease) {
            let _ = self.entered.lock().unwrap().send(());
        }
        self.inner.apply(batch)
    }

    fn generate_id(&self) -> Result<u64, StoreError> {
        self.inner.generate_id()
    }

    fn shared(&self) -> bool {
        self.inner.shared()
    }

    fn reserve(&self, counter: &str, n: u64) -> Result<u64, StoreError> {
        self.inner.reserve(counter, n)
    }

    fn size(&self) -> Result<u64, StoreError> {
        self.inner.size()
    }
}

/// `store` scoped to partition `name`, fenced by its lease (held by `a`
/// at epoch 1) if `fenced`.
fn partition(store: &Store, name: &str, fenced: bool) -> Store {
    store.scoped(Scope {
        name: name.into(),
        fence: fenced.then(|| Fence {
            lease: name.into(),
            owner: "a".into(),
            epoch: 1,
        }),
    })
}

/// Commits, in `store`'s scope, the mark of `token` for rule `r` and a
/// checkpoint at `offset`.
fn commit(store: &Store, token: &str, offset: u64) -> Result<(), StoreError> {
    let mut commit = store.begin();
    commit.mark_done("r", token.as_bytes());
    commit.checkpoint("mongodb:shop.orders", &Position::File { offset, line: 1 });
    store.commit(commit)
}

/// Runs `work` on a thread of its own; its result arrives on the receiver.
fn spawn<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    rx
}

#[test]
fn a_partitions_commit_stuck_on_the_server_holds_up_no_other_partition() {
    let mongo = Mongo::start("scopes_commit_apart");
    let (entered_tx, entered) = mpsc::channel();
    let tap = Tap {
        inner: MongoBackend::connect(&mongo.uri, &mongo.database).unwrap(),
        lease: "pA".into(),
        entered: Mutex::new(entered_tx),
    };
    let store = Store::on_backend(Arc::new(tap), "test", &StoreOptions::default(), false).unwrap();
    // Both leases held by this instance ("a"); pA's document also written
    // by an open transaction, as one of a killed instance would leave it.
    let (uri, database) = (mongo.uri.clone(), mongo.database.clone());
    let mut held = mongo.runtime.block_on(async move {
        let client = mongodb::Client::with_uri_str(uri).await.unwrap();
        let leases = client
            .database(&database)
            .collection::<bson::Document>("leases");
        for lease in ["pA", "pB"] {
            leases
                .insert_one(doc! {"_id": lease, "owner": "a", "epoch": 1_i64})
                .await
                .unwrap();
        }
        let mut session = client.start_session().await.unwrap();
        session.start_transaction().await.unwrap();
        leases
            .update_one(doc! {"_id": "pA"}, doc! {"$set": {"owner": "killed"}})
            .session(&mut session)
            .await
            .unwrap();
        (client, session)
    });
    let (a, b) = (partition(&store, "pA", true), partition(&store, "pB", true));
    let a_done = spawn(move || commit(&a, "tA", 1));
    entered
        .recv_timeout(PATIENCE)
        .expect("partition pA's commit reaches its transaction");
    // pA's transaction conflicts with the open one, and is retried until
    // that one ends. Meanwhile pB commits.
    let b_done = spawn(move || commit(&b, "tB", 2));
    let b_result = b_done.recv_timeout(PATIENCE);
    let a_while_b = a_done.try_recv();
    // The open transaction ends (as the server's lifetime limit would end a
    // killed instance's): pA's commit goes through.
    mongo
        .runtime
        .block_on(async { held.1.abort_transaction().await })
        .unwrap();
    let a_result = a_done.recv_timeout(PATIENCE);
    assert!(
        matches!(b_result, Ok(Ok(()))),
        "pB's commit waited for pA's: {b_result:?}"
    );
    assert!(
        matches!(a_while_b, Err(TryRecvError::Empty)),
        "pA's commit did not wait for the open transaction: {a_while_b:?}"
    );
    assert!(matches!(a_result, Ok(Ok(()))), "{a_result:?}");
    drop(held);
    // Both committed, each in its own scope.
    let reopened = mongo.open();
    for (name, token, offset) in [("pA", "tA", 1), ("pB", "tB", 2)] {
        let scoped = partition(&reopened, name, false);
        assert_eq!(
            scoped.checkpoint("mongodb:shop.orders").unwrap(),
            Some(Position::File { offset, line: 1 }),
            "{name}"
        );
        assert!(scoped.is_done("r", token.as_bytes()).unwrap(), "{name}");
    }
}

/// Scope pA commits two marks; a store opened afresh on the same records
/// finds them in pA only, neither in pB nor in the store's own ledger.
fn a_partitions_marks_reach_its_next_owner_only(open: impl Fn() -> Store) {
    let store = open();
    let a = partition(&store, "p0/2", false);
    commit(&a, "t1", 1).unwrap();
    commit(&a, "t2", 2).unwrap();
    assert!(a.is_done("r", b"t1").unwrap());
    drop((a, store));
    let fresh = open();
    let a = partition(&fresh, "p0/2", false);
    let b = partition(&fresh, "p1/2", false);
    assert_eq!(a.load_ledger().unwrap().marks, 2);
    assert!(a.is_done("r", b"t1").unwrap() && a.is_done("r", b"t2").unwrap());
    assert!(!a.is_done("r", b"t3").unwrap());
    assert_eq!(b.load_ledger().unwrap().marks, 0);
    assert!(!b.is_done("r", b"t1").unwrap() && !b.is_done("r", b"t2").unwrap());
    assert_eq!(fresh.ledger_stats().marks, 0);
    assert!(!fresh.is_done("r", b"t1").unwrap());
    // B's marks are B's alone, in the same fresh store.
    commit(&b, "t9", 3).unwrap();
    assert!(b.is_done("r", b"t9").unwrap() && !a.is_done("r", b"t9").unwrap());
}

#[test]
fn on_mongodb_a_partitions_marks_reach_its_next_owner_only() {
    let mongo = Mongo::start("scope_marks");
    a_partitions_marks_reach_its_next_owner_only(|| mongo.open());
}

#[test]
fn on_sled_a_scopes_marks_reach_its_next_opener_only() {
    let dir = tempfile::tempdir().unwrap();
    a_partitions_marks_reach_its_next_owner_only(|| Store::open(dir.path()).unwrap());
}

#[test]
fn handles_of_one_scope_share_its_window_and_a_new_fence_loads_it_afresh() {
    let mongo = Mongo::start("scope_handles");
    let store = mongo.open();
    let first = partition(&store, "p0/2", false);
    let again = partition(&store, "p0/2", false);
    assert_eq!(first.load_ledger().unwrap().marks, 0);
    commit(&first, "t1", 1).unwrap();
    // Loaded already, and shared: the mark is there without a reload.
    assert!(again.is_done("r", b"t1").unwrap());
    // Another store (another instance) commits to the scope; a handle with
    // a new fence (the lease taken at a higher epoch) reads the records
    // again, so it sees that commit too.
    let other = mongo.open();
    commit(&partition(&other, "p0/2", false), "t2", 2).unwrap();
    assert!(!first.is_done("r", b"t2").unwrap());
    let taken = store.scoped(Scope {
        name: "p0/2".into(),
        fence: Some(Fence {
            lease: "p0/2".into(),
            owner: "a".into(),
            epoch: 2,
        }),
    });
    assert_eq!(taken.load_ledger().unwrap().marks, 2);
    assert!(taken.is_done("r", b"t1").unwrap() && taken.is_done("r", b"t2").unwrap());
}
