//! What a transaction sees and when others see its writes.

use super::{all, assert_transient, begin, code};
use crate::each_target;
use crate::util::take;
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use std::time::Duration;

#[tokio::test]
async fn committed_writes_appear_at_commit_and_not_before() {
    each_target!("txn_commit", |t| {
        let coll = t.coll("acc");
        coll.insert_one(doc! {"_id": 1, "n": 0}).await.unwrap();
        let mut session = begin(&t).await;
        coll.insert_one(doc! {"_id": 2})
            .session(&mut session)
            .await
            .unwrap();
        coll.update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 1}})
            .session(&mut session)
            .await
            .unwrap();
        // Written outside after the transaction's snapshot: not seen inside.
        coll.insert_one(doc! {"_id": 3}).await.unwrap();
        let inside: Vec<Document> = coll
            .find(doc! {})
            .sort(doc! {"_id": 1})
            .session(&mut session)
            .await
            .unwrap()
            .stream(&mut session)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(inside, vec![doc! {"_id": 1, "n": 1}, doc! {"_id": 2}]);
        assert_eq!(
            all(&coll).await,
            vec![doc! {"_id": 1, "n": 0}, doc! {"_id": 3}],
            "nothing of the transaction before commit"
        );
        session.commit_transaction().await.unwrap();
        assert_eq!(
            all(&coll).await,
            vec![doc! {"_id": 1, "n": 1}, doc! {"_id": 2}, doc! {"_id": 3}]
        );
        // Committing again succeeds and writes nothing twice.
        session.commit_transaction().await.unwrap();
        assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 3);
        assert_eq!(all(&coll).await[0], doc! {"_id": 1, "n": 1});
    });
}

#[tokio::test]
async fn aborted_writes_never_appear() {
    each_target!("txn_abort", |t| {
        let coll = t.coll("acc");
        coll.insert_one(doc! {"_id": 1, "n": 0}).await.unwrap();
        let mut session = begin(&t).await;
        coll.insert_one(doc! {"_id": 2})
            .session(&mut session)
            .await
            .unwrap();
        coll.delete_one(doc! {"_id": 1})
            .session(&mut session)
            .await
            .unwrap();
        assert_eq!(
            coll.count_documents(doc! {})
                .session(&mut session)
                .await
                .unwrap(),
            1
        );
        session.abort_transaction().await.unwrap();
        assert_eq!(all(&coll).await, vec![doc! {"_id": 1, "n": 0}]);
        // A transaction may create the collection it writes to.
        let fresh = t.coll("fresh");
        session.start_transaction().await.unwrap();
        fresh
            .insert_one(doc! {"_id": 1})
            .session(&mut session)
            .await
            .unwrap();
        fresh
            .insert_one(doc! {"_id": 2})
            .session(&mut session)
            .await
            .unwrap();
        session.commit_transaction().await.unwrap();
        assert_eq!(all(&fresh).await, vec![doc! {"_id": 1}, doc! {"_id": 2}]);
    });
}

#[tokio::test]
async fn change_streams_see_a_transaction_at_commit_in_order() {
    each_target!("txn_stream", |t| {
        let coll = t.coll("orders");
        coll.insert_one(doc! {"_id": 0}).await.unwrap();
        let mut stream = coll
            .watch()
            .max_await_time(Duration::from_millis(200))
            .await
            .unwrap()
            .with_type::<Document>();
        let mut session = begin(&t).await;
        coll.insert_one(doc! {"_id": 1})
            .session(&mut session)
            .await
            .unwrap();
        coll.insert_one(doc! {"_id": 2})
            .session(&mut session)
            .await
            .unwrap();
        coll.update_one(doc! {"_id": 1}, doc! {"$set": {"x": 1}})
            .session(&mut session)
            .await
            .unwrap();
        coll.delete_one(doc! {"_id": 2})
            .session(&mut session)
            .await
            .unwrap();
        // A write outside the transaction, after its writes but before its commit.
        coll.insert_one(doc! {"_id": 10}).await.unwrap();
        let marker = take(&mut stream, 1).await.remove(0);
        assert_eq!(
            marker.get_document("documentKey").unwrap(),
            &doc! {"_id": 10}
        );
        assert!(!marker.contains_key("lsid") && !marker.contains_key("txnNumber"));
        assert!(
            stream.next_if_any().await.unwrap().is_none(),
            "no event of the transaction before it commits"
        );
        session.commit_transaction().await.unwrap();
        let events = take(&mut stream, 4).await;
        let kinds: Vec<(&str, Bson)> = events
            .iter()
            .map(|e| {
                (
                    e.get_str("operationType").unwrap(),
                    e.get_document("documentKey")
                        .unwrap()
                        .get("_id")
                        .unwrap()
                        .clone(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("insert", Bson::Int32(1)),
                ("insert", Bson::Int32(2)),
                ("update", Bson::Int32(1)),
                ("delete", Bson::Int32(2)),
            ]
        );
        let first = &events[0];
        for e in &events {
            assert_eq!(
                e.get("clusterTime"),
                first.get("clusterTime"),
                "one commit time"
            );
            assert_eq!(e.get_document("lsid").unwrap(), session.id());
            assert!(matches!(e.get("txnNumber"), Some(Bson::Int64(_))), "{e}");
            assert_eq!(e.get("txnNumber"), first.get("txnNumber"));
        }
        assert!(
            first.get_timestamp("clusterTime").unwrap()
                > marker.get_timestamp("clusterTime").unwrap(),
            "the commit time is after the marker"
        );
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
        assert!(tokens.windows(2).all(|w| w[0] < w[1]), "{tokens:?}");
        // A retried commit sends nothing again.
        session.commit_transaction().await.unwrap();
        coll.insert_one(doc! {"_id": 11}).await.unwrap();
        let next = take(&mut stream, 1).await.remove(0);
        assert_eq!(next.get_document("documentKey").unwrap(), &doc! {"_id": 11});
    });
}

#[tokio::test]
async fn snapshot_transactions_read_at_their_start() {
    each_target!("txn_snapshot", |t| {
        let coll = t.coll("acc");
        coll.insert_one(doc! {"_id": 1, "n": 0}).await.unwrap();
        let mut session = t.client.start_session().await.unwrap();
        session
            .start_transaction()
            .read_concern(mongodb::options::ReadConcern::snapshot())
            .await
            .unwrap();
        let seen = coll
            .find_one(doc! {"_id": 1})
            .session(&mut session)
            .await
            .unwrap();
        assert_eq!(seen, Some(doc! {"_id": 1, "n": 0}));
        coll.update_one(doc! {"_id": 1}, doc! {"$set": {"n": 5}})
            .await
            .unwrap();
        coll.insert_one(doc! {"_id": 2}).await.unwrap();
        assert_eq!(
            coll.find_one(doc! {"_id": 1})
                .session(&mut session)
                .await
                .unwrap(),
            Some(doc! {"_id": 1, "n": 0})
        );
        assert_eq!(
            coll.count_documents(doc! {})
                .session(&mut session)
                .await
                .unwrap(),
            1
        );
        // Writing what changed since the snapshot conflicts.
        let err = coll
            .update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 1}})
            .session(&mut session)
            .await
            .unwrap_err();
        assert_transient(&err, 112);
        let err = session.commit_transaction().await.unwrap_err();
        assert_eq!(code(&err), 251, "{err}");
        assert_eq!(
            all(&coll).await,
            vec![doc! {"_id": 1, "n": 5}, doc! {"_id": 2}]
        );
    });
}
