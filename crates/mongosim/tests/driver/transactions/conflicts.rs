//! Write conflicts between transactions, the driver's retries, and writes
//! outside transactions that wait for them.

use super::{all, assert_transient, begin, code};
use crate::each_target;
use mongodb::bson::doc;
use std::time::Duration;

#[tokio::test]
async fn concurrent_transactions_conflict_and_a_retry_succeeds() {
    each_target!("txn_conflict", |t| {
        let coll = t.coll("acc");
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
        assert_transient(&err, 112);
        // The conflict aborted the second transaction.
        let err = coll
            .find_one(doc! {"_id": 1})
            .session(&mut second)
            .await
            .unwrap_err();
        assert_transient(&err, 251);
        second.abort_transaction().await.unwrap();
        first.commit_transaction().await.unwrap();

        // The convenient API retries the whole transaction on the transient
        // error: the first attempt meets a third session's open write, which
        // is committed before the retry.
        let mut third = begin(&t).await;
        coll.update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 100}})
            .session(&mut third)
            .await
            .unwrap();
        let mut attempts = 0;
        let coll2 = coll.clone();
        second
            .start_transaction()
            .and_run2(async |s| {
                attempts += 1;
                let outcome = coll2
                    .update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 1000}})
                    .session(&mut *s)
                    .await;
                if attempts == 1 {
                    let err = outcome.as_ref().unwrap_err();
                    assert!(err.contains_label("TransientTransactionError"), "{err}");
                    third.commit_transaction().await.unwrap();
                }
                outcome.map(|_| ())
            })
            .await
            .unwrap();
        assert_eq!(attempts, 2);
        assert_eq!(all(&coll).await, vec![doc! {"_id": 1, "n": 1101}]);
    });
}

#[tokio::test]
async fn a_write_outside_after_the_snapshot_makes_the_transactions_write_conflict() {
    each_target!("txn_outside", |t| {
        let coll = t.coll("acc");
        coll.insert_one(doc! {"_id": 1, "n": 0}).await.unwrap();
        let mut session = begin(&t).await;
        coll.insert_one(doc! {"_id": 2})
            .session(&mut session)
            .await
            .unwrap();
        // Not held by the transaction: it does not wait.
        coll.update_one(doc! {"_id": 1}, doc! {"$set": {"n": 5}})
            .await
            .unwrap();
        // The transaction's snapshot has the old version: it cannot win.
        let err = coll
            .update_one(doc! {"_id": 1}, doc! {"$set": {"n": 1}})
            .session(&mut session)
            .await
            .unwrap_err();
        assert_transient(&err, 112);
        assert_eq!(
            all(&coll).await,
            vec![doc! {"_id": 1, "n": 5}],
            "nothing of the transaction"
        );
    });
}

#[tokio::test]
async fn a_write_outside_a_transaction_waits_for_it() {
    each_target!("txn_wait", |t| {
        let coll = t.coll("acc");
        coll.insert_one(doc! {"_id": 1, "n": 0}).await.unwrap();
        let mut session = begin(&t).await;
        coll.update_one(doc! {"_id": 1}, doc! {"$set": {"n": 5}})
            .session(&mut session)
            .await
            .unwrap();
        let outside = coll.clone();
        let mut write = tokio::spawn(async move {
            outside
                .update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 1}})
                .await
                .unwrap()
                .modified_count
        });
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut write)
                .await
                .is_err(),
            "the write waits while the transaction is open"
        );
        // Reads do not wait: they see the last committed version.
        assert_eq!(all(&coll).await, vec![doc! {"_id": 1, "n": 0}]);
        session.commit_transaction().await.unwrap();
        assert_eq!(write.await.unwrap(), 1);
        assert_eq!(all(&coll).await, vec![doc! {"_id": 1, "n": 6}]);
    });
}

#[tokio::test]
async fn unique_keys_are_checked_inside_transactions() {
    each_target!("txn_unique", |t| {
        let coll = t.coll("acc");
        coll.insert_one(doc! {"_id": 1}).await.unwrap();
        let mut session = t.client.start_session().await.unwrap();
        // Against the snapshot: a duplicate key, which aborts the transaction.
        session.start_transaction().await.unwrap();
        let err = coll
            .insert_one(doc! {"_id": 1})
            .session(&mut session)
            .await
            .unwrap_err();
        assert_eq!(code(&err), 11000, "{err}");
        let err = session.commit_transaction().await.unwrap_err();
        assert_eq!(code(&err), 251, "{err}");
        // Against the transaction's own writes.
        session.start_transaction().await.unwrap();
        coll.insert_one(doc! {"_id": 2})
            .session(&mut session)
            .await
            .unwrap();
        let err = coll
            .insert_one(doc! {"_id": 2})
            .session(&mut session)
            .await
            .unwrap_err();
        assert_eq!(code(&err), 11000, "{err}");
        session.abort_transaction().await.unwrap();
        // Another transaction's uncommitted key: a write conflict.
        let mut other = t.client.start_session().await.unwrap();
        session.start_transaction().await.unwrap();
        other.start_transaction().await.unwrap();
        coll.insert_one(doc! {"_id": 3})
            .session(&mut session)
            .await
            .unwrap();
        let err = coll
            .insert_one(doc! {"_id": 3})
            .session(&mut other)
            .await
            .unwrap_err();
        assert_eq!(code(&err), 112, "{err}");
        other.abort_transaction().await.unwrap();
        // Outside a transaction the insert waits, then finds the committed key.
        let outside = coll.clone();
        let mut insert =
            tokio::spawn(async move { outside.insert_one(doc! {"_id": 3}).await.map(|_| ()) });
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut insert)
                .await
                .is_err()
        );
        session.commit_transaction().await.unwrap();
        let err = insert.await.unwrap().unwrap_err();
        assert_eq!(code(&err), 11000, "{err}");
        assert_eq!(all(&coll).await, vec![doc! {"_id": 1}, doc! {"_id": 3}]);
    });
}
