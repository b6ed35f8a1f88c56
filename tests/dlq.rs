//! `herald dlq` and per-rule counts in `herald status`.

use crate::util::{Dir, herald, stderr, stdout, write_orders};

const FAILING: &str = "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) {\n    notify(\"ops\", #{ id: event.documentKey._id });\n    webhook(\"missing\", #{ id: event.documentKey._id });\n}\n";
const FIXED: &str = "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) {\n    notify(\"ops\", #{ id: event.documentKey._id });\n}\n";

fn events(dir: &Dir) -> std::path::PathBuf {
    write_orders(dir, "events.jsonl", 1..=2)
}

/// Replays two events through a rule whose webhook is not configured: two dead letters.
fn two_dead_letters(dir: &Dir) -> std::path::PathBuf {
    dir.write("rules/orders.rhai", FAILING);
    let store = dir.join("store");
    let output = herald()
        .arg("replay")
        .arg(events(dir))
        .arg("--rules")
        .arg(dir.join("rules"))
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("2 dead-lettered"),
        "{}",
        stderr(&output)
    );
    store
}

fn dlq(store: &std::path::Path, args: &[&str]) -> std::process::Output {
    herald()
        .arg("dlq")
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .unwrap()
}

fn ids(store: &std::path::Path) -> Vec<String> {
    let out = stdout(&dlq(store, &["list"]));
    out.lines()
        .filter(|l| l.contains("orders"))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}

herald_test!(list_show_retry, |dir| {
    let store = two_dead_letters(&dir);
    let listed = dlq(&store, &["list"]);
    assert!(listed.status.success());
    let out = stdout(&listed);
    assert!(
        out.contains("2 dead letter(s)") && out.contains("no webhook named \"missing\""),
        "{out}"
    );
    let ids = ids(&store);
    assert_eq!(ids.len(), 2);

    let shown = stdout(&dlq(&store, &["show", &ids[0]]));
    assert!(
        shown.contains("rule      orders")
            && shown.contains("attempts  1")
            && shown.contains("\"operationType\": \"insert\""),
        "{shown}"
    );

    // Retrying with the rule unchanged fails again and counts the attempt.
    let again = herald()
        .arg("dlq")
        .arg("--store")
        .arg(&store)
        .arg("--rules")
        .arg(dir.join("rules"))
        .args(["retry", &ids[0]])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1), "{}", stdout(&again));
    assert!(
        stdout(&again).contains("failed again (attempts 2)"),
        "{}",
        stdout(&again)
    );

    // Fixed rule: every entry succeeds and leaves the queue.
    dir.write("rules/orders.rhai", FIXED);
    let fixed = herald()
        .arg("dlq")
        .arg("--store")
        .arg(&store)
        .arg("--rules")
        .arg(dir.join("rules"))
        .args(["retry", "--all"])
        .output()
        .unwrap();
    assert!(
        fixed.status.success(),
        "{}{}",
        stdout(&fixed),
        stderr(&fixed)
    );
    assert_eq!(
        stdout(&fixed).matches("removed from the queue").count(),
        2,
        "{}",
        stdout(&fixed)
    );
    assert!(stdout(&dlq(&store, &["list"])).contains("0 dead letter(s)"));

    // The retried events are now done: a replay from the start skips them.
    let replay = herald()
        .arg("replay")
        .arg(dir.join("events.jsonl"))
        .arg("--rules")
        .arg(dir.join("rules"))
        .arg("--store")
        .arg(&store)
        .arg("--config")
        .arg(dir.write("herald.toml", "[channels.ops]\nkind = \"stdout\"\n"))
        .output()
        .unwrap();
    assert!(
        stderr(&replay).contains("replayed 0 events"),
        "{}",
        stderr(&replay)
    );
});

herald_test!(drop_one_and_all, |dir| {
    let store = two_dead_letters(&dir);
    let ids = ids(&store);
    assert!(dlq(&store, &["drop", &ids[0]]).status.success());
    assert_eq!(self::ids(&store), vec![ids[1].clone()]);
    let unknown = dlq(&store, &["drop", "999999"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(dlq(&store, &["drop", "--all"]).status.success());
    assert!(self::ids(&store).is_empty());
    let neither = dlq(&store, &["drop"]);
    assert_eq!(neither.status.code(), Some(2), "an id or --all is required");
});

herald_test!(status_counts_rules, |dir| {
    let store = two_dead_letters(&dir);
    let status = herald()
        .arg("status")
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", stderr(&status));
    let out = stdout(&status);
    assert!(out.contains("rule orders: 2 matched, 0 succeeded, 2 failed, 0 deduplicated, 2 in the dead-letter queue"), "{out}");
    assert!(
        out.contains("stream file:") && out.contains("position      line 2"),
        "{out}"
    );
});

herald_test!(a_retry_carries_out_only_the_effects_not_yet_done, |dir| {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(async {
        use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};
        let server = MockServer::start().await;
        // The receiver refuses the first call for good (a 400 is not retried), then accepts.
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        server
    });
    dir.write(
        "rules/orders.rhai",
        "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) {\n    notify(\"ops\", #{ id: event.documentKey._id });\n    webhook(\"crm\", #{ id: event.documentKey._id });\n}\n",
    );
    let config = dir.write(
        "herald.toml",
        &format!(
            "rules = \"rules\"\nstore = \"store\"\n[channels.ops]\nkind = \"file\"\npath = \"notices.jsonl\"\n[webhooks.crm]\nurl = \"{}/hook\"\n",
            server.uri()
        ),
    );
    let events = write_orders(&dir, "events.jsonl", [1]);
    let replay = herald()
        .arg("replay")
        .arg(&events)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(replay.status.code(), Some(1), "{}", stderr(&replay));
    let notices = || {
        std::fs::read_to_string(dir.join("notices.jsonl"))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!(notices(), 1);
    let with_config = |args: &[&str]| {
        herald()
            .arg("dlq")
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    };
    let id = stdout(&with_config(&["list"]))
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let shown = stdout(&with_config(&["show", &id]));
    assert!(
        shown.contains("done      effects 0 (a retry skips them)\n"),
        "{shown}"
    );

    let retry = with_config(&["retry", "--all"]);
    assert!(
        retry.status.success(),
        "{}{}",
        stdout(&retry),
        stderr(&retry)
    );
    assert!(
        stdout(&retry).contains("done (1 effect(s)); removed from the queue"),
        "{}",
        stdout(&retry)
    );
    assert_eq!(notices(), 1, "the notice that was sent is not sent again");
    let requests = runtime.block_on(server.received_requests()).unwrap();
    let keys: Vec<&str> = requests
        .iter()
        .map(|r| r.headers.get("Idempotency-Key").unwrap().to_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 2, "the refused call and its retry");
    assert_eq!(keys[0], keys[1], "with the same key");
});

herald_test!(a_retry_of_insert_doc_uses_the_configured_mongodb, |dir| {
    let sim = crate::util::MongoSimProcess::start();
    dir.write(
        "rules/orders.rhai",
        "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) { insert_doc(\"shop.audit\", #{ order: event.documentKey._id }); }\n",
    );
    let events = write_orders(&dir, "events.jsonl", [1]);
    // Without a connection, the insert fails and goes to the dead-letter queue.
    let offline = dir.write("offline.toml", "rules = \"rules\"\nstore = \"store\"\n");
    let replay = herald()
        .arg("replay")
        .arg(&events)
        .arg("--config")
        .arg(&offline)
        .env_remove("HERALD_MONGODB_URI")
        .output()
        .unwrap();
    assert_eq!(replay.status.code(), Some(1), "{}", stderr(&replay));
    let online = dir.write(
        "online.toml",
        &format!(
            "rules = \"rules\"\nstore = \"store\"\n[mongodb]\nuri = \"{}\"\n",
            sim.uri
        ),
    );
    let retry = herald()
        .args(["dlq", "retry", "--all", "--config"])
        .arg(&online)
        .output()
        .unwrap();
    assert!(
        retry.status.success(),
        "{}{}",
        stdout(&retry),
        stderr(&retry)
    );
    let token = herald_core::ResumeToken::new(bson::RawBson::Document(
        bson::RawDocumentBuf::from_document(&bson::doc! {"_data": "0001"}).unwrap(),
    ));
    let key = herald_core::IdempotencyKey::derive("orders", &token, 0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let docs: Vec<bson::Document> = runtime.block_on(async {
        use futures_util::TryStreamExt;
        let client = mongodb::Client::with_uri_str(&sim.uri).await.unwrap();
        client
            .database("shop")
            .collection::<bson::Document>("audit")
            .find(bson::doc! {})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    });
    assert_eq!(docs, [bson::doc! {"_id": key.as_str(), "order": 1}]);
});
