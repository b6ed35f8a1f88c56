//! Bad combinations fail as on the server, and every reply (errors too)
//! carries `$clusterTime` and `operationTime`.

use super::{code, now};
use crate::each_target;
use mongodb::bson::{Bson, Document, Timestamp, doc};
use mongosim::wire::{Header, op_msg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn find_with(read_concern: Document) -> Document {
    doc! {"find": "items", "readConcern": read_concern}
}

#[tokio::test]
async fn bad_read_concerns_fail_as_on_the_server() {
    each_target!("snapshot_bad_read_concern", |t| {
        let db = t.db();
        db.run_command(doc! {"insert": "items", "documents": [{"_id": 1}]})
            .await
            .unwrap();
        let at = now(&db).await;
        let fail = |read_concern: Document| {
            let db = db.clone();
            async move { code(&db.run_command(find_with(read_concern)).await.unwrap_err()) }
        };
        for level in ["local", "majority", "available"] {
            assert_eq!(
                fail(doc! {"level": level, "atClusterTime": at}).await,
                (
                    72,
                    "atClusterTime field can be set only if level is equal to snapshot".into()
                )
            );
        }
        assert_eq!(fail(doc! {"atClusterTime": at}).await.0, 72);
        assert_eq!(
            fail(doc! {"level": "snapshot", "atClusterTime": "bad"})
                .await
                .0,
            14
        );
        assert_eq!(fail(doc! {"level": "nope"}).await.0, 9);
        let future = Timestamp {
            time: at.time + 1000,
            increment: 1,
        };
        let (code, message) = fail(doc! {"level": "snapshot", "atClusterTime": future}).await;
        assert_eq!(code, 72);
        assert!(
            message.starts_with(&format!(
                "readConcern atClusterTime value must not be greater than the current clusterTime. Requested clusterTime: {{ ts: Timestamp({}, 1) }}; current clusterTime: ",
                future.time
            )),
            "{message}"
        );
        // The levels that read the newest data still work, with no time in the reply.
        for level in ["local", "majority", "available"] {
            let reply = db
                .run_command(find_with(doc! {"level": level}))
                .await
                .unwrap();
            let cursor = reply.get_document("cursor").unwrap();
            assert_eq!(cursor.get_array("firstBatch").unwrap().len(), 1);
            assert!(!cursor.contains_key("atClusterTime"), "{reply}");
        }
    });
}

#[tokio::test]
async fn a_change_stream_in_a_snapshot_session_is_refused() {
    each_target!("snapshot_change_stream", |t| {
        let at = now(&t.db()).await;
        let mut session = super::session_at(&t.db(), at).await;
        let Err(error) = t.coll("items").watch().session(&mut session).await else {
            panic!("change streams run at majority only");
        };
        let (code, message) = code(&error);
        assert_eq!(code, 72);
        assert!(
            message.ends_with(
                "Aggregation stage $changeStream cannot run with a readConcern other than 'majority'. Current readConcern: snapshot"
            ),
            "{message}"
        );
        if !t.is_real() {
            assert_eq!(
                message,
                format!(
                    "Command aggregate does not support {{ readConcern: {{ level: \"snapshot\", atClusterTime: Timestamp({}, {}), provenance: \"clientSupplied\" }} }} :: caused by :: Aggregation stage $changeStream cannot run with a readConcern other than 'majority'. Current readConcern: snapshot",
                    at.time, at.increment
                )
            );
        }
        // Majority (what an absent level becomes) still opens the stream.
        t.db()
            .run_command(doc! {
                "aggregate": "items", "pipeline": [{"$changeStream": {}}], "cursor": {},
                "readConcern": {"level": "majority"},
            })
            .await
            .unwrap();
    });
}

#[tokio::test]
async fn count_refuses_snapshot_reads() {
    each_target!("snapshot_count", |t| {
        let db = t.db();
        db.run_command(doc! {"insert": "items", "documents": [{"_id": 1}]})
            .await
            .unwrap();
        let error = db
            .run_command(doc! {"count": "items", "readConcern": {"level": "snapshot"}})
            .await
            .unwrap_err();
        let (code, message) = code(&error);
        assert_eq!(code, 72);
        assert!(
            message
                .starts_with("Command count does not support { readConcern: { level: \"snapshot\"")
                && message.ends_with(" :: caused by :: read concern snapshot not supported"),
            "{message}"
        );
        let reply = db
            .run_command(doc! {"count": "items", "readConcern": {"level": "majority"}})
            .await
            .unwrap();
        assert_eq!(reply.get_i32("n"), Ok(1));
    });
}

#[tokio::test]
async fn a_standalone_refuses_snapshot_reads() {
    let sim = mongosim::MongoSim::builder()
        .standalone(true)
        .start()
        .await
        .unwrap();
    let client = mongodb::Client::with_uri_str(sim.uri()).await.unwrap();
    let error = client
        .database("d")
        .run_command(find_with(doc! {"level": "snapshot"}))
        .await
        .unwrap_err();
    assert_eq!(
        code(&error),
        (
            123,
            "node needs to be a replica set member to use readConcern: snapshot".into()
        )
    );
}

/// Sends one command over a raw connection and returns the reply as sent.
async fn raw(sim: &mongosim::MongoSim, cmd: Document) -> Document {
    let mut stream = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    stream.write_all(&op_msg::encode(1, 0, &cmd)).await.unwrap();
    let mut header = [0u8; 16];
    stream.read_exact(&mut header).await.unwrap();
    let header = Header::parse(&header);
    let mut payload = vec![0u8; header.length as usize - 16];
    stream.read_exact(&mut payload).await.unwrap();
    op_msg::parse(&payload).unwrap().0
}

#[tokio::test]
async fn every_reply_carries_the_cluster_time() {
    let sim = mongosim::MongoSim::builder().start().await.unwrap();
    raw(
        &sim,
        doc! {"insert": "c", "documents": [{"_id": 1}, {"_id": 2}], "$db": "d"},
    )
    .await;
    let find = raw(
        &sim,
        doc! {"find": "c", "batchSize": 1, "readConcern": {"level": "snapshot"}, "$db": "d"},
    )
    .await;
    let at = find
        .get_document("cursor")
        .unwrap()
        .get_timestamp("atClusterTime")
        .unwrap();
    let id = find.get_document("cursor").unwrap().get_i64("id").unwrap();
    let get_more = raw(&sim, doc! {"getMore": id, "collection": "c", "$db": "d"}).await;
    let aggregate = raw(
        &sim,
        doc! {"aggregate": "c", "pipeline": [], "cursor": {}, "readConcern": {"level": "snapshot", "atClusterTime": at}, "$db": "d"},
    )
    .await;
    let error = raw(
        &sim,
        doc! {"find": "c", "readConcern": {"level": "majority", "atClusterTime": at}, "$db": "d"},
    )
    .await;
    assert_eq!(error.get_f64("ok"), Ok(0.0));
    for reply in [&find, &get_more, &aggregate, &error] {
        assert_eq!(reply.get_timestamp("operationTime"), Ok(at), "{reply}");
        let cluster = reply.get_document("$clusterTime").unwrap();
        assert_eq!(cluster.get_timestamp("clusterTime"), Ok(at), "{reply}");
        assert!(matches!(cluster.get("signature"), Some(Bson::Document(_))));
    }
    assert_eq!(
        get_more
            .get_document("cursor")
            .unwrap()
            .get_array("nextBatch")
            .unwrap(),
        &vec![Bson::Document(doc! {"_id": 2})]
    );
}
