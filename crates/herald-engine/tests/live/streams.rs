//! Many rules on few streams; every operation type to the right rules.

use crate::harness::*;
use bson::doc;
use mongosim::MongoSim;

#[tokio::test]
async fn rules_on_one_collection_share_one_stream() {
    let t = Target::any("one_stream").await;
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[
            (
                "a",
                &rule(
                    &t.ns("shop.orders"),
                    "\"insert\"",
                    "\"fullDocument.total\": #{ \"$gte\": 100 }",
                ),
            ),
            (
                "b",
                &rule(&t.ns("shop.orders"), "\"insert\", \"update\"", ""),
            ),
            ("c", &rule(&t.ns("shop.orders"), "\"delete\"", "")),
        ],
    );
    let (recorder, running) = launch(&t, &rules_dir, dir.path(), 1).await;
    let orders = coll(&t, "shop", "orders").await;
    orders
        .insert_one(doc! {"_id": 1, "total": 150})
        .await
        .unwrap();
    orders
        .insert_one(doc! {"_id": 2, "total": 50})
        .await
        .unwrap();
    orders.delete_one(doc! {"_id": 2}).await.unwrap();
    let seen = recorder.wait_for("4 effects", |s| s.len() >= 4).await;
    if t.sim.is_some() {
        assert_eq!(open_streams(&t), 1, "three rules, one stream");
    }
    let mut pairs: Vec<(String, i32)> = seen
        .iter()
        .map(|s| (s.rule.clone(), s.args.get_i32("id").unwrap()))
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("a".into(), 1),
            ("b".into(), 1),
            ("b".into(), 2),
            ("c".into(), 2)
        ]
    );
    running.stop().await.unwrap();
}

#[tokio::test]
async fn two_databases_and_the_cluster_open_three_streams() {
    let t = Target::sim(MongoSim::builder().start().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[
            ("shop", &rule(&t.ns("shop.orders"), "\"insert\"", "")),
            ("hr", &rule(&t.ns("hr"), "\"insert\"", "")),
            ("all", &rule("*", "\"insert\"", "\"ns.coll\": \"audit\"")),
        ],
    );
    let (recorder, running) = launch(&t, &rules_dir, dir.path(), 3).await;
    coll(&t, "shop", "orders")
        .await
        .insert_one(doc! {"_id": 1})
        .await
        .unwrap();
    coll(&t, "hr", "people")
        .await
        .insert_one(doc! {"_id": 2})
        .await
        .unwrap();
    coll(&t, "ops", "audit")
        .await
        .insert_one(doc! {"_id": 3})
        .await
        .unwrap();
    let seen = recorder.wait_for("3 effects", |s| s.len() >= 3).await;
    let mut rules: Vec<(String, i32)> = seen
        .iter()
        .map(|s| (s.rule.clone(), s.args.get_i32("id").unwrap()))
        .collect();
    rules.sort();
    assert_eq!(
        rules,
        [("all".into(), 3), ("hr".into(), 2), ("shop".into(), 1)]
    );
    let open = open_streams(&t);
    let summary = running.stop().await.unwrap();
    assert_eq!(open, 3, "{summary:?}");
}

#[tokio::test]
async fn every_operation_type_reaches_the_rules_that_name_it() {
    let t = Target::any("every_op").await;
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[
            ("ins", &rule(&t.ns("d.c"), "\"insert\"", "")),
            (
                "upd",
                &rule(
                    &t.ns("d.c"),
                    "\"update\"",
                    "\"updateDescription.updatedFields.s\": \"paid\"",
                ),
            ),
            ("rep", &rule(&t.ns("d.c"), "\"replace\"", "")),
            ("del", &rule(&t.ns("d.c"), "\"delete\"", "")),
            (
                "life",
                &rule(&t.ns("d"), "\"drop\", \"rename\", \"dropDatabase\"", ""),
            ),
        ],
    );
    let (recorder, running) = launch(&t, &rules_dir, dir.path(), 2).await;
    let c = coll(&t, "d", "c").await;
    c.insert_one(doc! {"_id": 1, "s": "new"}).await.unwrap();
    c.update_one(doc! {"_id": 1}, doc! {"$set": {"note": "x"}})
        .await
        .unwrap();
    c.update_one(doc! {"_id": 1}, doc! {"$set": {"s": "paid"}})
        .await
        .unwrap();
    c.replace_one(doc! {"_id": 1}, doc! {"s": "replaced"})
        .await
        .unwrap();
    c.delete_one(doc! {"_id": 1}).await.unwrap();
    coll(&t, "d", "other")
        .await
        .insert_one(doc! {"_id": 9})
        .await
        .unwrap();
    let client = mongodb::Client::with_uri_str(t.uri()).await.unwrap();
    client
        .database("admin")
        .run_command(doc! {"renameCollection": format!("{}.other", t.ns("d")), "to": format!("{}.renamed", t.ns("d"))})
        .await
        .unwrap();
    client.database(&t.ns("d")).drop().await.unwrap();
    let seen = recorder
        .wait_for("every kind", |s| {
            s.iter().any(|e| e.args.get_str("op") == Ok("dropDatabase"))
        })
        .await;
    let got: Vec<(String, String)> = seen
        .iter()
        .map(|s| (s.rule.clone(), s.args.get_str("op").unwrap().to_owned()))
        .collect();
    let expect = |rule: &str, op: &str| (rule.to_owned(), op.to_owned());
    for wanted in [
        expect("ins", "insert"),
        expect("upd", "update"),
        expect("rep", "replace"),
        expect("del", "delete"),
        expect("life", "rename"),
        expect("life", "dropDatabase"),
    ] {
        assert_eq!(
            got.iter().filter(|g| **g == wanted).count(),
            1,
            "{wanted:?} in {got:?}"
        );
    }
    assert_eq!(
        got.iter().filter(|g| g.0 == "upd").count(),
        1,
        "the update without status paid matches no rule"
    );
    assert!(got.iter().any(|g| *g == expect("life", "drop")), "{got:?}");
    assert!(!got.iter().any(|g| g.0 == "ins" && g.1 != "insert"));
    running.stop().await.unwrap();
}

/// A batch is handed on as soon as the server's batch is read, not when the
/// next getMore (which waits up to `maxAwaitTimeMS` for more) returns.
#[tokio::test]
async fn events_do_not_wait_for_the_next_get_more() {
    let t = Target::any("no_wait").await;
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[("a", &rule(&t.ns("shop.orders"), "\"insert\"", ""))],
    );
    let options = herald_ingest::mongo::MongoSourceOptions {
        // Far longer than the recorder waits: a batch held for the next getMore fails the test.
        max_await: std::time::Duration::from_secs(120),
        ..quick_options()
    };
    let (recorder, running) = launch_with(&t, &rules_dir, dir.path(), 1, options).await;
    let orders = coll(&t, "shop", "orders").await;
    orders
        .insert_many((1..=3).map(|i| doc! {"_id": i}))
        .await
        .unwrap();
    let seen = recorder.wait_for("3 effects", |s| s.len() >= 3).await;
    assert_eq!(seen.len(), 3);
    running.stop().await.unwrap();
}
