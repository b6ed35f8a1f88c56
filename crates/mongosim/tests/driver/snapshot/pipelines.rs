//! The collection pipeline a backfill sends: page in `_id` order and shape
//! each document like a change event, then a target's own stages.

use super::session_at;
use crate::each_target;
use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};

#[tokio::test]
async fn a_backfill_pipeline_builds_change_event_shaped_documents_at_t() {
    each_target!("snapshot_backfill_pipeline", |t| {
        let coll = t.coll("c");
        coll.insert_many(vec![
            doc! {"_id": 3, "name": "c", "secret": 1, "n": 3},
            doc! {"_id": 1, "name": "a", "secret": 1, "n": 1},
            doc! {"_id": 2, "name": "b", "secret": 1, "n": 2},
            doc! {"_id": 4, "name": "d", "secret": 1, "n": 4},
        ])
        .await
        .unwrap();
        let at = super::now(&t.db()).await;
        coll.update_one(doc! {"_id": 1}, doc! {"$set": {"name": "changed"}})
            .await
            .unwrap();
        let db_name = t.db.clone();
        let pipeline = vec![
            doc! {"$match": {"_id": {"$gt": 0}}},
            doc! {"$sort": {"_id": 1}},
            doc! {"$limit": 3},
            doc! {"$replaceWith": {
                "operationType": {"$literal": "insert"},
                "ns": {"$literal": {"db": &db_name, "coll": "c"}},
                "documentKey": {"_id": "$_id"},
                "fullDocument": "$$ROOT",
            }},
            doc! {"$unset": "fullDocument.secret"},
            doc! {"$addFields": {"big": {"$gte": ["$fullDocument.n", 2]}}},
            doc! {"$project": {"documentKey": 1, "fullDocument.name": 1, "big": 1, "operationType": 1, "ns": 1}},
            doc! {"$match": {"fullDocument.name": {"$ne": "c"}}},
        ];
        let mut session = session_at(&t.db(), at).await;
        let got: Vec<Document> = coll
            .aggregate(pipeline)
            .batch_size(1)
            .session(&mut session)
            .await
            .unwrap()
            .stream(&mut session)
            .try_collect()
            .await
            .unwrap();
        let event = |id: i32, name: &str, big: bool| {
            doc! {
                "operationType": "insert",
                "ns": {"db": &db_name, "coll": "c"},
                "documentKey": {"_id": id},
                "fullDocument": {"name": name},
                "big": big,
            }
        };
        assert_eq!(got, vec![event(1, "a", false), event(2, "b", true)]);
    });
}

#[tokio::test]
async fn replace_root_and_redact_run_on_collections() {
    each_target!("collection_replace_root_redact", |t| {
        let coll = t.coll("c");
        coll.insert_many(vec![
            doc! {"_id": 1, "inner": {"level": 1, "v": "keep"}},
            doc! {"_id": 2, "inner": {"level": 5, "v": "hide"}},
        ])
        .await
        .unwrap();
        let got: Vec<Document> = coll
            .aggregate(vec![
                doc! {"$sort": {"_id": 1}},
                doc! {"$redact": {"$cond": [{"$gt": ["$level", 3]}, "$$PRUNE", "$$DESCEND"]}},
                doc! {"$replaceRoot": {"newRoot": {"id": "$_id", "inner": {"$ifNull": ["$inner", "gone"]}}}},
            ])
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            got,
            vec![
                doc! {"id": 1, "inner": {"level": 1, "v": "keep"}},
                doc! {"id": 2, "inner": "gone"},
            ]
        );
        // A replacement that is not a document fails the aggregate, as on the server.
        let error = coll
            .aggregate(vec![doc! {"$replaceWith": "$inner.v"}])
            .await
            .unwrap_err();
        assert_eq!(super::code(&error).0, 40228);
        // Unknown stages are still refused.
        let error = coll
            .aggregate(vec![
                doc! {"$lookup": {"from": "x", "as": "y", "localField": "a", "foreignField": "b"}},
            ])
            .await
            .unwrap_err();
        assert_eq!(super::code(&error).0, 40324);
    });
}
