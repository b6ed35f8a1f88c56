//! A reload while effects are slow (one worker: every event in its queue
//! is in flight): the events in flight finish before the
//! rules change, however long past `shutdown_timeout_ms`, so none is cut off
//! and sent again.

use crate::util::{MongoSimProcess, Running};

const RULE: &str = "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) { webhook(\"sink\", #{ id: event.documentKey._id }); }\n";

herald_test!(a_reload_waits_for_slow_effects_and_sends_each_once, |dir| {
    const ORDERS: i32 = 3;
    let sim = MongoSimProcess::start();
    let runtime = crate::util::server_runtime();
    let server = runtime.block_on(async {
        let server = wiremock::MockServer::start().await;
        // Each request takes far longer than the shutdown deadline below.
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .respond_with(
                wiremock::ResponseTemplate::new(200)
                    .set_delay(std::time::Duration::from_millis(1000)),
            )
            .mount(&server)
            .await;
        server
    });
    dir.write("rules/a.rhai", RULE);
    let config = crate::util::crash_config(
        &dir,
        &sim.uri,
        &server.uri(),
        "workers = 1\nshutdown_timeout_ms = 100\ncommit_interval_ms = 20",
    );
    let run = Running::start(&config, &[]);
    run.wait_for("herald: 1 rule on 1 target", 1);
    let received = || {
        runtime
            .block_on(server.received_requests())
            .unwrap_or_default()
    };

    crate::util::with_shop(&sim.uri, async |shop| {
        let orders = shop.collection::<bson::Document>("orders");
        for id in 1..=ORDERS {
            orders.insert_one(bson::doc! { "_id": id }).await.unwrap();
        }
    });
    // Some effect is on its way: reload now.
    crate::util::wait_until("a request in flight", || !received().is_empty());
    dir.write("rules/a.rhai", &format!("// changed\n{RULE}"));
    run.signal("HUP");
    run.wait_for("rules reloaded (SIGHUP): 1 rule(s); changed a", 1);
    // One more order, handled by the new rules: once its request is in,
    // the drained orders' are too.
    crate::util::with_shop(&sim.uri, async |shop| {
        let orders = shop.collection::<bson::Document>("orders");
        orders
            .insert_one(bson::doc! { "_id": ORDERS + 1 })
            .await
            .unwrap();
    });
    crate::util::wait_until("the last order's request", || {
        received().iter().any(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["id"] == ORDERS + 1
        })
    });
    let (status, text) = run.stop();
    assert!(status.success(), "{text}");

    let ids: Vec<i64> = received()
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["id"]
                .as_i64()
                .unwrap_or(-1)
        })
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (1..=i64::from(ORDERS) + 1).collect::<Vec<_>>(),
        "each order once: {ids:?}\n{text}"
    );
});
