//! Events over 16 MiB: joined from `$changeStreamSplitLargeEvent` fragments
//! with `split_large_events`, a stop that names the option without it.
//!
//! A document of ~9 MiB is updated in a collection that records pre- and
//! post-images; its event, carrying both, is ~18 MiB.

use crate::harness::*;
use bson::doc;
use herald_ingest::mongo::MongoSourceOptions;

const IMAGE: usize = 9 * 1024 * 1024;

/// A rule on updates that wants both images, and says which fields each has.
fn images_rule(ns: &str) -> String {
    format!(
        "const RULE = #{{ watch: \"{ns}\", on: [\"update\"], full_document: \"required\", full_document_before_change: \"required\" }};\nfn handle(event) {{\n    let after = event.fullDocument;\n    let before = event.fullDocumentBeforeChange;\n    notify(\"out\", #{{ id: event.documentKey._id, after: after.keys(), before: before.keys(), v: after.v }});\n}}\n"
    )
}

/// Creates `d.big` with images recorded and a ~9 MiB document in it.
async fn big_document(t: &Target) -> mongodb::Collection<bson::Document> {
    let client = mongodb::Client::with_uri_str(t.uri()).await.unwrap();
    let db = client.database(&t.ns("d"));
    db.run_command(doc! { "create": "big", "changeStreamPreAndPostImages": { "enabled": true } })
        .await
        .unwrap();
    let big = db.collection::<bson::Document>("big");
    big.insert_one(doc! { "_id": 1, "s": "x".repeat(IMAGE), "v": 1 })
        .await
        .unwrap();
    big
}

#[tokio::test]
async fn a_large_event_arrives_whole_with_split_large_events() {
    let t = Target::sim(mongosim::MongoSim::builder().start().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(dir.path(), &[("images", &images_rule(&t.ns("d.big")))]);
    let options = MongoSourceOptions {
        split_large_events: true,
        ..quick_options()
    };
    let big = big_document(&t).await;
    let (recorder, running) = launch_with(&t, &rules_dir, dir.path(), 1, options).await;
    big.update_one(doc! {"_id": 1}, doc! {"$set": {"v": 2}})
        .await
        .unwrap();
    big.update_one(doc! {"_id": 1}, doc! {"$set": {"v": 3}})
        .await
        .unwrap();
    let seen = recorder.wait_for("both updates", |s| s.len() >= 2).await;
    let summary = running.stop().await.unwrap();
    assert_eq!((summary.events, summary.matched), (2, 2), "{summary:?}");
    let fields = |s: &Seen, key: &str| -> Vec<String> {
        s.args
            .get_array(key)
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect()
    };
    for (s, v) in seen.iter().zip([2, 3]) {
        assert_eq!(s.args.get_i32("v"), Ok(v));
        assert_eq!(fields(s, "after"), ["_id", "s", "v"]);
        assert_eq!(fields(s, "before"), ["_id", "s", "v"]);
    }
}

#[tokio::test]
async fn without_split_large_events_the_stream_stops_and_says_why() {
    let t = Target::sim(mongosim::MongoSim::builder().start().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(dir.path(), &[("images", &images_rule(&t.ns("d.big")))]);
    let big = big_document(&t).await;
    let (_recorder, running) = launch(&t, &rules_dir, dir.path(), 1).await;
    big.update_one(doc! {"_id": 1}, doc! {"$set": {"v": 2}})
        .await
        .unwrap();
    let summary = running.finished().await.unwrap();
    assert_eq!(summary.streams_failed, 1, "{summary:?}");
    assert!(
        summary.stream_failures[0].contains("BSONObjectTooLarge")
            || summary.stream_failures[0].contains("10334"),
        "{summary:?}"
    );
    assert!(
        summary.stream_failures[0].contains("set split_large_events = true"),
        "{summary:?}"
    );
}
