//! `$expr` in query filters and `$toHashedIndexKey`, including the
//! partitioning of a change stream by the hash of `documentKey._id`.

use crate::each_target;
use crate::util::take;
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc, oid::ObjectId};

fn ids(docs: &[Document]) -> Vec<i32> {
    docs.iter().map(|d| d.get_i32("_id").unwrap()).collect()
}

#[tokio::test]
async fn expr_in_find_update_delete_and_aggregate() {
    each_target!("expr_filters", |t| {
        let coll = t.coll("budgets");
        coll.insert_many(vec![
            doc! {"_id": 1, "spent": 120, "budget": 100},
            doc! {"_id": 2, "spent": 80, "budget": 100},
            doc! {"_id": 3, "spent": 100, "budget": 100, "tags": ["x"]},
        ])
        .await
        .unwrap();
        let over = doc! {"$expr": {"$gt": ["$spent", "$budget"]}};
        let found: Vec<Document> = coll
            .find(over.clone())
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(ids(&found), vec![1]);
        let mixed = doc! {"budget": 100, "$or": [{"$expr": {"$in": ["x", {"$ifNull": ["$tags", []]}]}}, {"_id": 2}]};
        let found: Vec<Document> = coll
            .find(mixed)
            .sort(doc! {"_id": 1})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(ids(&found), vec![2, 3]);
        let updated = coll
            .update_many(
                doc! {"$expr": {"$lte": ["$spent", "$budget"]}},
                doc! {"$set": {"ok": true}},
            )
            .await
            .unwrap();
        assert_eq!(updated.modified_count, 2);
        let matched: Vec<Document> = coll
            .aggregate(vec![
                doc! {"$match": {"$expr": {"$eq": ["$$ROOT.ok", true]}}},
                doc! {"$sort": {"_id": -1}},
            ])
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(ids(&matched), vec![3, 2]);
        let changed = coll
            .find_one_and_update(over.clone(), doc! {"$set": {"flag": 1}})
            .await
            .unwrap()
            .unwrap();
        assert_eq!(changed.get_i32("_id").unwrap(), 1);
        assert_eq!(coll.delete_many(over).await.unwrap().deleted_count, 1);
        assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 2);
        // An unknown operator inside $expr fails the command.
        let err = coll
            .find_one(doc! {"$expr": {"$frobnicate": 1}})
            .await
            .unwrap_err();
        assert!(
            matches!(*err.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == 168),
            "{err}"
        );
    });
}

/// The server's keys for values of several types; equal numbers hash alike.
#[tokio::test]
async fn to_hashed_index_key_gives_the_servers_keys() {
    each_target!("expr_hashed", |t| {
        let coll = t.coll("values");
        let oid = ObjectId::parse_str("5f1d7a0f9e8b7c6d5e4f3a2b").unwrap();
        coll.insert_many(vec![
            doc! {"_id": 1, "v": 42},
            doc! {"_id": 2, "v": 42_i64},
            doc! {"_id": 3, "v": 42.0},
            doc! {"_id": 4, "v": "string to hash"},
            doc! {"_id": 5, "v": oid},
            doc! {"_id": 6, "v": {"a": 1}},
            doc! {"_id": 7, "v": Bson::Null},
            doc! {"_id": 8},
        ])
        .await
        .unwrap();
        let hashed: Vec<Document> = coll
            .aggregate(vec![
                doc! {"$sort": {"_id": 1}},
                doc! {"$project": {"h": {"$toHashedIndexKey": "$v"}}},
            ])
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let keys: Vec<Bson> = hashed.iter().map(|d| d.get("h").unwrap().clone()).collect();
        assert_eq!(
            keys,
            [
                -944302157085130861,
                -944302157085130861,
                -944302157085130861,
                763543691661428748,
                2363312714893332538,
                -8705610352600103477,
                2338878944348059895,
                2338878944348059895,
            ]
            .map(Bson::Int64)
            .to_vec()
        );
        // And in a find filter's $expr.
        let found: Vec<Document> = coll
            .find(doc! {"$expr": {"$eq": [{"$toHashedIndexKey": "$v"}, 763543691661428748_i64]}})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(ids(&found), vec![4]);
    });
}

/// A change stream partitioned by the hash of `documentKey._id` gets
/// exactly the events of its half, as cluster mode will split streams.
#[tokio::test]
async fn change_streams_partition_by_hashed_document_key() {
    each_target!("expr_partition", |t| {
        let coll = t.coll("events");
        coll.insert_one(doc! {"_id": -1}).await.unwrap();
        let low =
            doc! {"$match": {"$expr": {"$lt": [{"$toHashedIndexKey": "$documentKey._id"}, 0_i64]}}};
        let mut stream = coll
            .watch()
            .pipeline(vec![low])
            .await
            .unwrap()
            .with_type::<Document>();
        coll.insert_many((0..40).map(|i| doc! {"_id": i, "n": i}))
            .await
            .unwrap();
        // What the server says about each _id, as a plain aggregate.
        let hashed: Vec<Document> = coll
            .aggregate(vec![
                doc! {"$match": {"_id": {"$gte": 0}}},
                doc! {"$project": {"h": {"$toHashedIndexKey": "$_id"}}},
            ])
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let expected: Vec<i32> = hashed
            .iter()
            .filter(|d| d.get_i64("h").unwrap() < 0)
            .map(|d| d.get_i32("_id").unwrap())
            .collect();
        assert!(!expected.is_empty() && expected.len() < 40, "{expected:?}");
        let events = take(&mut stream, expected.len()).await;
        let got: Vec<i32> = events
            .iter()
            .map(|e| {
                e.get_document("documentKey")
                    .unwrap()
                    .get_i32("_id")
                    .unwrap()
            })
            .collect();
        assert_eq!(got, expected);
        // Nothing of the other half follows: the next event is the next low insert.
        let next_low = (40..200)
            .find(|i| herald_core::hashed::hashed_index_key(&Bson::Int32(*i)) < 0)
            .unwrap();
        coll.insert_many((40..=next_low).map(|i| doc! {"_id": i}))
            .await
            .unwrap();
        let next = take(&mut stream, 1).await.remove(0);
        assert_eq!(
            next.get_document("documentKey").unwrap(),
            &doc! {"_id": next_low}
        );
    });
}
