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
async fn disjoint_targets_open_a_stream_each() {
    let t = Target::sim(MongoSim::builder().start().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[
            ("shop", &rule(&t.ns("shop.orders"), "\"insert\"", "")),
            ("hr", &rule(&t.ns("hr"), "\"insert\"", "")),
            ("ops", &rule(&t.ns("ops.audit"), "\"insert\"", "")),
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
        [("hr".into(), 2), ("ops".into(), 3), ("shop".into(), 1)]
    );
    let open = open_streams(&t);
    let summary = running.stop().await.unwrap();
    assert_eq!(open, 3, "{summary:?}");
}

/// Rules on a collection, its database and the whole cluster: one cluster
/// stream carries all three, and each rule runs exactly once per event.
#[tokio::test]
async fn overlapping_targets_share_one_stream_and_run_each_rule_once() {
    let t = Target::any("overlap").await;
    let dir = tempfile::tempdir().unwrap();
    let all = format!("\"ns.db\": \"{}\"", t.ns("st"));
    let rules_dir = rules(
        dir.path(),
        &[
            ("coll", &rule(&t.ns("st.docs"), "\"insert\"", "")),
            ("db", &rule(&t.ns("st"), "\"insert\"", "")),
            ("all", &rule("*", "\"insert\"", &all)),
        ],
    );
    let (recorder, running) = launch(&t, &rules_dir, dir.path(), 1).await;
    let docs = coll(&t, "st", "docs").await;
    for i in 1..=10 {
        docs.insert_one(doc! {"_id": i}).await.unwrap();
    }
    // An event in the database but not the collection: the db and cluster rules only.
    coll(&t, "st", "other")
        .await
        .insert_one(doc! {"_id": 11})
        .await
        .unwrap();
    // Wait for the last event's effects; anything doubled is counted below.
    recorder
        .wait_for("the event in st.other", |s| {
            s.iter().filter(|e| e.args.get_i32("id") == Ok(11)).count() >= 2
        })
        .await;
    if t.sim.is_some() {
        assert_eq!(open_streams(&t), 1, "three targets, one stream");
    }
    let summary = running.stop().await.unwrap();
    let seen = recorder.all();
    for (rule, ids) in [("coll", 1..=10), ("db", 1..=11), ("all", 1..=11)] {
        let mut got: Vec<i32> = seen
            .iter()
            .filter(|s| s.rule == rule)
            .map(|s| s.args.get_i32("id").unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(
            got,
            ids.collect::<Vec<_>>(),
            "rule {rule}, exactly once each"
        );
    }
    assert_eq!(summary.matched, 10 + 11 + 11, "{summary:?}");
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
    // The database target carries the collection's events: one stream.
    let (recorder, running) = launch(&t, &rules_dir, dir.path(), 1).await;
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
    // Events of different documents and namespaces run in parallel, so
    // they may complete in any order: wait for the last of each kind.
    let op_count =
        |s: &[Seen], op: &str| s.iter().filter(|e| e.args.get_str("op") == Ok(op)).count();
    recorder
        .wait_for("every kind", |s| {
            op_count(s, "dropDatabase") == 1
                && op_count(s, "drop") == 2
                && op_count(s, "rename") == 1
        })
        .await;
    running.stop().await.unwrap();
    let seen = recorder.wait_for("the run's effects", |_| true).await;
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
    // dropDatabase drops each remaining collection (d.c and d.renamed) first.
    assert_eq!(
        got.iter().filter(|g| **g == expect("life", "drop")).count(),
        2,
        "{got:?}"
    );
    assert!(!got.iter().any(|g| g.0 == "ins" && g.1 != "insert"));
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

/// An `invalidate` has no namespace: it concerns the rules of the stream that
/// delivered it, not every rule that names the operation type.
#[tokio::test]
async fn an_invalidate_reaches_only_the_rules_of_its_stream() {
    let t = Target::any("invalidate_scope").await;
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[
            ("a", &rule(&t.ns("d1.c"), "\"insert\", \"invalidate\"", "")),
            ("b", &rule(&t.ns("d2.c"), "\"insert\", \"invalidate\"", "")),
        ],
    );
    let (recorder, running) = launch(&t, &rules_dir, dir.path(), 2).await;
    let c1 = coll(&t, "d1", "c").await;
    c1.insert_one(doc! {"_id": 1}).await.unwrap();
    coll(&t, "d2", "c")
        .await
        .insert_one(doc! {"_id": 2})
        .await
        .unwrap();
    c1.drop().await.unwrap();
    recorder
        .wait_for("the invalidate", |s| {
            s.iter().any(|e| e.args.get_str("op") == Ok("invalidate"))
        })
        .await;
    running.stop().await.unwrap();
    let mut got: Vec<(String, String)> = recorder
        .all()
        .iter()
        .map(|s| (s.rule.clone(), s.args.get_str("op").unwrap().to_owned()))
        .collect();
    got.sort();
    let pair = |r: &str, o: &str| (r.to_owned(), o.to_owned());
    assert_eq!(
        got,
        [
            pair("a", "insert"),
            pair("a", "invalidate"),
            pair("b", "insert")
        ]
    );
}

/// Expanded events (`create`, `createIndexes`, ...) arrive only with
/// `showExpandedEvents`, which herald sets when a rule names one.
#[tokio::test]
async fn a_rule_on_expanded_events_receives_them() {
    let t = Target::any("expanded").await;
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[(
            "ddl",
            &rule(&t.ns("d.c"), "\"create\", \"createIndexes\"", ""),
        )],
    );
    let (recorder, running) = launch(&t, &rules_dir, dir.path(), 1).await;
    let client = mongodb::Client::with_uri_str(t.uri()).await.unwrap();
    let db = client.database(&t.ns("d"));
    db.create_collection("c").await.unwrap();
    db.run_command(doc! {
        "createIndexes": "c",
        "indexes": [{"key": {"n": 1}, "name": "n_1"}],
    })
    .await
    .unwrap();
    recorder
        .wait_for("create and createIndexes", |s| s.len() >= 2)
        .await;
    running.stop().await.unwrap();
    let ops: Vec<String> = recorder
        .all()
        .iter()
        .map(|s| s.args.get_str("op").unwrap().to_owned())
        .collect();
    assert_eq!(ops, ["create", "createIndexes"]);
}

/// Rules share their stream's options, but each sees the event as its own
/// options ask: a rule with the default `full_document` neither sees nor
/// matches on the `fullDocument` another rule's `updateLookup` brought.
#[tokio::test]
async fn each_rule_sees_the_event_as_its_options_ask() {
    let t = Target::any("as_asked").await;
    let dir = tempfile::tempdir().unwrap();
    let rule = |options: &str, filter: &str| {
        format!(
            "const RULE = #{{ watch: \"{}\", on: [\"update\"]{options}, filter: #{{ {filter} }} }};\nfn handle(event) {{ notify(\"out\", #{{ full: \"fullDocument\" in event }}); }}\n",
            t.ns("d.c")
        )
    };
    let rules_dir = rules(
        dir.path(),
        &[
            ("lookup", &rule(", full_document: \"updateLookup\"", "")),
            ("plain", &rule("", "")),
            // Matches only where there is no fullDocument: for this rule, every update.
            (
                "absent",
                &rule("", "\"fullDocument.n\": #{ \"$exists\": false }"),
            ),
        ],
    );
    let (recorder, running) = launch(&t, &rules_dir, dir.path(), 1).await;
    let c = coll(&t, "d", "c").await;
    c.insert_one(doc! {"_id": 1, "n": 1}).await.unwrap();
    c.update_one(doc! {"_id": 1}, doc! {"$set": {"n": 2}})
        .await
        .unwrap();
    recorder.wait_for("three effects", |s| s.len() >= 3).await;
    running.stop().await.unwrap();
    let mut got: Vec<(String, bool)> = recorder
        .all()
        .iter()
        .map(|s| (s.rule.clone(), s.args.get_bool("full").unwrap()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("absent".to_owned(), false),
            ("lookup".to_owned(), true),
            ("plain".to_owned(), false)
        ]
    );
}

/// One rule requires pre-images the collection does not record: only that
/// rule fails (each such event goes to the dead-letter queue with why); the
/// stream and the other rules go on.
#[tokio::test]
async fn a_rule_requiring_a_missing_image_fails_alone() {
    let t = Target::any("required_alone").await;
    let dir = tempfile::tempdir().unwrap();
    let rule = |options: &str| {
        format!(
            "const RULE = #{{ watch: \"{}\", on: [\"update\"]{options} }};\nfn handle(event) {{ notify(\"out\", #{{ id: event.documentKey._id }}); }}\n",
            t.ns("d.c")
        )
    };
    let rules_dir = rules(
        dir.path(),
        &[
            (
                "needs",
                &rule(", full_document_before_change: \"required\""),
            ),
            ("plain", &rule("")),
        ],
    );
    let (recorder, running) = launch(&t, &rules_dir, dir.path(), 1).await;
    let c = coll(&t, "d", "c").await;
    c.insert_one(doc! {"_id": 1, "n": 1}).await.unwrap();
    for n in 2..=3 {
        c.update_one(doc! {"_id": 1}, doc! {"$set": {"n": n}})
            .await
            .unwrap();
    }
    recorder
        .wait_for("both updates for plain", |s| s.len() >= 2)
        .await;
    let store = running.store.clone();
    let summary = running.stop().await.unwrap();
    assert_eq!(
        (
            summary.effects,
            summary.dead_lettered,
            summary.streams_failed
        ),
        (2, 2, 0)
    );
    assert!(recorder.all().iter().all(|s| s.rule == "plain"));
    let letters: Vec<_> = store.dead_letters().collect::<Result<_, _>>().unwrap();
    assert_eq!(letters.len(), 2);
    assert!(
        letters
            .iter()
            .all(|l| l.rule == "needs" && l.error.contains("changeStreamPreAndPostImages")),
        "{:?}",
        letters.iter().map(|l| &l.error).collect::<Vec<_>>()
    );
}

/// A target's stages apply to every event of it, whichever rule receives it
/// (one on the whole cluster too), and to no other target's events.
#[tokio::test]
async fn stages_apply_to_every_event_of_their_target_and_no_other() {
    let t = Target::any("stages").await;
    let dir = tempfile::tempdir().unwrap();
    let rule = |target: &str, filter: &str| {
        format!(
            "const RULE = #{{ watch: \"{target}\", on: [\"insert\"], filter: #{{ {filter} }} }};\nfn handle(event) {{\n    let doc = event.fullDocument;\n    notify(\"out\", #{{ id: event.documentKey._id, fields: doc.keys() }});\n}}\n"
        )
    };
    let shop = format!("\"ns.db\": \"{}\"", t.ns("shop"));
    let rules_dir = rules(
        dir.path(),
        &[
            ("orders", &rule(&t.ns("shop.orders"), "")),
            ("all", &rule("*", &shop)),
        ],
    );
    let mut options = quick_options();
    options.stages.insert(
        t.ns("shop.orders").parse().unwrap(),
        vec![doc! {"$unset": "fullDocument.card"}],
    );
    let streams = if t.sim.is_some() { 2 } else { 0 };
    let (recorder, running) = launch_with(&t, &rules_dir, dir.path(), streams, options).await;
    coll(&t, "shop", "orders")
        .await
        .insert_one(doc! {"_id": 1, "card": "4111", "amount": 5})
        .await
        .unwrap();
    coll(&t, "shop", "other")
        .await
        .insert_one(doc! {"_id": 2, "card": "4242"})
        .await
        .unwrap();
    recorder.wait_for("three effects", |s| s.len() >= 3).await;
    running.stop().await.unwrap();
    let mut got: Vec<(String, i32, Vec<String>)> = recorder
        .all()
        .iter()
        .map(|s| {
            let fields = s
                .args
                .get_array("fields")
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_owned())
                .collect();
            (s.rule.clone(), s.args.get_i32("id").unwrap(), fields)
        })
        .collect();
    got.sort();
    let f = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        got,
        [
            ("all".to_owned(), 1, f(&["_id", "amount"])),
            ("all".to_owned(), 2, f(&["_id", "card"])),
            ("orders".to_owned(), 1, f(&["_id", "amount"])),
        ]
    );
}

/// The README's stages: a large field unset, secret events pruned on the
/// server, so neither reaches herald.
#[tokio::test]
async fn the_readme_stages_keep_secrets_on_the_server() {
    let t = Target::any("readme_stages").await;
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[(
            "expenses",
            &format!(
                "const RULE = #{{ watch: \"{}\", on: [\"insert\"] }};\nfn handle(event) {{\n    let doc = event.fullDocument;\n    notify(\"out\", #{{ id: event.documentKey._id, fields: doc.keys() }});\n}}\n",
                t.ns("finance.expenses")
            ),
        )],
    );
    let config = herald_engine::Config::parse(&format!(
        "[mongodb.streams.\"{}\"]\nstages = [\n  {{ \"$unset\" = \"fullDocument.receiptImage\" }},\n  {{ \"$redact\" = {{ \"$cond\" = {{ if = {{ \"$eq\" = [\"$fullDocument.classification\", \"secret\"] }}, then = \"$$PRUNE\", else = \"$$DESCEND\" }} }} }},\n]\n",
        t.ns("finance.expenses")
    ))
    .unwrap();
    let options = herald_ingest::mongo::MongoSourceOptions {
        stages: config.mongodb.source_options().unwrap().stages,
        ..quick_options()
    };
    let (recorder, running) = launch_with(&t, &rules_dir, dir.path(), 1, options).await;
    let expenses = coll(&t, "finance", "expenses").await;
    expenses
        .insert_one(doc! {"_id": 1, "classification": "secret", "receiptImage": "…"})
        .await
        .unwrap();
    expenses
        .insert_one(doc! {"_id": 2, "classification": "internal", "receiptImage": "…"})
        .await
        .unwrap();
    let seen = recorder
        .wait_for("the internal expense", |s| !s.is_empty())
        .await;
    let summary = running.stop().await.unwrap();
    assert_eq!(summary.events, 1, "the secret event never left the server");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].args.get_i32("id"), Ok(2));
    let fields: Vec<&str> = seen[0]
        .args
        .get_array("fields")
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(fields, ["_id", "classification"]);
}

/// A user `$match` on documents cannot hide the drop a target's policy acts
/// on: lifecycle events pass it, and rules still get only what they name.
#[tokio::test]
async fn a_user_match_stage_lets_the_drop_through() {
    let t = Target::any("user_match").await;
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = rules(
        dir.path(),
        &[
            ("docs", &rule(&t.ns("shop.orders"), "\"insert\"", "")),
            ("life", &rule(&t.ns("shop.orders"), "\"drop\"", "")),
        ],
    );
    let mut options = quick_options();
    options.stages.insert(
        t.ns("shop.orders").parse().unwrap(),
        vec![doc! {"$match": {"fullDocument.kind": "a"}}],
    );
    let (recorder, running) = launch_with(&t, &rules_dir, dir.path(), 1, options).await;
    let orders = coll(&t, "shop", "orders").await;
    orders
        .insert_one(doc! {"_id": 1, "kind": "a"})
        .await
        .unwrap();
    orders
        .insert_one(doc! {"_id": 2, "kind": "b"})
        .await
        .unwrap();
    orders.drop().await.unwrap();
    recorder
        .wait_for("the drop", |s| s.iter().any(|e| e.rule == "life"))
        .await;
    running.stop().await.unwrap();
    let mut got: Vec<(String, String)> = recorder
        .all()
        .iter()
        .map(|s| (s.rule.clone(), s.args.get_str("op").unwrap().to_owned()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("docs".to_owned(), "insert".to_owned()),
            ("life".to_owned(), "drop".to_owned())
        ]
    );
}
