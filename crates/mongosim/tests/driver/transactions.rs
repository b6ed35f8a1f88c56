//! Multi-document transactions through the driver's sessions: isolation
//! until commit, atomic commit into the oplog, aborts, write conflicts and
//! their labels, a commit retried; and `$expr` with `$toHashedIndexKey`.

use crate::each_target;
use crate::util::{fail_point, take};
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::{
    Error, ErrorKind, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT,
};

fn code(err: &Error) -> i32 {
    match err.kind.as_ref() {
        ErrorKind::Command(c) => c.code,
        other => panic!("not a command error: {other:?}"),
    }
}

/// 112 WriteConflict, labelled for the driver to run the transaction again.
fn assert_write_conflict(err: &Error) {
    assert_eq!(code(err), 112, "{err}");
    assert!(err.contains_label(TRANSIENT_TRANSACTION_ERROR), "{err}");
}

async fn ids(coll: &mongodb::Collection<Document>) -> Vec<i32> {
    let docs: Vec<Document> = coll
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    docs.iter().map(|d| d.get_i32("_id").unwrap()).collect()
}

#[tokio::test]
async fn a_transaction_is_seen_whole_at_commit_and_its_events_share_its_time() {
    each_target!("txn_commit", |t| {
        let coll = t.coll("docs");
        coll.insert_one(doc! {"_id": 0, "v": 0}).await.unwrap();
        let mut stream = coll.watch().await.unwrap();
        let mut session = t.client.start_session().await.unwrap();
        session.start_transaction().await.unwrap();
        coll.insert_one(doc! {"_id": 1})
            .session(&mut session)
            .await
            .unwrap();
        coll.update_one(doc! {"_id": 0}, doc! {"$set": {"v": 1}})
            .session(&mut session)
            .await
            .unwrap();
        coll.insert_one(doc! {"_id": 2})
            .session(&mut session)
            .await
            .unwrap();
        // The transaction sees its own writes; nobody else does.
        let inside: Vec<Document> = coll
            .find(doc! {})
            .session(&mut session)
            .await
            .unwrap()
            .stream(&mut session)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(inside.len(), 3);
        assert_eq!(ids(&coll).await, [0]);
        assert_eq!(
            coll.find_one(doc! {"_id": 0})
                .await
                .unwrap()
                .unwrap()
                .get_i32("v")
                .unwrap(),
            0
        );
        session.commit_transaction().await.unwrap();
        assert_eq!(ids(&coll).await, [0, 1, 2]);
        assert_eq!(
            coll.find_one(doc! {"_id": 0})
                .await
                .unwrap()
                .unwrap()
                .get_i32("v")
                .unwrap(),
            1
        );
        let events: Vec<Document> = take(&mut stream, 3)
            .await
            .into_iter()
            .map(|e| mongodb::bson::to_document(&e).unwrap())
            .collect();
        let kinds: Vec<&str> = events
            .iter()
            .map(|e| e.get_str("operationType").unwrap())
            .collect();
        assert_eq!(kinds, ["insert", "update", "insert"]);
        let time = events[0].get_timestamp("clusterTime").unwrap();
        for e in &events {
            assert_eq!(
                e.get_timestamp("clusterTime").unwrap(),
                time,
                "one time for the transaction"
            );
            assert_eq!(e.get_document("lsid").unwrap(), session.id());
            assert!(matches!(e.get("txnNumber"), Some(Bson::Int64(_))));
        }
        let tokens: Vec<String> = events
            .iter()
            .map(|e| {
                e.get_document("_id")
                    .unwrap()
                    .get_str("_data")
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert!(
            tokens.windows(2).all(|w| w[0] < w[1]),
            "tokens in order: {tokens:?}"
        );
    });
}

#[tokio::test]
async fn an_aborted_transaction_leaves_nothing() {
    each_target!("txn_abort", |t| {
        let coll = t.coll("docs");
        let mut session = t.client.start_session().await.unwrap();
        session.start_transaction().await.unwrap();
        coll.insert_one(doc! {"_id": 1})
            .session(&mut session)
            .await
            .unwrap();
        session.abort_transaction().await.unwrap();
        assert!(ids(&coll).await.is_empty());
        // The session goes on with a new transaction.
        session.start_transaction().await.unwrap();
        coll.insert_one(doc! {"_id": 2})
            .session(&mut session)
            .await
            .unwrap();
        session.commit_transaction().await.unwrap();
        assert_eq!(ids(&coll).await, [2]);
    });
}

#[tokio::test]
async fn two_transactions_writing_one_document_conflict_and_the_loser_retries() {
    each_target!("txn_conflict", |t| {
        let coll = t.coll("docs");
        coll.insert_one(doc! {"_id": 1, "n": 0}).await.unwrap();
        let mut first = t.client.start_session().await.unwrap();
        let mut second = t.client.start_session().await.unwrap();
        first.start_transaction().await.unwrap();
        second.start_transaction().await.unwrap();
        coll.update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 1}})
            .session(&mut first)
            .await
            .unwrap();
        let err = coll
            .update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 10}})
            .session(&mut second)
            .await
            .unwrap_err();
        assert_write_conflict(&err);
        // The server aborted it; the session ends it on its side too.
        second.abort_transaction().await.unwrap();
        first.commit_transaction().await.unwrap();
        // The driver's retrying API runs the loser again, on the new value.
        let coll2 = coll.clone();
        second
            .start_transaction()
            .and_run2(async move |s| {
                coll2
                    .update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 10}})
                    .session(s)
                    .await?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(
            coll.find_one(doc! {"_id": 1})
                .await
                .unwrap()
                .unwrap()
                .get_i32("n")
                .unwrap(),
            11
        );
    });
}

#[tokio::test]
async fn a_write_outside_since_the_start_makes_the_commit_conflict() {
    each_target!("txn_outside", |t| {
        let coll = t.coll("docs");
        coll.insert_one(doc! {"_id": 1, "n": 0}).await.unwrap();
        let mut session = t.client.start_session().await.unwrap();
        session.start_transaction().await.unwrap();
        coll.insert_one(doc! {"_id": 2})
            .session(&mut session)
            .await
            .unwrap();
        coll.update_one(doc! {"_id": 1}, doc! {"$set": {"n": 5}})
            .await
            .unwrap();
        // The transaction read (and writes) the old version: it cannot win.
        let err = coll
            .update_one(doc! {"_id": 1}, doc! {"$set": {"n": 1}})
            .session(&mut session)
            .await
            .unwrap_err();
        assert_write_conflict(&err);
        assert_eq!(ids(&coll).await, [1], "nothing of the transaction");
    });
}

#[tokio::test]
async fn a_commit_whose_answer_was_lost_is_retried_and_applied_once() {
    let t = crate::util::sim_with(mongosim::DEFAULT_OPLOG_CAPACITY, "txn_retry").await;
    let coll = t.coll("docs");
    let mut stream = coll.watch().await.unwrap();
    t.client
        .database("admin")
        .run_command(fail_point(
            doc! {"times": 1}.into(),
            doc! {"failCommands": ["commitTransaction"], "closeConnection": true},
        ))
        .await
        .unwrap();
    let mut session = t.client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    coll.insert_one(doc! {"_id": 1})
        .session(&mut session)
        .await
        .unwrap();
    // The driver retries a commit once on a network error by itself; the
    // fail point closes only the first connection, so this commit succeeds.
    match session.commit_transaction().await {
        Ok(()) => {}
        Err(err) => {
            assert!(
                err.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT),
                "{err}"
            );
            session.commit_transaction().await.unwrap();
        }
    }
    // Committed again by hand: still once.
    session.commit_transaction().await.unwrap();
    assert_eq!(ids(&coll).await, [1]);
    coll.insert_one(doc! {"_id": 2}).await.unwrap();
    let events = take(&mut stream, 2).await;
    let keys: Vec<Bson> = events
        .iter()
        .map(|e| e.document_key.as_ref().unwrap().get("_id").unwrap().clone())
        .collect();
    assert_eq!(
        keys,
        [Bson::Int32(1), Bson::Int32(2)],
        "one insert of 1, then 2"
    );
}

#[tokio::test]
async fn a_transaction_refuses_commands_it_cannot_run() {
    let t = crate::util::sim_with(mongosim::DEFAULT_OPLOG_CAPACITY, "txn_refuse").await;
    let mut session = t.client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    let err = t
        .db()
        .run_command(doc! {"create": "new"})
        .session(&mut session)
        .await
        .unwrap_err();
    assert_eq!(code(&err), 263, "{err}");
}

#[tokio::test]
async fn to_hashed_index_key_is_the_servers_hash_in_queries_and_streams() {
    each_target!("txn_hashed", |t| {
        let coll = t.coll("docs");
        // The server's own check value: 42 hashes to -944302157085130861.
        coll.insert_one(doc! {"_id": 42}).await.unwrap();
        let found = coll
            .find_one(doc! {"$expr": {"$eq": [{"$toHashedIndexKey": "$_id"}, -944_302_157_085_130_861_i64]}})
            .await
            .unwrap();
        assert_eq!(found.unwrap().get_i32("_id").unwrap(), 42);
        // A stream narrowed to the lower half of the hash space gets the
        // documents whose key hashes there, and only those.
        let half =
            doc! {"$match": {"$expr": {"$lt": [{"$toHashedIndexKey": "$documentKey"}, 0_i64]}}};
        let mut stream = coll.watch().pipeline([half]).await.unwrap();
        let low: Vec<i32> = (0..20)
            .filter(|id| {
                herald_core::hashed::hashed_index_key(&Bson::Document(doc! {"_id": *id})) < 0
            })
            .collect();
        assert!(!low.is_empty() && low.len() < 20);
        for id in 0..20 {
            coll.insert_one(doc! {"_id": id}).await.unwrap();
        }
        let events = take(&mut stream, low.len()).await;
        let got: Vec<i32> = events
            .iter()
            .map(|e| e.document_key.as_ref().unwrap().get_i32("_id").unwrap())
            .collect();
        assert_eq!(got, low);
    });
}
