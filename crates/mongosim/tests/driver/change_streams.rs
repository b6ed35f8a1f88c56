//! Change stream events: every operation type, in the server's shapes.

use crate::each_target;
use crate::util::{shape, take};
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::FullDocumentType;
use std::time::Duration;

#[tokio::test]
async fn every_operation_type_on_a_collection_stream() {
    each_target!("cs_ops", |t| {
        let coll = t.coll("orders");
        coll.insert_one(doc! {"_id": 0}).await.unwrap(); // the collection exists before watching
        let mut stream = coll
            .watch()
            .full_document(FullDocumentType::UpdateLookup)
            .await
            .unwrap()
            .with_type::<Document>();
        coll.insert_one(doc! {"_id": 1, "status": "new", "items": [1]})
            .await
            .unwrap();
        coll.update_one(
            doc! {"_id": 1},
            doc! {"$set": {"status": "paid", "meta.by": "ann"}, "$push": {"items": 2}},
        )
        .await
        .unwrap();
        coll.replace_one(doc! {"_id": 1}, doc! {"status": "replaced"})
            .await
            .unwrap();
        coll.delete_one(doc! {"_id": 1}).await.unwrap();
        t.client.database("admin").run_command(doc! {"renameCollection": format!("{}.orders", t.db), "to": format!("{}.orders2", t.db)}).await.unwrap();
        let events = take(&mut stream, 6).await;
        let ns = doc! {"db": &t.db, "coll": "orders"};
        assert_eq!(
            shape(&events[0]),
            doc! {"operationType": "insert", "fullDocument": {"_id": 1, "status": "new", "items": [1]}, "ns": ns.clone(), "documentKey": {"_id": 1}}
        );
        // updateLookup reads the document when the event is read, so it may be newer than the update: here it was already replaced, then deleted.
        let update = shape(&events[1]);
        assert_eq!(update.get_str("operationType").unwrap(), "update");
        assert_eq!(
            update.get_document("updateDescription").unwrap(),
            &doc! {"updatedFields": {"status": "paid", "meta.by": "ann", "items.1": 2}, "removedFields": [], "truncatedArrays": []}
        );
        assert!(
            matches!(
                update.get("fullDocument"),
                Some(Bson::Null | Bson::Document(_))
            ),
            "{update}"
        );
        assert_eq!(
            shape(&events[2]),
            doc! {"operationType": "replace", "fullDocument": {"_id": 1, "status": "replaced"}, "ns": ns.clone(), "documentKey": {"_id": 1}}
        );
        assert_eq!(
            shape(&events[3]),
            doc! {"operationType": "delete", "ns": ns.clone(), "documentKey": {"_id": 1}}
        );
        assert_eq!(
            shape(&events[4]),
            doc! {"operationType": "rename", "ns": ns.clone(), "to": {"db": &t.db, "coll": "orders2"}}
        );
        assert_eq!(shape(&events[5]), doc! {"operationType": "invalidate"});
        for event in &events {
            assert!(
                event.get_document("_id").unwrap().get_str("_data").is_ok(),
                "{event}"
            );
            assert!(
                event.get_timestamp("clusterTime").is_ok()
                    && event.get_datetime("wallTime").is_ok(),
                "{event}"
            );
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
            "tokens sort by position: {tokens:?}"
        );
    });
}

#[tokio::test]
async fn update_descriptions_have_the_server_shapes() {
    each_target!("cs_update_desc", |t| {
        let coll = t.coll("docs");
        coll.insert_one(
            doc! {"_id": 1, "a": {"b": 1, "c": 2}, "arr": [1, 2, 3], "gone": true, "old": 5},
        )
        .await
        .unwrap();
        let mut stream = coll.watch().await.unwrap().with_type::<Document>();
        coll.update_one(
            doc! {"_id": 1},
            doc! {"$set": {"a.b": 10}, "$unset": {"gone": ""}},
        )
        .await
        .unwrap();
        coll.update_one(doc! {"_id": 1}, doc! {"$pop": {"arr": 1}})
            .await
            .unwrap();
        coll.update_one(doc! {"_id": 1}, doc! {"$rename": {"old": "new"}})
            .await
            .unwrap();
        let events = take(&mut stream, 3).await;
        let desc = |i: usize| events[i].get_document("updateDescription").unwrap().clone();
        assert_eq!(
            desc(0),
            doc! {"updatedFields": {"a.b": 10}, "removedFields": ["gone"], "truncatedArrays": []}
        );
        assert_eq!(
            desc(1),
            doc! {"updatedFields": {}, "removedFields": [], "truncatedArrays": [{"field": "arr", "newSize": 2}]}
        );
        assert_eq!(
            desc(2),
            doc! {"updatedFields": {"new": 5}, "removedFields": ["old"], "truncatedArrays": []}
        );
        assert!(
            events[0].get("fullDocument").is_none(),
            "no fullDocument without updateLookup"
        );
    });
}

#[tokio::test]
async fn database_and_cluster_streams() {
    each_target!("cs_db", |t| {
        t.coll("x").insert_one(doc! {"_id": 0}).await.unwrap();
        let mut db_stream = t.db().watch().await.unwrap().with_type::<Document>();
        let mut cluster_stream = t
            .client
            .watch()
            .pipeline(vec![doc! {"$match": {"ns.db": &t.db}}])
            .await
            .unwrap()
            .with_type::<Document>();
        t.coll("x").insert_one(doc! {"_id": 1}).await.unwrap();
        t.coll("y").insert_one(doc! {"_id": 2}).await.unwrap();
        t.db().drop().await.unwrap();
        let events = take(&mut db_stream, 6).await;
        let kinds: Vec<(&str, Option<&str>)> = events
            .iter()
            .map(|e| {
                (
                    e.get_str("operationType").unwrap(),
                    e.get_document("ns")
                        .ok()
                        .and_then(|n| n.get_str("coll").ok()),
                )
            })
            .collect();
        assert_eq!(&kinds[..2], &[("insert", Some("x")), ("insert", Some("y"))]);
        let mut drops: Vec<Option<&str>> = kinds[2..4]
            .iter()
            .map(|k| {
                assert_eq!(k.0, "drop");
                k.1
            })
            .collect();
        drops.sort();
        assert_eq!(drops, vec![Some("x"), Some("y")]);
        assert_eq!(kinds[4], ("dropDatabase", None));
        assert_eq!(kinds[5], ("invalidate", None));
        let cluster = take(&mut cluster_stream, 5).await;
        assert_eq!(
            cluster
                .iter()
                .map(|e| e.get_str("operationType").unwrap())
                .filter(|k| *k == "dropDatabase")
                .count(),
            1
        );
    });
}

#[tokio::test]
async fn match_filters_on_the_server_and_forbidden_stages_fail() {
    each_target!("cs_pipeline", |t| {
        let coll = t.coll("p");
        coll.insert_one(doc! {"_id": 0}).await.unwrap();
        let mut stream = coll
            .watch()
            .pipeline(vec![
                doc! {"$match": {"fullDocument.big": true}},
                doc! {"$project": {"fullDocument.secret": 0}},
            ])
            .await
            .unwrap()
            .with_type::<Document>();
        coll.insert_many(vec![
            doc! {"_id": 1, "big": false},
            doc! {"_id": 2, "big": true, "secret": "s"},
        ])
        .await
        .unwrap();
        let events = take(&mut stream, 1).await;
        assert_eq!(
            events[0].get_document("fullDocument").unwrap(),
            &doc! {"_id": 2, "big": true}
        );

        let err = coll
            .watch()
            .pipeline(vec![doc! {"$group": {"_id": null}}])
            .await
            .unwrap_err();
        assert!(
            matches!(*err.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == 20),
            "{err}"
        );
        assert!(err.to_string().contains("$group is not permitted"), "{err}");

        let mut no_id = coll
            .watch()
            .pipeline(vec![doc! {"$project": {"_id": 0}}])
            .max_await_time(Duration::from_millis(200))
            .await
            .unwrap()
            .with_type::<Document>();
        coll.insert_one(doc! {"_id": 3}).await.unwrap();
        let err = loop {
            match no_id.next_if_any().await {
                Ok(Some(e)) => panic!("an event without _id was delivered: {e}"),
                Ok(None) => continue,
                Err(e) => break e,
            }
        };
        assert!(
            matches!(*err.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == 280)
                || err.to_string().contains("280")
                || err.to_string().to_lowercase().contains("resume token"),
            "{err}"
        );
    });
}

#[tokio::test]
async fn a_standalone_refuses_change_streams() {
    let sim = mongosim::MongoSim::builder()
        .standalone(true)
        .start()
        .await
        .unwrap();
    let client = mongodb::Client::with_uri_str(sim.uri()).await.unwrap();
    let coll = client.database("d").collection::<Document>("c");
    coll.insert_one(doc! {"a": 1}).await.unwrap();
    let err = coll.watch().await.unwrap_err();
    assert!(
        err.to_string().contains("only supported on replica sets"),
        "{err}"
    );
}

/// Batches as the server sizes them: at most 101 events in the first batch
/// unless `batchSize` says otherwise, and getMore replies under 16 MiB.
#[tokio::test]
async fn batches_are_sized_as_the_server_sizes_them() {
    each_target!("cs_batches", |t| {
        let coll = t.coll("big");
        let mut session = t.client.start_session().await.unwrap();
        coll.insert_one(doc! {"_id": "start"})
            .session(&mut session)
            .await
            .unwrap();
        let start = session.operation_time().unwrap();
        let small: Vec<Document> = (0..150).map(|i| doc! {"_id": i}).collect();
        coll.insert_many(small).await.unwrap();
        let large: Vec<Document> = (0..40)
            .map(|i| doc! {"_id": format!("large-{i}"), "pad": "x".repeat(1_000_000)})
            .collect();
        for chunk in large.chunks(8) {
            coll.insert_many(chunk.to_vec()).await.unwrap();
        }
        let db = t.client.database(&t.db);
        let opened = db
            .run_command(doc! {
                "aggregate": "big",
                "pipeline": [{"$changeStream": {"startAtOperationTime": start}}],
                "cursor": {},
            })
            .session(&mut session)
            .await
            .unwrap();
        let cursor = opened.get_document("cursor").unwrap();
        let first = cursor.get_array("firstBatch").unwrap().len();
        assert!(first <= 101, "first batch of {first}");
        let id = cursor.get_i64("id").unwrap();
        let mut seen = first;
        let mut largest_reply = 0;
        let mut replies = 0;
        while seen < 191 {
            let more = db
                .run_command(doc! {"getMore": id, "collection": "big", "maxTimeMS": 1000_i64})
                .session(&mut session)
                .await
                .unwrap();
            let batch = more
                .get_document("cursor")
                .unwrap()
                .get_array("nextBatch")
                .unwrap();
            let bytes: usize = batch
                .iter()
                .map(|e| bson::to_vec(e.as_document().unwrap()).unwrap().len())
                .sum();
            assert!(
                bytes <= 16 * 1024 * 1024,
                "a getMore returned {bytes} bytes"
            );
            largest_reply = largest_reply.max(bytes);
            seen += batch.len();
            replies += 1;
            assert!(
                replies < 50,
                "the stream stopped delivering at {seen} events"
            );
        }
        assert_eq!(seen, 191);
        assert!(replies >= 3, "40 MB of events came in {replies} replies");
        assert!(largest_reply > 8 * 1024 * 1024, "{largest_reply}");
    });
}
