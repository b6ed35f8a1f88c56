//! `herald dlq retry`: only the effects not yet done, with the same keys,
//! through the configured channels and MongoDB.

use crate::util::{herald, server_runtime, stderr, stdout, write_orders};

herald_test!(a_retry_carries_out_only_the_effects_not_yet_done, |dir| {
    let runtime = server_runtime();
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

/// A webhook server whose paths refuse (400) a number of times, then accept.
fn refusing_server(
    runtime: &tokio::runtime::Runtime,
    refusals: &[(&str, u64)],
) -> wiremock::MockServer {
    runtime.block_on(async {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        for (at, times) in refusals {
            Mock::given(method("POST"))
                .and(path(*at))
                .respond_with(ResponseTemplate::new(400))
                .up_to_n_times(*times)
                .mount(&server)
                .await;
        }
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        server
    })
}

herald_test!(each_retry_records_what_it_completed, |dir| {
    let runtime = server_runtime();
    let server = refusing_server(&runtime, &[("/a", 1), ("/b", 1)]);
    dir.write(
        "rules/orders.rhai",
        "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) {\n    notify(\"ops\", #{ id: event.documentKey._id });\n    webhook(\"a\", #{ id: event.documentKey._id });\n    webhook(\"b\", #{ id: event.documentKey._id });\n}\n",
    );
    let config = dir.write(
        "herald.toml",
        &format!(
            "rules = \"rules\"\nstore = \"store\"\n[channels.ops]\nkind = \"file\"\npath = \"notices.jsonl\"\n[webhooks.a]\nurl = \"{0}/a\"\n[webhooks.b]\nurl = \"{0}/b\"\n",
            server.uri()
        ),
    );
    let events = write_orders(&dir, "events.jsonl", [1]);
    let run = |args: &[&str]| {
        herald()
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    };
    let replay = run(&["replay", events.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(1), "{}", stderr(&replay));
    let id = stdout(&run(&["dlq", "list"]))
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let show = |expect: &str| {
        let shown = stdout(&run(&["dlq", "show", &id]));
        assert!(shown.contains(expect), "{shown}");
    };
    show("done      effects 0 (a retry skips them)\n");
    // The first retry gets past webhook a and fails at b; it records both.
    let first = run(&["dlq", "retry", &id]);
    assert_eq!(first.status.code(), Some(1), "{}", stdout(&first));
    show("done      effects 0, 1 (a retry skips them)\n");
    let second = run(&["dlq", "retry", &id]);
    assert!(second.status.success(), "{}", stdout(&second));
    assert!(
        stdout(&second).contains("done (1 effect(s))"),
        "{}",
        stdout(&second)
    );
    let notices = std::fs::read_to_string(dir.join("notices.jsonl")).unwrap();
    assert_eq!(notices.lines().count(), 1, "{notices}");
    let requests = runtime.block_on(server.received_requests()).unwrap();
    let calls = |at: &str| -> Vec<String> {
        requests
            .iter()
            .filter(|r| r.url.path() == at)
            .map(|r| r.headers["Idempotency-Key"].to_str().unwrap().to_owned())
            .collect()
    };
    let (a, b) = (calls("/a"), calls("/b"));
    assert_eq!(a.len(), 2, "refused once, then accepted; never again");
    assert_eq!(
        b.len(),
        2,
        "refused once (in the first retry), then accepted"
    );
    assert!(a.iter().all(|k| *k == a[0]) && b.iter().all(|k| *k == b[0]));
    assert_ne!(a[0], b[0]);
});

herald_test!(a_retry_refuses_an_effect_that_changed, |dir| {
    let runtime = server_runtime();
    let server = refusing_server(&runtime, &[("/a", 1)]);
    let rule = |version: u32| {
        format!(
            "const RULE = #{{ watch: \"shop.orders\", on: [\"insert\"] }};\nfn handle(event) {{\n    notify(\"ops\", #{{ id: event.documentKey._id, version: {version} }});\n    webhook(\"a\", #{{ id: event.documentKey._id }});\n}}\n"
        )
    };
    dir.write("rules/orders.rhai", &rule(1));
    let config = dir.write(
        "herald.toml",
        &format!(
            "rules = \"rules\"\nstore = \"store\"\n[channels.ops]\nkind = \"file\"\npath = \"notices.jsonl\"\n[webhooks.a]\nurl = \"{}/a\"\n",
            server.uri()
        ),
    );
    let events = write_orders(&dir, "events.jsonl", [1]);
    let replay = herald()
        .args(["replay", events.to_str().unwrap(), "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(replay.status.code(), Some(1), "{}", stderr(&replay));
    // The notice it already sent would now say something else: the retry
    // neither skips it (the new notice would be lost) nor sends it again
    // under the same key.
    dir.write("rules/orders.rhai", &rule(2));
    let retry = herald()
        .args(["dlq", "retry", "--all", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(retry.status.code(), Some(1), "{}", stdout(&retry));
    assert!(
        stdout(&retry)
            .contains("effect 0 (notify ops) is not the one carried out before the failure"),
        "{}",
        stdout(&retry)
    );
    let notices = std::fs::read_to_string(dir.join("notices.jsonl")).unwrap();
    assert_eq!(notices.lines().count(), 1, "{notices}");
    assert_eq!(
        runtime.block_on(server.received_requests()).unwrap().len(),
        1,
        "the webhook was not called again"
    );
});
