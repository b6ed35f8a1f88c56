//! Resuming: resumeAfter, startAfter, startAtOperationTime, postBatchResumeToken, history loss.

use crate::each_target;
use crate::util::take;
use mongodb::bson::{Document, doc};
use std::time::Duration;

fn id(event: &Document) -> i32 {
    event
        .get_document("documentKey")
        .unwrap()
        .get_i32("_id")
        .unwrap()
}

#[tokio::test]
async fn resume_after_a_token_continues_after_it() {
    each_target!("rs_resume_after", |t| {
        let coll = t.coll("r");
        coll.insert_one(doc! {"_id": 0}).await.unwrap();
        let mut stream = coll.watch().await.unwrap().with_type::<Document>();
        coll.insert_many((1..=3).map(|i| doc! {"_id": i}))
            .await
            .unwrap();
        let first = take(&mut stream, 2).await;
        let token = stream.resume_token().unwrap();
        drop(stream);
        coll.insert_many((4..=5).map(|i| doc! {"_id": i}))
            .await
            .unwrap();
        let mut resumed = coll
            .watch()
            .resume_after(token)
            .await
            .unwrap()
            .with_type::<Document>();
        let rest = take(&mut resumed, 3).await;
        assert_eq!(first.iter().map(id).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(rest.iter().map(id).collect::<Vec<_>>(), vec![3, 4, 5]);
    });
}

#[tokio::test]
async fn start_at_operation_time() {
    each_target!("rs_start_at", |t| {
        let coll = t.coll("r");
        coll.insert_one(doc! {"_id": 1}).await.unwrap();
        let mut stream = coll.watch().await.unwrap().with_type::<Document>();
        coll.insert_one(doc! {"_id": 2}).await.unwrap();
        let event = take(&mut stream, 1).await.remove(0);
        let ts = event.get_timestamp("clusterTime").unwrap();
        coll.insert_one(doc! {"_id": 3}).await.unwrap();
        let mut from_time = coll
            .watch()
            .start_at_operation_time(ts)
            .await
            .unwrap()
            .with_type::<Document>();
        let events = take(&mut from_time, 2).await;
        assert_eq!(events.iter().map(id).collect::<Vec<_>>(), vec![2, 3]);
    });
}

#[tokio::test]
async fn invalidate_start_after_works_resume_after_fails() {
    each_target!("rs_invalidate", |t| {
        let coll = t.coll("gone");
        coll.insert_one(doc! {"_id": 0}).await.unwrap();
        let mut stream = coll.watch().await.unwrap().with_type::<Document>();
        coll.drop().await.unwrap();
        let events = take(&mut stream, 2).await;
        assert_eq!(events[1].get_str("operationType").unwrap(), "invalidate");
        let invalidate_token: mongodb::change_stream::event::ResumeToken =
            mongodb::bson::from_document(
                doc! {"_data": events[1].get_document("_id").unwrap().get_str("_data").unwrap()},
            )
            .unwrap();

        let err = coll
            .watch()
            .resume_after(invalidate_token.clone())
            .await
            .unwrap_err();
        assert!(
            matches!(*err.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == 260),
            "{err}"
        );

        let mut after = coll
            .watch()
            .start_after(invalidate_token)
            .await
            .unwrap()
            .with_type::<Document>();
        coll.insert_one(doc! {"_id": 9}).await.unwrap();
        let events = take(&mut after, 1).await;
        assert_eq!(
            (events[0].get_str("operationType").unwrap(), id(&events[0])),
            ("insert", 9)
        );
    });
}

#[tokio::test]
async fn quiet_streams_advance_their_token() {
    each_target!("rs_pbrt", |t| {
        let watched = t.coll("quiet");
        watched.insert_one(doc! {"_id": 0}).await.unwrap();
        let mut stream = watched
            .watch()
            .max_await_time(Duration::from_millis(100))
            .await
            .unwrap()
            .with_type::<Document>();
        assert!(stream.next_if_any().await.unwrap().is_none());
        let before = stream.resume_token().unwrap();
        t.coll("busy")
            .insert_many((0..5).map(|i| doc! {"_id": i}))
            .await
            .unwrap();
        let mut after = before.clone();
        for _ in 0..50 {
            assert!(
                stream.next_if_any().await.unwrap().is_none(),
                "writes elsewhere are not events here"
            );
            after = stream.resume_token().unwrap();
            if after != before {
                break;
            }
        }
        assert_ne!(
            before, after,
            "the postBatchResumeToken moved past the other collection's writes"
        );
        // Resuming from the advanced token sees only what comes next.
        watched.insert_one(doc! {"_id": 1}).await.unwrap();
        let mut resumed = watched
            .watch()
            .resume_after(after)
            .await
            .unwrap()
            .with_type::<Document>();
        assert_eq!(id(&take(&mut resumed, 1).await[0]), 1);
    });
}

#[tokio::test]
async fn a_token_that_left_the_oplog_is_history_lost() {
    // Needs a tiny oplog: mongosim only.
    let t = crate::util::sim_with(10, "rs_history_lost").await;
    let coll = t.coll("h");
    coll.insert_one(doc! {"_id": 0}).await.unwrap();
    let mut stream = coll.watch().await.unwrap().with_type::<Document>();
    coll.insert_one(doc! {"_id": 1}).await.unwrap();
    take(&mut stream, 1).await;
    let token = stream.resume_token().unwrap();
    drop(stream);
    coll.insert_many((2..40).map(|i| doc! {"_id": i}))
        .await
        .unwrap();
    let err = coll.watch().resume_after(token).await.unwrap_err();
    assert!(
        matches!(*err.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == 286 && c.code_name == "ChangeStreamHistoryLost"),
        "{err}"
    );
}
