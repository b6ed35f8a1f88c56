//! Multi-document transactions through the driver's sessions.
//!
//! - `visibility`: snapshot reads, commit and abort, change events at commit.
//! - `conflicts`: write conflicts, retries, writes and unique keys that wait.
//! - `faults`: fail points on commit and inside transactions, expiry.

mod conflicts;
mod faults;
mod visibility;

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use mongodb::error::Error;

/// A new session with a transaction started.
pub async fn begin(t: &crate::util::Target) -> mongodb::ClientSession {
    let mut session = t.client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    session
}

/// The collection's documents by `_id`, outside any transaction.
pub async fn all(coll: &mongodb::Collection<Document>) -> Vec<Document> {
    coll.find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

/// A server error's code (panics on other errors).
pub fn code(e: &Error) -> i32 {
    match *e.kind {
        mongodb::error::ErrorKind::Command(ref c) => c.code,
        mongodb::error::ErrorKind::Write(mongodb::error::WriteFailure::WriteError(ref w)) => w.code,
        ref other => panic!("not a server error: {other:?}"),
    }
}

/// A server error of code `expected` labelled `TransientTransactionError`
/// (the driver runs the transaction again).
pub fn assert_transient(e: &Error, expected: i32) {
    assert_eq!(code(e), expected, "{e}");
    assert!(e.contains_label("TransientTransactionError"), "{e}");
}
