//! Unique indexes on every write path: insert, update, upsert, replace,
//! findAndModify; compound, dotted, missing and multikey keys; no change
//! event for a write that fails.

use super::{all, e11000, failure, insert_error, plain, unique};
use crate::each_target;
use crate::util::{shape, take};
use mongodb::bson::{Bson, Document, doc};

#[tokio::test]
async fn a_unique_index_refuses_a_second_equal_value() {
    each_target!("idx_unique", |t| {
        let coll = t.coll("users");
        coll.insert_one(doc! {"_id": 1, "email": "a@x"})
            .await
            .unwrap();
        let created = coll.create_index(unique(doc! {"email": 1})).await.unwrap();
        assert_eq!(created.index_name, "email_1");

        let taken = e11000(&t, "users", "email_1", "{ email: \"a@x\" }");
        let err = coll
            .insert_one(doc! {"_id": 2, "email": "a@x"})
            .await
            .unwrap_err();
        assert_eq!(failure(&err), (11000, taken.clone()));
        assert_eq!(
            insert_error(&t, "users", doc! {"_id": 3, "email": "a@x"}).await,
            doc! {"index": 0, "code": 11000, "errmsg": taken, "keyPattern": {"email": 1}, "keyValue": {"email": "a@x"}}
        );

        // The _id index comes first, so a document clashing on both names `_id_`.
        let id_taken = e11000(&t, "users", "_id_", "{ _id: 1 }");
        let err = coll
            .insert_one(doc! {"_id": 1, "email": "a@x"})
            .await
            .unwrap_err();
        assert_eq!(failure(&err), (11000, id_taken.clone()));
        assert_eq!(
            insert_error(&t, "users", doc! {"_id": 1, "email": "b@x"}).await,
            doc! {"index": 0, "code": 11000, "errmsg": id_taken, "keyPattern": {"_id": 1}, "keyValue": {"_id": 1}}
        );
        assert_eq!(
            all(&t, "users").await,
            vec![doc! {"_id": 1, "email": "a@x"}]
        );
    });
}

#[tokio::test]
async fn writes_that_would_break_it_fail_and_change_nothing() {
    each_target!("idx_writes", |t| {
        let coll = t.coll("users");
        let start = vec![doc! {"_id": 1, "email": "a"}, doc! {"_id": 2, "email": "b"}];
        coll.insert_many(start.clone()).await.unwrap();
        coll.create_index(unique(doc! {"email": 1})).await.unwrap();
        let taken = (11000, e11000(&t, "users", "email_1", "{ email: \"a\" }"));

        let update = coll
            .update_one(doc! {"_id": 2}, doc! {"$set": {"email": "a"}})
            .await
            .unwrap_err();
        assert_eq!(failure(&update), taken);
        let replace = coll
            .replace_one(doc! {"_id": 2}, doc! {"email": "a"})
            .await
            .unwrap_err();
        assert_eq!(failure(&replace), taken);
        let upsert = coll
            .update_one(doc! {"_id": 3}, doc! {"$set": {"email": "a"}})
            .upsert(true)
            .await
            .unwrap_err();
        assert_eq!(failure(&upsert), taken);
        let find_and_modify = coll
            .find_one_and_update(doc! {"_id": 2}, doc! {"$set": {"email": "a"}})
            .await
            .unwrap_err();
        assert_eq!(failure(&find_and_modify), taken);
        assert_eq!(all(&t, "users").await, start);

        // A multi-update is not atomic: the documents updated before the clash stay updated.
        let many = coll
            .update_many(doc! {}, doc! {"$set": {"email": "z"}})
            .await
            .unwrap_err();
        assert_eq!(
            failure(&many),
            (11000, e11000(&t, "users", "email_1", "{ email: \"z\" }"))
        );
        assert_eq!(
            all(&t, "users").await,
            vec![doc! {"_id": 1, "email": "z"}, doc! {"_id": 2, "email": "b"}]
        );
    });
}

#[tokio::test]
async fn compound_dotted_and_missing_keys() {
    each_target!("idx_keys", |t| {
        let pairs = t.coll("pairs");
        let name = pairs
            .create_index(unique(doc! {"a": 1, "b": -1}))
            .await
            .unwrap()
            .index_name;
        assert_eq!(name, "a_1_b_-1");
        pairs
            .insert_many(vec![
                doc! {"_id": 1, "a": 1, "b": 1},
                doc! {"_id": 2, "a": 1, "b": 2},
                doc! {"_id": 3, "a": 2, "b": 1},
            ])
            .await
            .unwrap();
        // Numbers compare by value: 1.0 is the key 1, and the message shows the value given.
        assert_eq!(
            insert_error(&t, "pairs", doc! {"_id": 4, "a": 1.0, "b": 1}).await,
            doc! {
                "index": 0, "code": 11000,
                "errmsg": e11000(&t, "pairs", "a_1_b_-1", "{ a: 1.0, b: 1 }"),
                "keyPattern": {"a": 1, "b": -1}, "keyValue": {"a": 1.0, "b": 1},
            }
        );

        let places = t.coll("places");
        places
            .create_index(unique(doc! {"addr.city": 1}))
            .await
            .unwrap();
        places
            .insert_one(doc! {"_id": 1, "addr": {"city": "Paris"}})
            .await
            .unwrap();
        assert_eq!(
            insert_error(
                &t,
                "places",
                doc! {"_id": 2, "addr": {"city": "Paris", "zip": "75001"}}
            )
            .await,
            doc! {
                "index": 0, "code": 11000,
                "errmsg": e11000(&t, "places", "addr.city_1", "{ addr.city: \"Paris\" }"),
                "keyPattern": {"addr.city": 1}, "keyValue": {"addr.city": "Paris"},
            }
        );
        // A missing field is indexed as null, so a second document without it clashes.
        places.insert_one(doc! {"_id": 3}).await.unwrap();
        assert_eq!(
            insert_error(&t, "places", doc! {"_id": 4, "addr": {}}).await,
            doc! {
                "index": 0, "code": 11000,
                "errmsg": e11000(&t, "places", "addr.city_1", "{ addr.city: null }"),
                "keyPattern": {"addr.city": 1}, "keyValue": {"addr.city": Bson::Null},
            }
        );
        assert_eq!(all(&t, "places").await.len(), 2);
    });
}

#[tokio::test]
async fn multikey_indexes_key_every_element() {
    each_target!("idx_multikey", |t| {
        let tags = t.coll("tags");
        tags.create_index(unique(doc! {"tags": 1})).await.unwrap();
        tags.insert_one(doc! {"_id": 1, "tags": ["x", "y"]})
            .await
            .unwrap();
        // A document may repeat its own value.
        tags.insert_one(doc! {"_id": 2, "tags": ["q", "q"]})
            .await
            .unwrap();
        assert_eq!(
            insert_error(&t, "tags", doc! {"_id": 3, "tags": ["z", "y"]}).await,
            doc! {
                "index": 0, "code": 11000,
                "errmsg": e11000(&t, "tags", "tags_1", "{ tags: \"y\" }"),
                "keyPattern": {"tags": 1}, "keyValue": {"tags": "y"},
            }
        );
        // An empty array is indexed as undefined.
        tags.insert_one(doc! {"_id": 4, "tags": []}).await.unwrap();
        assert_eq!(
            insert_error(&t, "tags", doc! {"_id": 5, "tags": []}).await,
            doc! {
                "index": 0, "code": 11000,
                "errmsg": e11000(&t, "tags", "tags_1", "{ tags: undefined }"),
                "keyPattern": {"tags": 1}, "keyValue": {"tags": Bson::Undefined},
            }
        );

        let grid = t.coll("grid");
        grid.create_index(plain(doc! {"a": 1, "b": 1}))
            .await
            .unwrap();
        let err = grid
            .insert_one(doc! {"a": [1, 2], "b": [3]})
            .await
            .unwrap_err();
        assert_eq!(
            failure(&err),
            (171, "cannot index parallel arrays [b] [a]".to_owned())
        );
        assert_eq!(all(&t, "grid").await.len(), 0);
    });
}

#[tokio::test]
async fn failed_writes_leave_no_change_events() {
    each_target!("idx_no_events", |t| {
        let coll = t.coll("users");
        coll.insert_many(vec![
            doc! {"_id": 1, "email": "a"},
            doc! {"_id": 2, "email": "b"},
        ])
        .await
        .unwrap();
        coll.create_index(unique(doc! {"email": 1})).await.unwrap();
        let mut stream = coll.watch().await.unwrap().with_type::<Document>();
        assert!(
            coll.insert_one(doc! {"_id": 3, "email": "a"})
                .await
                .is_err()
        );
        assert!(
            coll.insert_one(doc! {"_id": 1, "email": "z"})
                .await
                .is_err()
        );
        assert!(
            coll.update_one(doc! {"_id": 2}, doc! {"$set": {"email": "a"}})
                .await
                .is_err()
        );
        assert!(
            coll.replace_one(doc! {"_id": 2}, doc! {"email": "a"})
                .await
                .is_err()
        );
        assert!(
            coll.update_one(doc! {"_id": 9}, doc! {"$set": {"email": "a"}})
                .upsert(true)
                .await
                .is_err()
        );
        coll.insert_one(doc! {"_id": 3, "email": "c"})
            .await
            .unwrap();
        coll.update_one(doc! {"_id": 3}, doc! {"$set": {"n": 1}})
            .await
            .unwrap();
        let events = take(&mut stream, 2).await;
        let ns = doc! {"db": &t.db, "coll": "users"};
        assert_eq!(
            shape(&events[0]),
            doc! {"operationType": "insert", "fullDocument": {"_id": 3, "email": "c"}, "ns": ns.clone(), "documentKey": {"_id": 3}}
        );
        assert_eq!(
            shape(&events[1]),
            doc! {"operationType": "update", "ns": ns, "documentKey": {"_id": 3}, "updateDescription": {"updatedFields": {"n": 1}, "removedFields": [], "truncatedArrays": []}}
        );
    });
}
