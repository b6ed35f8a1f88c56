//! failCommand: the driver's own resume after resumable errors and dropped connections.

use crate::each_target;
use crate::util::{fail_point, take};
use mongodb::bson::{Document, doc};

fn ids(events: &[Document]) -> Vec<i32> {
    events
        .iter()
        .map(|e| {
            e.get_document("documentKey")
                .unwrap()
                .get_i32("_id")
                .unwrap()
        })
        .collect()
}

async fn configure(t: &crate::util::Target, command: Document) -> bool {
    match t.client.database("admin").run_command(command).await {
        Ok(_) => true,
        Err(e) if t.is_real() => {
            eprintln!(
                "skipping on the real server: configureFailPoint failed ({e}); start mongod with enableTestCommands=1"
            );
            false
        }
        Err(e) => panic!("{e}"),
    }
}

async fn off(t: &crate::util::Target) {
    configure(t, doc! {"configureFailPoint": "failCommand", "mode": "off"}).await;
}

#[tokio::test]
async fn resumable_errors_on_get_more_are_resumed_by_the_driver() {
    each_target!("fault_resumable", |t| {
        let coll = t.coll("f");
        coll.insert_one(doc! {"_id": 0}).await.unwrap();
        let mut stream = coll.watch().await.unwrap().with_type::<Document>();
        coll.insert_one(doc! {"_id": 1}).await.unwrap();
        take(&mut stream, 1).await;
        let armed = configure(&t, fail_point(doc! {"times": 1}.into(), doc! {"failCommands": ["getMore"], "errorCode": 6, "errorLabels": ["ResumableChangeStreamError"]})).await;
        if !armed {
            continue;
        }
        coll.insert_many((2..=4).map(|i| doc! {"_id": i}))
            .await
            .unwrap();
        let events = take(&mut stream, 3).await;
        assert_eq!(
            ids(&events),
            vec![2, 3, 4],
            "nothing lost, nothing repeated"
        );
        off(&t).await;
    });
}

#[tokio::test]
async fn a_dropped_connection_is_resumed_by_the_driver() {
    each_target!("fault_close", |t| {
        let coll = t.coll("f");
        coll.insert_one(doc! {"_id": 0}).await.unwrap();
        let mut stream = coll.watch().await.unwrap().with_type::<Document>();
        coll.insert_one(doc! {"_id": 1}).await.unwrap();
        take(&mut stream, 1).await;
        if !configure(
            &t,
            fail_point(
                doc! {"times": 1}.into(),
                doc! {"failCommands": ["getMore"], "closeConnection": true},
            ),
        )
        .await
        {
            continue;
        }
        coll.insert_many((2..=3).map(|i| doc! {"_id": i}))
            .await
            .unwrap();
        assert_eq!(ids(&take(&mut stream, 2).await), vec![2, 3]);
        off(&t).await;
    });
}

#[tokio::test]
async fn errors_without_the_resumable_label_reach_the_application() {
    each_target!("fault_fatal", |t| {
        let coll = t.coll("f");
        coll.insert_one(doc! {"_id": 0}).await.unwrap();
        let mut stream = coll
            .watch()
            .max_await_time(std::time::Duration::from_millis(100))
            .await
            .unwrap()
            .with_type::<Document>();
        if !configure(&t, fail_point(doc! {"times": 1}.into(), doc! {"failCommands": ["getMore"], "errorCode": 280, "errorLabels": ["NonResumableChangeStreamError"]})).await {
            continue;
        }
        // A getMore may already be in flight when the fail point is armed; the next one fails.
        let mut outcome = stream.next_if_any().await;
        for _ in 0..20 {
            if outcome.is_err() {
                break;
            }
            outcome = stream.next_if_any().await;
        }
        let err = outcome.unwrap_err();
        assert!(
            matches!(*err.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == 280),
            "{err}"
        );
        off(&t).await;
    });
}

#[tokio::test]
async fn repeated_resumable_errors_are_each_resumed() {
    each_target!("fault_repeated", |t| {
        let coll = t.coll("f");
        coll.insert_one(doc! {"_id": 0}).await.unwrap();
        let mut stream = coll.watch().await.unwrap().with_type::<Document>();
        coll.insert_one(doc! {"_id": 1}).await.unwrap();
        take(&mut stream, 1).await;
        if !configure(&t, fail_point(doc! {"times": 3}.into(), doc! {"failCommands": ["getMore"], "errorCode": 91, "errorLabels": ["ResumableChangeStreamError"]})).await {
            continue;
        }
        coll.insert_many((2..=3).map(|i| doc! {"_id": i}))
            .await
            .unwrap();
        assert_eq!(ids(&take(&mut stream, 2).await), vec![2, 3]);
        off(&t).await;
    });
}
