//! Point-in-time reads: `readConcern: {level: "snapshot", atClusterTime}`
//! on find and aggregate, the history window and its errors, and the
//! collection pipelines a backfill sends.
//!
//! The driver's way in is a snapshot session: `start_session()
//! .snapshot(true).snapshot_time(T)` sends `readConcern: {level:
//! "snapshot", atClusterTime: T}` on each find and aggregate of the
//! session; without `snapshot_time` the first read picks the time, which
//! the driver takes from `cursor.atClusterTime` (`session.snapshot_time()`).

mod errors;
mod pipelines;
mod reads;
mod window;

use futures_util::TryStreamExt;
use mongodb::bson::{Document, Timestamp, doc};
use mongodb::{ClientSession, Collection, Database};

/// The cluster time now, as a backfill takes it: the `operationTime` of a command.
pub async fn now(db: &Database) -> Timestamp {
    db.run_command(doc! {"ping": 1})
        .await
        .unwrap()
        .get_timestamp("operationTime")
        .unwrap()
}

/// A snapshot session reading at `at`.
pub async fn session_at(db: &Database, at: Timestamp) -> ClientSession {
    db.client()
        .start_session()
        .snapshot(true)
        .snapshot_time(at)
        .await
        .unwrap()
}

/// Every document of `coll` at `at`, in `_id` order, in batches of `batch`.
pub async fn find_at(coll: &Collection<Document>, at: Timestamp, batch: u32) -> Vec<Document> {
    let mut session = session_at(&coll.client().database(coll.namespace().db.as_str()), at).await;
    let mut cursor = coll
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .batch_size(batch)
        .session(&mut session)
        .await
        .unwrap();
    cursor.stream(&mut session).try_collect().await.unwrap()
}

/// The server's error code and message of a failed operation.
pub fn code(error: &mongodb::error::Error) -> (i32, String) {
    match error.kind.as_ref() {
        mongodb::error::ErrorKind::Command(e) => (e.code, e.message.clone()),
        other => panic!("expected a command error, got {other:?}"),
    }
}
