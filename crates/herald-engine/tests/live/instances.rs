//! Two processes given one instance name: the second is told, and neither
//! counts twice nor takes the other's record.

use crate::harness::*;
use herald_engine::cluster::{Announced, Leases};
use std::time::Duration;

async fn process(t: &Target, name: &str) -> Leases {
    let client = mongodb::Client::with_uri_str(t.uri()).await.unwrap();
    let database = client.database(&t.ns("herald_instances"));
    Leases::new(&database, name, 4, Duration::from_secs(60))
}

#[tokio::test]
async fn a_second_process_under_a_live_name_is_told_and_writes_nothing() {
    let t = Target::any("a_second_process_under_a_live_name_is_told_and_writes_nothing").await;
    let first = process(&t, "same").await;
    let second = process(&t, "same").await;
    assert_eq!(first.announce().await.unwrap(), Announced::Alive);
    let Announced::NameInUse { until_ms } = second.announce().await.unwrap() else {
        panic!("the second process was let in under a live name");
    };
    let (_, first_until) = first.instances().await.unwrap()[0].clone();
    assert_eq!(
        until_ms, first_until,
        "the record is the first process's, untouched"
    );
    // The first goes on announcing itself; it is still one instance.
    assert_eq!(first.announce().await.unwrap(), Announced::Alive);
    assert_eq!(first.live_instances().await.unwrap(), 1);
    // Its retirement frees the name; the second's retire before that
    // removed nothing of the first's.
    second.retire().await.unwrap();
    assert_eq!(first.instances().await.unwrap().len(), 1);
    first.retire().await.unwrap();
    assert_eq!(second.announce().await.unwrap(), Announced::Alive);
    assert_eq!(
        first.announce().await.unwrap(),
        Announced::NameInUse {
            until_ms: second.instances().await.unwrap()[0].1
        }
    );
}

#[tokio::test]
async fn a_lapsed_record_of_the_same_name_is_taken_over() {
    let t = Target::any("a_lapsed_record_of_the_same_name_is_taken_over").await;
    let client = mongodb::Client::with_uri_str(t.uri()).await.unwrap();
    let database = client.database(&t.ns("herald_instances_lapsed"));
    // A killed process's record, lapsed a second ago.
    database
        .collection::<bson::Document>(herald_engine::cluster::INSTANCES)
        .insert_one(bson::doc! {
            "_id": "same",
            "process": "killed",
            "expires": bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() - 1_000),
        })
        .await
        .unwrap();
    let restarted = Leases::new(&database, "same", 4, Duration::from_secs(60));
    assert_eq!(restarted.announce().await.unwrap(), Announced::Alive);
    assert_eq!(restarted.live_instances().await.unwrap(), 1);
}
