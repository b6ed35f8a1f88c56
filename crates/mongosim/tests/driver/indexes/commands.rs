//! createIndexes, listIndexes and dropIndexes, with the server's replies and
//! errors, and their events in expanded change streams.

use super::{command, e11000, failure, id_index, listed, plain, unique};
use crate::each_target;
use crate::util::{shape, take};
use mongodb::bson::{Document, doc};

#[tokio::test]
async fn create_list_and_drop_indexes() {
    each_target!("idx_ddl", |t| {
        let coll = t.coll("users");
        coll.insert_one(doc! {"_id": 1, "email": "a"})
            .await
            .unwrap();
        let spec = doc! {"key": {"email": 1}, "name": "email_1", "unique": true};
        let create = doc! {"createIndexes": "users", "indexes": [spec.clone()]};
        assert_eq!(
            command(&t, create.clone()).await.unwrap(),
            doc! {"numIndexesBefore": 1, "numIndexesAfter": 2, "createdCollectionAutomatically": false, "commitQuorum": "votingMembers", "ok": 1.0}
        );
        assert_eq!(
            command(&t, create).await.unwrap(),
            doc! {"numIndexesBefore": 2, "numIndexesAfter": 2, "note": "all indexes already exist", "ok": 1.0}
        );
        let same_name = command(
            &t,
            doc! {"createIndexes": "users", "indexes": [{"key": {"other": 1}, "name": "email_1"}]},
        )
        .await
        .unwrap_err();
        assert_eq!(failure(&same_name).0, 86);
        let same_key = command(
            &t,
            doc! {"createIndexes": "users", "indexes": [{"key": {"email": 1}, "name": "by_email", "unique": true}]},
        )
        .await
        .unwrap_err();
        assert_eq!(
            failure(&same_key),
            (
                85,
                "Index already exists with a different name: email_1".to_owned()
            )
        );
        assert_eq!(
            listed(&t, "users").await,
            vec![
                id_index(),
                doc! {"v": 2, "key": {"email": 1}, "name": "email_1", "unique": true}
            ]
        );

        let id = coll.drop_index("_id_").await.unwrap_err();
        assert_eq!(failure(&id), (72, "cannot drop _id index".to_owned()));
        let missing = coll.drop_index("nope").await.unwrap_err();
        assert_eq!(
            failure(&missing),
            (27, "index not found with name [nope]".to_owned())
        );
        coll.drop_index("email_1").await.unwrap();
        assert_eq!(listed(&t, "users").await, vec![id_index()]);
        coll.insert_one(doc! {"_id": 2, "email": "a"})
            .await
            .unwrap();

        // createIndexes creates a missing collection; "*" drops all but _id_.
        assert_eq!(
            command(
                &t,
                doc! {"createIndexes": "fresh", "indexes": [{"key": {"n": 1}, "name": "n_1"}]}
            )
            .await
            .unwrap(),
            doc! {"numIndexesBefore": 1, "numIndexesAfter": 2, "createdCollectionAutomatically": true, "commitQuorum": "votingMembers", "ok": 1.0}
        );
        assert_eq!(
            command(&t, doc! {"dropIndexes": "fresh", "index": "*"})
                .await
                .unwrap(),
            doc! {"nIndexesWas": 2, "msg": "non-_id indexes dropped for collection", "ok": 1.0}
        );
        assert_eq!(listed(&t, "fresh").await, vec![id_index()]);
    });
}

#[tokio::test]
async fn a_unique_index_cannot_be_built_over_duplicates() {
    each_target!("idx_build_dups", |t| {
        let coll = t.coll("users");
        coll.insert_many(vec![
            doc! {"_id": 1, "email": "a"},
            doc! {"_id": 2, "email": "a"},
            doc! {"_id": 3, "email": "b"},
        ])
        .await
        .unwrap();
        let err = coll
            .create_index(unique(doc! {"email": 1}))
            .await
            .unwrap_err();
        let (code, message) = failure(&err);
        assert_eq!(code, 11000);
        // "Index build failed: <build UUID>: Collection <ns> ( <collection UUID> ) :: caused by :: E11000 ..."
        let rest = message
            .strip_prefix("Index build failed: ")
            .unwrap_or_else(|| panic!("{message}"));
        let (build, rest) = rest.split_at(36);
        assert_eq!(build.matches('-').count(), 4, "{message}");
        let (collection, cause) = rest.split_once(" ) :: caused by :: ").unwrap();
        assert!(
            collection.starts_with(&format!(": Collection {}.users ( ", t.db)),
            "{message}"
        );
        assert_eq!(cause, e11000(&t, "users", "email_1", "{ email: \"a\" }"));
        assert_eq!(listed(&t, "users").await, vec![id_index()]);
    });
}

#[tokio::test]
async fn expanded_streams_see_index_builds_and_drops() {
    each_target!("idx_events", |t| {
        let people = t.coll("people");
        people
            .insert_one(doc! {"_id": 1, "a": 1, "b": 1})
            .await
            .unwrap();
        let mut stream = t
            .db()
            .watch()
            .show_expanded_events(true)
            .await
            .unwrap()
            .with_type::<Document>();
        // A build over documents is one event for all its indexes.
        people
            .create_indexes(vec![unique(doc! {"a": 1}), plain(doc! {"b": -1})])
            .await
            .unwrap();
        // On a new (empty) collection each index is its own event, after the create.
        t.coll("empty")
            .create_index(plain(doc! {"c": 1}))
            .await
            .unwrap();
        people.drop_index("a_1").await.unwrap();
        let events = take(&mut stream, 4).await;
        let ns = |coll: &str| doc! {"db": &t.db, "coll": coll};
        let a_1 = doc! {"v": 2, "key": {"a": 1}, "name": "a_1", "unique": true};
        assert_eq!(
            shape(&events[0]),
            doc! {"operationType": "createIndexes", "ns": ns("people"), "operationDescription": {"indexes": [a_1.clone(), {"v": 2, "key": {"b": -1}, "name": "b_-1"}]}}
        );
        assert_eq!(events[1].get_str("operationType").unwrap(), "create");
        assert_eq!(events[1].get_document("ns").unwrap(), &ns("empty"));
        assert_eq!(
            shape(&events[2]),
            doc! {"operationType": "createIndexes", "ns": ns("empty"), "operationDescription": {"indexes": [{"v": 2, "key": {"c": 1}, "name": "c_1"}]}}
        );
        assert_eq!(
            shape(&events[3]),
            doc! {"operationType": "dropIndexes", "ns": ns("people"), "operationDescription": {"indexes": [a_1]}}
        );
    });
}

#[tokio::test]
async fn indexes_follow_renames_and_go_with_drops() {
    each_target!("idx_rename_drop", |t| {
        let users = t.coll("users");
        users
            .insert_one(doc! {"_id": 1, "email": "a"})
            .await
            .unwrap();
        users.create_index(unique(doc! {"email": 1})).await.unwrap();
        t.client
            .database("admin")
            .run_command(doc! {
                "renameCollection": format!("{}.users", t.db),
                "to": format!("{}.members", t.db),
            })
            .await
            .unwrap();
        let email_1 = doc! {"v": 2, "key": {"email": 1}, "name": "email_1", "unique": true};
        assert_eq!(listed(&t, "members").await, vec![id_index(), email_1]);
        let members = t.coll("members");
        let err = members
            .insert_one(doc! {"_id": 2, "email": "a"})
            .await
            .unwrap_err();
        assert_eq!(
            failure(&err),
            (11000, e11000(&t, "members", "email_1", "{ email: \"a\" }"))
        );

        members.drop().await.unwrap();
        members
            .insert_many(vec![
                doc! {"_id": 1, "email": "a"},
                doc! {"_id": 2, "email": "a"},
            ])
            .await
            .unwrap();
        assert_eq!(listed(&t, "members").await, vec![id_index()]);
    });
}
