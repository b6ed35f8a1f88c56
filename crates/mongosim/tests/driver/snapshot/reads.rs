//! Reads at a point in time see the collection as it was then.

use super::{find_at, now, session_at};
use crate::each_target;
use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};

#[tokio::test]
async fn a_read_at_t_sees_the_documents_as_they_were_at_t() {
    each_target!("snapshot_state_at_t", |t| {
        let coll = t.coll("items");
        coll.insert_many((1..=4).map(|i| doc! {"_id": i, "v": i}))
            .await
            .unwrap();
        let at = now(&t.db()).await;
        coll.insert_one(doc! {"_id": 5, "v": 5}).await.unwrap();
        coll.update_one(doc! {"_id": 1}, doc! {"$set": {"v": 10}})
            .await
            .unwrap();
        coll.delete_one(doc! {"_id": 2}).await.unwrap();
        coll.replace_one(doc! {"_id": 3}, doc! {"w": 3})
            .await
            .unwrap();
        let then = (1..=4).map(|i| doc! {"_id": i, "v": i}).collect::<Vec<_>>();
        assert_eq!(find_at(&coll, at, 101).await, then);
        // The same read through aggregate.
        let mut session = session_at(&t.db(), at).await;
        let aggregated: Vec<Document> = coll
            .aggregate(vec![doc! {"$sort": {"_id": 1}}])
            .session(&mut session)
            .await
            .unwrap()
            .stream(&mut session)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(aggregated, then);
        // A read without a read concern sees the newest state.
        let current: Vec<Document> = coll
            .find(doc! {})
            .sort(doc! {"_id": 1})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            current,
            vec![
                doc! {"_id": 1, "v": 10},
                doc! {"_id": 3, "w": 3},
                doc! {"_id": 4, "v": 4},
                doc! {"_id": 5, "v": 5},
            ]
        );
    });
}

#[tokio::test]
async fn a_write_is_visible_at_its_own_operation_time_and_not_before() {
    each_target!("snapshot_operation_time", |t| {
        let coll = t.coll("items");
        let db = t.db();
        let reply = db
            .run_command(doc! {"insert": "items", "documents": [{"_id": 1}]})
            .await
            .unwrap();
        let first = reply.get_timestamp("operationTime").unwrap();
        let reply = db
            .run_command(
                doc! {"update": "items", "updates": [{"q": {"_id": 1}, "u": {"$set": {"a": 1}}}]},
            )
            .await
            .unwrap();
        let second = reply.get_timestamp("operationTime").unwrap();
        assert!(second > first);
        assert_eq!(find_at(&coll, first, 101).await, vec![doc! {"_id": 1}]);
        assert_eq!(
            find_at(&coll, second, 101).await,
            vec![doc! {"_id": 1, "a": 1}]
        );
    });
}

#[tokio::test]
async fn paging_with_get_more_stays_at_t_while_writes_continue() {
    each_target!("snapshot_paging", |t| {
        let coll = t.coll("items");
        coll.insert_many((1..=10).map(|i| doc! {"_id": i, "v": 0}))
            .await
            .unwrap();
        let at = now(&t.db()).await;
        let mut session = session_at(&t.db(), at).await;
        let mut cursor = coll
            .find(doc! {})
            .sort(doc! {"_id": 1})
            .batch_size(3)
            .session(&mut session)
            .await
            .unwrap();
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(cursor.next(&mut session).await.unwrap().unwrap());
        }
        // Writes between the first batch and the getMores.
        coll.delete_many(doc! {"_id": {"$gte": 8}}).await.unwrap();
        coll.update_many(doc! {}, doc! {"$set": {"v": 1}})
            .await
            .unwrap();
        coll.insert_one(doc! {"_id": 11, "v": 1}).await.unwrap();
        while let Some(d) = cursor.next(&mut session).await {
            seen.push(d.unwrap());
        }
        assert_eq!(
            seen,
            (1..=10)
                .map(|i| doc! {"_id": i, "v": 0})
                .collect::<Vec<_>>()
        );
    });
}

#[tokio::test]
async fn snapshot_without_a_time_reads_now_and_names_the_time() {
    each_target!("snapshot_chosen_time", |t| {
        let coll = t.coll("items");
        let db = t.db();
        let written = db
            .run_command(doc! {"insert": "items", "documents": [{"_id": 1}]})
            .await
            .unwrap()
            .get_timestamp("operationTime")
            .unwrap();
        let reply = db
            .run_command(doc! {"find": "items", "readConcern": {"level": "snapshot"}})
            .await
            .unwrap();
        let cursor = reply.get_document("cursor").unwrap();
        assert_eq!(cursor.get_array("firstBatch").unwrap().len(), 1);
        if !t.is_real() {
            // mongosim commits at once; a real set may pick a later no-op's time.
            assert_eq!(cursor.get_timestamp("atClusterTime"), Ok(written));
        }
        assert!(cursor.get_timestamp("atClusterTime").unwrap() >= written);
        // A snapshot session without a time takes it from the first read's reply.
        let mut session = db.client().start_session().snapshot(true).await.unwrap();
        let mut found = coll.find(doc! {}).session(&mut session).await.unwrap();
        let first: Vec<Document> = found.stream(&mut session).try_collect().await.unwrap();
        assert_eq!(first, vec![doc! {"_id": 1}]);
        let chosen = session.snapshot_time().expect("the reply named the time");
        assert!(chosen >= written);
        coll.insert_one(doc! {"_id": 2}).await.unwrap();
        // The session's later reads stay at that time.
        let mut again = coll.find(doc! {}).session(&mut session).await.unwrap();
        let second: Vec<Document> = again.stream(&mut session).try_collect().await.unwrap();
        assert_eq!(second, vec![doc! {"_id": 1}]);
    });
}

#[tokio::test]
async fn an_empty_find_does_not_name_its_chosen_time_but_aggregate_does() {
    // SERVER-83472 (open): a snapshot find without atClusterTime that finds
    // nothing leaves cursor.atClusterTime out; aggregate includes it.
    let t = crate::util::sim_with(mongosim::DEFAULT_OPLOG_CAPACITY, "snapshot_empty").await;
    let db = t.db();
    db.run_command(doc! {"insert": "items", "documents": [{"_id": 1}]})
        .await
        .unwrap();
    let at = now(&db).await;
    let cursor_of = |reply: Document| reply.get_document("cursor").unwrap().clone();
    let find = |filter: Document, read_concern: Document| {
        let db = db.clone();
        async move {
            db.run_command(doc! {"find": "items", "filter": filter, "readConcern": read_concern})
                .await
                .unwrap()
        }
    };
    let empty = cursor_of(find(doc! {"_id": 2}, doc! {"level": "snapshot"}).await);
    assert!(!empty.contains_key("atClusterTime"), "{empty}");
    let given = doc! {"level": "snapshot", "atClusterTime": at};
    let empty_at = cursor_of(find(doc! {"_id": 2}, given).await);
    assert_eq!(empty_at.get_timestamp("atClusterTime"), Ok(at));
    let aggregate = db
        .run_command(doc! {
            "aggregate": "items", "pipeline": [{"$match": {"_id": 2}}], "cursor": {},
            "readConcern": {"level": "snapshot"},
        })
        .await
        .unwrap();
    assert_eq!(cursor_of(aggregate).get_timestamp("atClusterTime"), Ok(at));
}

#[tokio::test]
async fn drops_renames_and_recreations_after_t_do_not_change_a_read_at_t() {
    // mongosim only: the versions of dropped collections (the 7.0 server's
    // point-in-time catalog) are not something to rely on across servers.
    let t = crate::util::sim_with(mongosim::DEFAULT_OPLOG_CAPACITY, "snapshot_ddl").await;
    let db = t.db();
    let a = t.coll("a");
    a.insert_many(vec![doc! {"_id": 1}, doc! {"_id": 2}])
        .await
        .unwrap();
    let b = t.coll("b");
    b.insert_one(doc! {"_id": 9}).await.unwrap();
    let at = now(&db).await;
    a.drop().await.unwrap();
    a.insert_one(doc! {"_id": 3}).await.unwrap();
    t.client
        .database("admin")
        .run_command(doc! {
            "renameCollection": format!("{}.b", t.db),
            "to": format!("{}.c", t.db),
        })
        .await
        .unwrap();
    let c = t.coll("c");
    assert_eq!(
        find_at(&a, at, 101).await,
        vec![doc! {"_id": 1}, doc! {"_id": 2}]
    );
    assert_eq!(find_at(&b, at, 101).await, vec![doc! {"_id": 9}]);
    assert_eq!(find_at(&c, at, 101).await, Vec::<Document>::new());
    let later = now(&db).await;
    assert_eq!(find_at(&a, later, 101).await, vec![doc! {"_id": 3}]);
    assert_eq!(find_at(&b, later, 101).await, Vec::<Document>::new());
    assert_eq!(find_at(&c, later, 101).await, vec![doc! {"_id": 9}]);
}
