//! The operators' endpoint of `herald run`: `/metrics` scraped while events
//! flow, `/readyz` turning 503 when a stream stops, `/status`, and
//! `herald status` through it while herald holds the store.

use crate::util::{MongoSimProcess, Running, herald};

const RULES: [(&str, &str); 3] = [
    (
        "rules/a.rhai",
        "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) { notify(\"out\", #{ id: event.documentKey._id }); }\n",
    ),
    // Fails on even orders: those go to the dead-letter queue.
    (
        "rules/odd.rhai",
        "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) { if event.documentKey._id % 2 == 0 { throw \"even\"; } notify(\"out\", #{ id: event.documentKey._id }); }\n",
    ),
    (
        "rules/carts.rhai",
        "const RULE = #{ watch: \"shop.carts\", on: [\"insert\"] };\nfn handle(event) { notify(\"out\", #{ cart: event.documentKey._id }); }\n",
    ),
];

/// GETs `path` of the endpoint at `addr`: (status, body).
pub fn get(addr: &str, path: &str) -> (u16, String) {
    herald_engine::effects::install_crypto_provider();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let reply = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
            (reply.status().as_u16(), reply.text().await.unwrap())
        })
}

/// The value of the sample `series` (name and labels, exactly as exposed).
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}

herald_test!(metrics_readiness_and_status_of_a_running_herald, |dir| {
    let sim = MongoSimProcess::start();
    for (path, text) in RULES {
        dir.write(path, text);
    }
    let config = crate::util::notices_config(&dir, &sim.uri);
    let run = Running::start(&config, &["--http", "127.0.0.1:0"]);
    let line = run.wait_for("serving /metrics", 1);
    let addr = line.rsplit("http://").next().unwrap().trim().to_owned();

    assert_eq!(get(&addr, "/healthz"), (200, "ok\n".to_owned()));
    crate::util::wait_until("ready", || get(&addr, "/readyz").0 == 200);

    crate::util::with_shop(&sim.uri, async |shop| {
        let orders = shop.collection::<bson::Document>("orders");
        for id in 1..=10 {
            orders.insert_one(bson::doc! { "_id": id }).await.unwrap();
        }
    });
    let mut metrics;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        metrics = get(&addr, "/metrics").1;
        if sample(
            &metrics,
            "herald_events_total{stream=\"mongodb:shop.orders\"}",
        ) == Some(10.0)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "10 events in /metrics:\n{metrics}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let expect = [
        ("herald_rule_matches_total{rule=\"a\"}", 10.0),
        ("herald_rule_matches_total{rule=\"odd\"}", 10.0),
        ("herald_effects_total{rule=\"a\",outcome=\"done\"}", 10.0),
        ("herald_effects_total{rule=\"odd\",outcome=\"done\"}", 5.0),
        ("herald_effects_total{rule=\"odd\",outcome=\"failed\"}", 5.0),
        ("herald_effects_total{rule=\"a\",outcome=\"failed\"}", 0.0),
        ("herald_effects_total{rule=\"a\",outcome=\"retried\"}", 0.0),
        (
            "herald_effects_total{rule=\"a\",outcome=\"deduplicated\"}",
            0.0,
        ),
        ("herald_handler_seconds_count{rule=\"a\"}", 10.0),
        ("herald_handler_seconds_count{rule=\"odd\"}", 10.0),
        ("herald_rules_loaded", 3.0),
        ("herald_rules_reload_failures_total", 0.0),
        ("herald_timers_pending", 0.0),
    ];
    for (series, value) in expect {
        assert_eq!(
            sample(&metrics, series),
            Some(value),
            "{series}:\n{metrics}"
        );
    }
    // The dead letters are committed after the events are counted.
    crate::util::wait_until("5 dead letters in /metrics", || {
        metrics = get(&addr, "/metrics").1;
        sample(&metrics, "herald_dead_letters{rule=\"odd\"}") == Some(5.0)
    });
    assert_eq!(
        sample(&metrics, "herald_dead_letters{rule=\"a\"}"),
        Some(0.0),
        "{metrics}"
    );
    for kind in [
        "# TYPE herald_events_total counter",
        "# TYPE herald_dead_letters gauge",
        "# TYPE herald_stream_lag_seconds gauge",
        "# TYPE herald_handler_seconds histogram",
        "# TYPE herald_commit_seconds histogram",
        "herald_handler_seconds_bucket{rule=\"a\",le=\"0.005\"}",
        "herald_stream_lag_seconds{stream=\"mongodb:shop.orders\"}",
    ] {
        assert!(metrics.contains(kind), "{kind}:\n{metrics}");
    }
    assert!(
        sample(&metrics, "herald_commit_seconds_count").is_some_and(|n| n >= 1.0),
        "{metrics}"
    );

    // /status: the JSON of `herald status`, and whether herald is ready.
    let (code, body) = get(&addr, "/status");
    assert_eq!(code, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["running"]["ready"], true, "{body}");
    let a = status["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "a")
        .unwrap();
    assert_eq!(
        (a["matched"].as_u64(), a["succeeded"].as_u64()),
        (Some(10), Some(10)),
        "{body}"
    );
    // `herald status` while herald holds the store asks it.
    let text = herald()
        .args(["status", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let out = crate::util::stdout(&text);
    assert!(text.status.success(), "{}", crate::util::stderr(&text));
    assert!(
        out.contains("running: ready") && out.contains("rule odd: 10 matched, 5 succeeded, 5 failed, 0 deduplicated, 5 in the dead-letter queue"),
        "{out}"
    );
    // Without the recorded address, `[http] listen` says where to ask.
    std::fs::remove_file(dir.join("store/herald-http.addr")).unwrap();
    let listening = dir.write(
        "listening.toml",
        &format!(
            "{}[http]\nlisten = \"{addr}\"\n",
            std::fs::read_to_string(&config).unwrap()
        ),
    );
    let text = herald()
        .args(["status", "--config"])
        .arg(&listening)
        .output()
        .unwrap();
    assert!(text.status.success(), "{}", crate::util::stderr(&text));
    assert!(
        crate::util::stdout(&text).contains("running: ready"),
        "{}",
        crate::util::stdout(&text)
    );

    // A dropped collection stops its target: not ready, saying why.
    crate::util::with_shop(&sim.uri, async |shop| {
        let carts = shop.collection::<bson::Document>("carts");
        carts.insert_one(bson::doc! { "_id": 1 }).await.unwrap();
        carts.drop().await.unwrap();
    });
    let mut body = String::new();
    crate::util::wait_until("/readyz 503", || {
        let (code, text) = get(&addr, "/readyz");
        body = text;
        code == 503
    });
    assert!(
        body.starts_with("not ready:\n") && body.contains("shop.carts"),
        "{body}"
    );
    assert_eq!(get(&addr, "/healthz").0, 200);

    let (status, text) = run.stop();
    assert!(status.success(), "{text}");
    let stopped = herald()
        .args(["status", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        stopped.status.success(),
        "{}",
        crate::util::stderr(&stopped)
    );
    let json: serde_json::Value = serde_json::from_str(&crate::util::stdout(&stopped)).unwrap();
    assert_eq!(json["dead_letters"], 5, "{json}");
    assert_eq!(json["stopped"][0]["target"], "shop.carts", "{json}");
    assert!(json.get("running").is_none(), "read from the store: {json}");
});

herald_test!(
    status_of_a_locked_store_without_http_says_what_to_do,
    |dir| {
        let sim = MongoSimProcess::start();
        dir.write(RULES[0].0, RULES[0].1);
        let config = crate::util::notices_config(&dir, &sim.uri);
        let run = Running::start(&config, &[]);
        run.wait_for("herald: 1 rule on 1 target", 1);
        crate::util::wait_until("the store", || dir.join("store").exists());
        let text = herald()
            .args(["status", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(
            text.status.code(),
            Some(2),
            "{}",
            crate::util::stdout(&text)
        );
        assert!(
            crate::util::stderr(&text)
                .contains("in use by a running herald, and no [http] listen is configured"),
            "{}",
            crate::util::stderr(&text)
        );
        let (status, text) = run.stop();
        assert!(status.success(), "{text}");
    }
);
