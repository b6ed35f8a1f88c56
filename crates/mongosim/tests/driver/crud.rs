//! CRUD round trips and the errors the server gives.

use crate::each_target;
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::{FindOneAndUpdateOptions, FindOptions, ReturnDocument};

#[tokio::test]
async fn insert_find_update_delete() {
    each_target!("crud_round_trip", |t| {
        let coll = t.coll("items");
        coll.insert_many(vec![
            doc! {"_id": 1, "n": 1, "tags": ["a"]},
            doc! {"_id": 2, "n": 5},
            doc! {"_id": 3, "n": 9},
        ])
        .await
        .unwrap();
        let found: Vec<Document> = coll
            .find(doc! {"n": {"$gte": 5}})
            .sort(doc! {"n": -1})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            found
                .iter()
                .map(|d| d.get_i32("_id").unwrap())
                .collect::<Vec<_>>(),
            vec![3, 2]
        );

        let result = coll
            .update_one(
                doc! {"_id": 1},
                doc! {"$inc": {"n": 2}, "$push": {"tags": "b"}, "$set": {"s.t": true}},
            )
            .await
            .unwrap();
        assert_eq!((result.matched_count, result.modified_count), (1, 1));
        let one = coll.find_one(doc! {"_id": 1}).await.unwrap().unwrap();
        assert_eq!(
            one,
            doc! {"_id": 1, "n": 3, "tags": ["a", "b"], "s": {"t": true}}
        );

        let result = coll
            .update_many(doc! {"n": {"$gt": 4}}, doc! {"$set": {"big": true}})
            .await
            .unwrap();
        assert_eq!(result.modified_count, 2);
        let result = coll
            .update_one(doc! {"_id": 7}, doc! {"$set": {"x": 1}})
            .upsert(true)
            .await
            .unwrap();
        assert_eq!(result.upserted_id, Some(Bson::Int32(7)));
        let replaced = coll
            .replace_one(doc! {"_id": 2}, doc! {"whole": "new"})
            .await
            .unwrap();
        assert_eq!(replaced.modified_count, 1);
        assert_eq!(
            coll.find_one(doc! {"_id": 2}).await.unwrap().unwrap(),
            doc! {"_id": 2, "whole": "new"}
        );

        let after = coll
            .find_one_and_update(doc! {"_id": 3}, doc! {"$mul": {"n": 2}})
            .with_options(
                FindOneAndUpdateOptions::builder()
                    .return_document(ReturnDocument::After)
                    .build(),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.get_i32("n").unwrap(), 18);

        assert_eq!(
            coll.delete_many(doc! {"big": true})
                .await
                .unwrap()
                .deleted_count,
            1
        );
        assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 3);
        let projected: Vec<Document> = coll
            .find(doc! {})
            .with_options(
                FindOptions::builder()
                    .projection(doc! {"_id": 0, "n": 1})
                    .sort(doc! {"_id": 1})
                    .build(),
            )
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(projected, vec![doc! {"n": 3}, doc! {}, doc! {}]);
    });
}

#[tokio::test]
async fn many_documents_come_back_in_batches() {
    each_target!("crud_batches", |t| {
        let coll = t.coll("many");
        coll.insert_many((0..350).map(|i| doc! {"_id": i}))
            .await
            .unwrap();
        let all: Vec<Document> = coll
            .find(doc! {})
            .batch_size(100)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(all.len(), 350);
    });
}

#[tokio::test]
async fn duplicate_ids_fail_with_e11000() {
    each_target!("crud_dup", |t| {
        let coll = t.coll("dups");
        coll.insert_one(doc! {"_id": 1}).await.unwrap();
        let err = coll.insert_one(doc! {"_id": 1}).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("E11000"), "{text}");
        match *err.kind {
            mongodb::error::ErrorKind::Write(mongodb::error::WriteFailure::WriteError(ref e)) => {
                assert_eq!(e.code, 11000)
            }
            ref other => panic!("{other:?}"),
        }
    });
}

#[tokio::test]
async fn ddl_and_listing() {
    each_target!("crud_ddl", |t| {
        t.db().create_collection("a").await.unwrap();
        let err = t.db().create_collection("a").await.unwrap_err();
        assert!(
            matches!(*err.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == 48),
            "{err}"
        );
        t.coll("b").insert_one(doc! {"x": 1}).await.unwrap();
        let mut names = t.db().list_collection_names().await.unwrap();
        names.sort();
        assert_eq!(names, vec!["a", "b"]);
        assert!(
            t.client
                .list_database_names()
                .await
                .unwrap()
                .contains(&t.db)
        );
        t.client
            .database("admin")
            .run_command(
                doc! {"renameCollection": format!("{}.b", t.db), "to": format!("{}.c", t.db)},
            )
            .await
            .unwrap();
        let mut names = t.db().list_collection_names().await.unwrap();
        names.sort();
        assert_eq!(names, vec!["a", "c"]);
        t.coll("a").drop().await.unwrap();
        t.db().drop().await.unwrap();
        assert!(
            !t.client
                .list_database_names()
                .await
                .unwrap()
                .contains(&t.db)
        );
    });
}

#[tokio::test]
async fn update_errors_match_the_server() {
    each_target!("crud_update_errors", |t| {
        let coll = t.coll("e");
        coll.insert_one(doc! {"_id": 1, "s": "text"}).await.unwrap();
        let code = |e: mongodb::error::Error| match *e.kind {
            mongodb::error::ErrorKind::Write(mongodb::error::WriteFailure::WriteError(ref w)) => {
                w.code
            }
            ref other => panic!("{other:?}"),
        };
        assert_eq!(
            code(
                coll.update_one(doc! {"_id": 1}, doc! {"$inc": {"s": 1}})
                    .await
                    .unwrap_err()
            ),
            14
        );
        assert_eq!(
            code(
                coll.update_one(doc! {"_id": 1}, doc! {"$set": {"_id": 2}})
                    .await
                    .unwrap_err()
            ),
            66
        );
    });
}

#[tokio::test]
async fn count_and_find_and_delete() {
    each_target!("crud_count_fad", |t| {
        let coll = t.coll("c");
        coll.insert_many((1..=4).map(|i| doc! {"_id": i, "n": i}))
            .await
            .unwrap();
        assert_eq!(coll.estimated_document_count().await.unwrap(), 4);
        let removed = coll
            .find_one_and_delete(doc! {"n": {"$gt": 2}})
            .sort(doc! {"n": -1})
            .await
            .unwrap()
            .unwrap();
        assert_eq!(removed.get_i32("_id").unwrap(), 4);
        assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 3);
        let upserted = coll
            .find_one_and_update(doc! {"_id": 9}, doc! {"$set": {"n": 9}})
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await
            .unwrap();
        assert_eq!(upserted, Some(doc! {"_id": 9, "n": 9}));
    });
}
