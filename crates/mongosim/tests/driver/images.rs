//! fullDocument / fullDocumentBeforeChange with changeStreamPreAndPostImages, and showExpandedEvents.

use crate::each_target;
use crate::util::take;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::{FullDocumentBeforeChangeType, FullDocumentType};

#[tokio::test]
async fn pre_and_post_images_when_the_collection_records_them() {
    each_target!("img_enabled", |t| {
        t.db()
            .run_command(doc! {"create": "img", "changeStreamPreAndPostImages": {"enabled": true}})
            .await
            .unwrap();
        let coll = t.coll("img");
        coll.insert_one(doc! {"_id": 1, "v": 1}).await.unwrap();
        let mut stream = coll
            .watch()
            .full_document(FullDocumentType::Required)
            .full_document_before_change(FullDocumentBeforeChangeType::Required)
            .await
            .unwrap()
            .with_type::<Document>();
        coll.update_one(doc! {"_id": 1}, doc! {"$set": {"v": 2}})
            .await
            .unwrap();
        coll.update_one(doc! {"_id": 1}, doc! {"$set": {"v": 3}})
            .await
            .unwrap();
        coll.delete_one(doc! {"_id": 1}).await.unwrap();
        let events = take(&mut stream, 3).await;
        // Post-images are the document as of each update, unlike updateLookup.
        assert_eq!(
            events[0].get_document("fullDocument").unwrap(),
            &doc! {"_id": 1, "v": 2}
        );
        assert_eq!(
            events[0].get_document("fullDocumentBeforeChange").unwrap(),
            &doc! {"_id": 1, "v": 1}
        );
        assert_eq!(
            events[1].get_document("fullDocument").unwrap(),
            &doc! {"_id": 1, "v": 3}
        );
        assert_eq!(
            events[2].get_document("fullDocumentBeforeChange").unwrap(),
            &doc! {"_id": 1, "v": 3}
        );
    });
}

#[tokio::test]
async fn when_available_gives_null_without_images_and_required_fails() {
    each_target!("img_disabled", |t| {
        let coll = t.coll("plain");
        coll.insert_one(doc! {"_id": 1, "v": 1}).await.unwrap();
        let mut stream = coll
            .watch()
            .full_document(FullDocumentType::WhenAvailable)
            .full_document_before_change(FullDocumentBeforeChangeType::WhenAvailable)
            .await
            .unwrap()
            .with_type::<Document>();
        coll.update_one(doc! {"_id": 1}, doc! {"$set": {"v": 2}})
            .await
            .unwrap();
        let event = take(&mut stream, 1).await.remove(0);
        assert_eq!(event.get("fullDocument"), Some(&Bson::Null));
        assert_eq!(event.get("fullDocumentBeforeChange"), Some(&Bson::Null));

        let mut required = coll
            .watch()
            .full_document(FullDocumentType::Required)
            .max_await_time(std::time::Duration::from_millis(100))
            .await
            .unwrap()
            .with_type::<Document>();
        coll.update_one(doc! {"_id": 1}, doc! {"$set": {"v": 3}})
            .await
            .unwrap();
        let mut outcome = required.next_if_any().await;
        for _ in 0..20 {
            if outcome.is_err() {
                break;
            }
            outcome = required.next_if_any().await;
        }
        assert!(
            outcome.is_err(),
            "a required post-image that does not exist fails the stream"
        );
    });
}

#[tokio::test]
async fn expanded_events_include_create() {
    each_target!("img_expanded", |t| {
        t.coll("seed").insert_one(doc! {"_id": 0}).await.unwrap();
        let mut stream = t
            .db()
            .watch()
            .show_expanded_events(true)
            .await
            .unwrap()
            .with_type::<Document>();
        t.coll("fresh").insert_one(doc! {"_id": 1}).await.unwrap();
        let events = take(&mut stream, 2).await;
        assert_eq!(events[0].get_str("operationType").unwrap(), "create");
        assert_eq!(
            events[0].get_document("ns").unwrap(),
            &doc! {"db": &t.db, "coll": "fresh"}
        );
        assert_eq!(events[1].get_str("operationType").unwrap(), "insert");
    });
}
