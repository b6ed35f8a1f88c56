//! The history window: `snapshot_history_writes` (mongosim's deterministic
//! knob) and `minSnapshotHistoryWindowInSeconds` (set at run time), and
//! 239 `SnapshotTooOld` beyond them, on the read and on its getMores.

use super::{code, find_at, now, session_at};
use crate::util::Target;
use futures_util::TryStreamExt;
use mongodb::bson::{Document, Timestamp, doc};
use mongosim::MongoSim;

async fn sim_keeping(writes: usize, test: &str) -> Target {
    let sim = MongoSim::builder()
        .snapshot_history_writes(writes)
        .start()
        .await
        .unwrap();
    Target {
        client: mongodb::Client::with_uri_str(sim.uri()).await.unwrap(),
        db: format!("t_{test}"),
        sim: Some(sim),
    }
}

async fn read_error(t: &Target, at: Timestamp) -> (i32, String) {
    let mut session = session_at(&t.db(), at).await;
    let error = t
        .coll("items")
        .find(doc! {})
        .session(&mut session)
        .await
        .expect_err("the read is too old");
    code(&error)
}

fn too_old(at: Timestamp) -> (i32, String) {
    (
        239,
        format!(
            "Read timestamp Timestamp({}, {}) is older than the oldest available timestamp.",
            at.time, at.increment
        ),
    )
}

#[tokio::test]
async fn a_read_fails_once_more_than_n_writes_followed_t() {
    let t = sim_keeping(2, "snapshot_writes_window").await;
    let coll = t.coll("items");
    coll.insert_one(doc! {"_id": 1}).await.unwrap();
    let at = now(&t.db()).await;
    coll.insert_one(doc! {"_id": 2}).await.unwrap();
    coll.update_one(doc! {"_id": 1}, doc! {"$set": {"a": 1}})
        .await
        .unwrap();
    // Two writes after T: still readable.
    assert_eq!(find_at(&coll, at, 101).await, vec![doc! {"_id": 1}]);
    coll.delete_one(doc! {"_id": 2}).await.unwrap();
    assert_eq!(read_error(&t, at).await, too_old(at));
    // The aggregate path fails the same way, as does the command's reply name.
    let error = t
        .db()
        .run_command(doc! {
            "aggregate": "items", "pipeline": [], "cursor": {},
            "readConcern": {"level": "snapshot", "atClusterTime": at},
        })
        .await
        .unwrap_err();
    assert_eq!(code(&error), too_old(at));
    match error.kind.as_ref() {
        mongodb::error::ErrorKind::Command(e) => assert_eq!(e.code_name, "SnapshotTooOld"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_get_more_fails_once_its_time_left_the_window() {
    let t = sim_keeping(3, "snapshot_get_more_window").await;
    let coll = t.coll("items");
    coll.insert_many((1..=4).map(|i| doc! {"_id": i}))
        .await
        .unwrap();
    let at = now(&t.db()).await;
    let mut session = session_at(&t.db(), at).await;
    let mut cursor = coll
        .find(doc! {})
        .batch_size(2)
        .session(&mut session)
        .await
        .unwrap();
    for _ in 0..2 {
        cursor.next(&mut session).await.unwrap().unwrap();
    }
    // Three writes: the next getMore is still inside the window.
    for i in 5..=7 {
        coll.insert_one(doc! {"_id": i}).await.unwrap();
    }
    assert_eq!(
        cursor.next(&mut session).await.unwrap().unwrap(),
        doc! {"_id": 3}
    );
    assert_eq!(
        cursor.next(&mut session).await.unwrap().unwrap(),
        doc! {"_id": 4}
    );
    // A fresh cursor with more to page through; the fourth write pushes T out.
    let mut cursor = coll
        .find(doc! {})
        .batch_size(1)
        .session(&mut session)
        .await
        .unwrap();
    cursor.next(&mut session).await.unwrap().unwrap();
    coll.insert_one(doc! {"_id": 8}).await.unwrap();
    let error = cursor
        .next(&mut session)
        .await
        .unwrap()
        .expect_err("the getMore is too old");
    assert_eq!(code(&error), too_old(at));
}

#[tokio::test]
async fn set_parameter_shrinks_the_seconds_window_at_the_next_write() {
    // A 0 s window keeps nothing before the newest write: deterministic
    // without sleeping (the window's arithmetic is unit-tested in history.rs).
    let t = crate::util::sim_with(mongosim::DEFAULT_OPLOG_CAPACITY, "snapshot_set_parameter").await;
    let coll = t.coll("items");
    let admin = t.client.database("admin");
    coll.insert_one(doc! {"_id": 1}).await.unwrap();
    let at = now(&t.db()).await;
    let reply = admin
        .run_command(doc! {"getParameter": 1, "minSnapshotHistoryWindowInSeconds": 1})
        .await
        .unwrap();
    assert_eq!(reply.get_i32("minSnapshotHistoryWindowInSeconds"), Ok(300));
    let reply = admin
        .run_command(doc! {"setParameter": 1, "minSnapshotHistoryWindowInSeconds": 0})
        .await
        .unwrap();
    assert_eq!(reply.get_i32("was"), Ok(300));
    // Not yet: the oldest timestamp moves with the next write.
    assert_eq!(find_at(&coll, at, 101).await, vec![doc! {"_id": 1}]);
    coll.insert_one(doc! {"_id": 2}).await.unwrap();
    assert_eq!(read_error(&t, at).await, too_old(at));
    // Reads at the newest write still work.
    let latest = now(&t.db()).await;
    assert_eq!(
        find_at(&coll, latest, 101).await,
        vec![doc! {"_id": 1}, doc! {"_id": 2}]
    );
    let reply = admin
        .run_command(doc! {"setParameter": 1, "minSnapshotHistoryWindowInSeconds": 300})
        .await
        .unwrap();
    assert_eq!(reply.get_i32("was"), Ok(0));
    // Outside admin, as on the server.
    let error = t
        .db()
        .run_command(doc! {"setParameter": 1, "minSnapshotHistoryWindowInSeconds": 5})
        .await
        .unwrap_err();
    assert_eq!(
        code(&error),
        (
            13,
            "setParameter may only be run against the admin database.".into()
        )
    );
    let error = admin
        .run_command(doc! {"setParameter": 1, "minSnapshotHistoryWindowInSeconds": -1})
        .await
        .unwrap_err();
    assert_eq!(code(&error).0, 2);
}

#[tokio::test]
async fn history_before_the_server_started_is_too_old() {
    let t = crate::util::sim_with(mongosim::DEFAULT_OPLOG_CAPACITY, "snapshot_before_start").await;
    let at = Timestamp {
        time: 1_000_000,
        increment: 1,
    };
    assert_eq!(read_error(&t, at).await, too_old(at));
    let docs: Vec<Document> = t
        .coll("items")
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(docs.is_empty());
}
