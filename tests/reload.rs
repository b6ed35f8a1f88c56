//! Hot reload of the rules in `herald run`: SIGHUP and `--watch` replace the
//! rule set between events, a broken set is rejected while the old rules run,
//! and no event is lost or repeated across a reload.

use crate::util::{Dir, MongoSimProcess, Running};
use std::collections::BTreeSet;

/// A rule (named by its file) on inserts into `shop.orders` sending one
/// notice per event, with `extra` fields.
fn rule(extra: &str) -> String {
    format!(
        "const RULE = #{{ watch: \"shop.orders\", on: [\"insert\"] }};\nfn handle(event) {{ notify(\"out\", #{{ id: event.documentKey._id{extra} }}); }}\n"
    )
}

/// Inserts orders `ids` into `shop.orders`.
fn insert(uri: &str, ids: impl IntoIterator<Item = i32>) {
    crate::util::with_shop(uri, async |shop| {
        let orders = shop.collection::<bson::Document>("orders");
        for id in ids {
            orders.insert_one(bson::doc! { "_id": id }).await.unwrap();
        }
    });
}

/// (rule, order id) of every notice written.
fn notices(dir: &Dir) -> Vec<(String, i64)> {
    crate::util::complete_lines(&dir.join("out/notices.jsonl"))
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["rule"].as_str().unwrap().to_owned(),
                v["args"]["id"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Waits until `n` notices are written, and returns them as a set (which must hold `n`).
fn wait_notices(dir: &Dir, n: usize) -> BTreeSet<(String, i64)> {
    crate::util::wait_until(&format!("{n} notices"), || notices(dir).len() >= n);
    let seen = notices(dir);
    let set: BTreeSet<(String, i64)> = seen.iter().cloned().collect();
    assert_eq!(set.len(), seen.len(), "no notice twice: {seen:?}");
    set
}

fn pairs(list: &[(&str, i64)]) -> BTreeSet<(String, i64)> {
    list.iter().map(|(r, i)| ((*r).to_owned(), *i)).collect()
}

herald_test!(
    sighup_adds_and_removes_rules_and_rejects_a_broken_set,
    |dir| {
        let sim = MongoSimProcess::start();
        dir.write("rules/a.rhai", &rule(""));
        let config = crate::util::notices_config(&dir, &sim.uri);
        let run = Running::start(&config, &["--http", "127.0.0.1:0"]);
        let line = run.wait_for("serving /metrics", 1);
        let addr = line.rsplit("http://").next().unwrap().trim().to_owned();
        let metric =
            |series: &str| crate::http::sample(&crate::http::get(&addr, "/metrics").1, series);
        run.wait_for("herald: 1 rule on 1 target", 1);

        insert(&sim.uri, [1]);
        assert_eq!(wait_notices(&dir, 1), pairs(&[("a", 1)]));

        // Nothing changed: nothing to do.
        run.signal("HUP");
        let unchanged = run.wait_for("rules reload (SIGHUP): ", 1);
        assert!(
            unchanged.contains("unchanged, nothing to do"),
            "{unchanged}"
        );

        // A rule added starts where a rule without progress does, at `start_at`
        // (here a time before order 1, so it takes order 1 too); a does not
        // take order 1 again.
        dir.write("rules/b.rhai", &rule(""));
        run.signal("HUP");
        let reloaded = run.wait_for("rules reloaded (SIGHUP)", 1);
        assert!(reloaded.contains("2 rule(s); added b"), "{reloaded}");
        insert(&sim.uri, [2]);
        assert_eq!(
            wait_notices(&dir, 4),
            pairs(&[("a", 1), ("b", 1), ("a", 2), ("b", 2)])
        );

        // A broken file rejects the whole set: the old rules keep running.
        dir.write("rules/c.rhai", &rule("").replace("fn handle", "fn handle("));
        dir.write("rules/b.rhai", &rule(", changed: true"));
        run.signal("HUP");
        let rejected = run.wait_for("rejected", 1);
        assert!(
            rejected.contains("rules reload (SIGHUP) rejected: 1 error(s)")
                && rejected.contains("the 2 rule(s) loaded before keep running"),
            "{rejected}"
        );
        let error = run.wait_for("c.rhai:", 1);
        assert!(error.contains("c.rhai:2:"), "file:line:col: {error}");
        assert_eq!(metric("herald_rules_reload_failures_total"), Some(1.0));
        assert_eq!(metric("herald_rules_loaded"), Some(2.0));
        insert(&sim.uri, [3]);
        let seen = wait_notices(&dir, 6);
        assert_eq!(
            seen,
            pairs(&[("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3)])
        );
        let raw = std::fs::read_to_string(dir.join("out/notices.jsonl")).unwrap();
        assert!(!raw.contains("changed"), "b's change was rejected: {raw}");

        // Removing rules: the rest go on.
        std::fs::remove_file(dir.join("rules/b.rhai")).unwrap();
        std::fs::remove_file(dir.join("rules/c.rhai")).unwrap();
        run.signal("HUP");
        let reloaded = run.wait_for("rules reloaded (SIGHUP)", 2);
        assert!(reloaded.contains("1 rule(s); removed b"), "{reloaded}");
        assert_eq!(metric("herald_rules_loaded"), Some(1.0));
        insert(&sim.uri, [4]);
        assert_eq!(
            wait_notices(&dir, 7),
            pairs(&[
                ("a", 1),
                ("b", 1),
                ("a", 2),
                ("b", 2),
                ("a", 3),
                ("b", 3),
                ("a", 4)
            ])
        );

        let (status, text) = run.stop();
        assert!(status.success(), "{text}");
        assert_eq!(
            text.matches("herald: 1 rule on 1 target").count(),
            2,
            "the unchanged set restarted nothing: {text}"
        );
        // Over the three runs: the second read order 1 again for b, where a's
        // floor (its checkpoint, order 1's time) left a's pair to the ledger.
        assert!(
            text.contains("herald stopped: 5 events, 8 matched, 7 effects, 1 deduplicated"),
            "{text}"
        );
    }
);

herald_test!(watch_reloads_when_a_rule_file_changes, |dir| {
    let sim = MongoSimProcess::start();
    dir.write("rules/a.rhai", &rule(""));
    let config = crate::util::notices_config(&dir, &sim.uri);
    let run = Running::start(&config, &["--watch"]);
    run.wait_for("herald: 1 rule on 1 target", 1);
    insert(&sim.uri, [1]);
    assert_eq!(wait_notices(&dir, 1), pairs(&[("a", 1)]));

    dir.write("rules/a.rhai", &rule(", version: 2"));
    let reloaded = run.wait_for("rules reloaded (a rule file changed)", 1);
    assert!(reloaded.contains("1 rule(s); changed a"), "{reloaded}");
    insert(&sim.uri, [2]);
    wait_notices(&dir, 2);
    let raw = std::fs::read_to_string(dir.join("out/notices.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(raw.lines().nth(1).unwrap()).unwrap();
    assert_eq!(
        (
            last["args"]["id"].as_i64(),
            last["args"]["version"].as_i64()
        ),
        (Some(2), Some(2)),
        "the changed handler took the next event: {raw}"
    );

    // A channel the config does not define is an error like any other.
    dir.write("rules/a.rhai", &rule("").replace("\"out\"", "\"pager\""));
    let rejected = run.wait_for("rejected", 1);
    assert!(
        rejected.contains("rules reload (a rule file changed) rejected: 1 error(s)"),
        "{rejected}"
    );
    let error = run.wait_for("a.rhai:2:", 1);
    assert!(error.contains("\"pager\" is not defined"), "{error}");

    // The directory replaced whole: the new one is read, and watched.
    dir.write("rules.new/a.rhai", &rule(", version: 3"));
    std::fs::rename(dir.join("rules"), dir.join("rules.old")).unwrap();
    std::fs::rename(dir.join("rules.new"), dir.join("rules")).unwrap();
    let reloaded = run.wait_for("rules reloaded (a rule file changed)", 2);
    assert!(reloaded.contains("1 rule(s); changed a"), "{reloaded}");
    dir.write("rules/b.rhai", &rule(""));
    let reloaded = run.wait_for("rules reloaded (a rule file changed)", 3);
    assert!(reloaded.contains("2 rule(s); added b"), "{reloaded}");
    let (status, text) = run.stop();
    assert!(status.success(), "{text}");
});

/// Rule `b`: notices for inserts (`id`), updates (`id + 1000`, saying
/// whether the insert's state is there) and a timer each insert sets for
/// 10 s later (`id + 2000`), tagged with `version`.
fn stateful(version: u32) -> String {
    format!(
        r#"const RULE = #{{ watch: "shop.orders", on: ["insert", "update"] }};
fn handle(event) {{
    let id = event.documentKey._id;
    if event.operationType == "insert" {{
        set_state(`seen:${{id}}`, true);
        after("10s", `t${{id}}`, #{{ id: id }});
        notify("out", #{{ id: id, version: {version} }});
    }} else {{
        notify("out", #{{ id: id + 1000, seen: get_state(`seen:${{id}}`) == true, version: {version} }});
    }}
}}
fn on_timer(timer) {{
    notify("out", #{{ id: timer.payload.id + 2000, version: {version} }});
}}
"#
    )
}

herald_test!(
    reloads_while_events_flow_lose_and_repeat_nothing_and_keep_state_and_timers,
    |dir| {
        const ORDERS: i32 = 150;
        const RELOADS: usize = 4;
        let sim = MongoSimProcess::start();
        dir.write("rules/a.rhai", &rule(""));
        dir.write("rules/b.rhai", &stateful(0));
        let config = crate::util::notices_config(&dir, &sim.uri);
        let run = Running::start(&config, &[]);
        run.wait_for("herald: 2 rules on 1 target", 1);

        let uri = sim.uri.clone();
        let inserts = std::thread::spawn(move || insert(&uri, 1..=ORDERS));
        // Reload while the inserts flow (from their first notices on).
        crate::util::wait_until("the first notices", || notices(&dir).len() >= 4);
        for version in 1..=RELOADS {
            dir.write("rules/b.rhai", &stateful(version as u32));
            run.signal("HUP");
            let reloaded = run.wait_for("rules reloaded (SIGHUP)", version);
            assert!(reloaded.contains("2 rule(s); changed b"), "{reloaded}");
        }
        inserts.join().unwrap();
        crate::util::with_shop(&sim.uri, async |shop| {
            let orders = shop.collection::<bson::Document>("orders");
            for id in 1..=ORDERS {
                orders
                    .update_one(
                        bson::doc! { "_id": id },
                        bson::doc! { "$set": { "paid": true } },
                    )
                    .await
                    .unwrap();
            }
        });

        let n = ORDERS as usize;
        let seen = wait_notices(&dir, 4 * n);
        let mut expected: BTreeSet<(String, i64)> = BTreeSet::new();
        for id in 1..=i64::from(ORDERS) {
            expected.extend([
                ("a".to_owned(), id),
                ("b".to_owned(), id),
                ("b".to_owned(), id + 1000),
                ("b".to_owned(), id + 2000),
            ]);
        }
        assert_eq!(
            seen, expected,
            "each event once per rule, across {RELOADS} reloads"
        );
        let raw = std::fs::read_to_string(dir.join("out/notices.jsonl")).unwrap();
        for line in raw.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let id = v["args"]["id"].as_i64().unwrap();
            if id == 2001 {
                // Set before the first reload, due 10 s later: kept across reloads.
                assert_ne!(v["args"]["version"], 0, "order 1's timer: {line}");
            }
            if (1001..2000).contains(&id) {
                assert_eq!(
                    v["args"]["seen"], true,
                    "the insert's state survived: {line}"
                );
                assert_eq!(
                    v["args"]["version"], RELOADS,
                    "updates came after the last reload: {line}"
                );
            }
        }
        let (status, text) = run.stop();
        assert!(status.success(), "{text}");
        // Nothing more came, at the stop either.
        assert_eq!(notices(&dir).len(), 4 * n, "{text}");
    }
);

herald_test!(
    a_reload_opens_and_closes_streams_as_the_targets_change,
    |dir| {
        let sim = MongoSimProcess::start();
        dir.write("rules/a.rhai", &rule(""));
        let config = crate::util::notices_config(&dir, &sim.uri);
        let run = Running::start(&config, &["--watch"]);
        run.wait_for("herald: 1 rule on 1 target: 1 stream", 1);

        dir.write(
        "rules/carts.rhai",
        "const RULE = #{ watch: \"shop.carts\", on: [\"insert\"] };\nfn handle(event) { notify(\"out\", #{ id: event.documentKey._id }); }\n",
    );
        run.wait_for("added carts", 1);
        run.wait_for("herald: 2 rules on 2 targets: 2 streams", 1);
        crate::util::with_shop(&sim.uri, async |shop| {
            let carts = shop.collection::<bson::Document>("carts");
            carts.insert_one(bson::doc! { "_id": 7 }).await.unwrap();
        });
        assert_eq!(wait_notices(&dir, 1), pairs(&[("carts", 7)]));

        std::fs::remove_file(dir.join("rules/a.rhai")).unwrap();
        run.wait_for("removed a", 1);
        run.wait_for("herald: 1 rule on 1 target: 1 stream", 2);
        let (status, text) = run.stop();
        assert!(status.success(), "{text}");
        let status = crate::util::herald()
            .args(["status", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let out = crate::util::stdout(&status);
        assert!(
            out.contains("carries shop.carts for carts") && !out.contains("for a"),
            "the last run's plan: {out}"
        );
    }
);

/// Inserts orders from `first` on, one every 20 ms, until `done`; returns the next id.
fn insert_until(uri: &str, first: i32, mut done: impl FnMut() -> bool) -> i32 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = runtime
        .block_on(mongodb::Client::with_uri_str(uri))
        .unwrap();
    let orders = client
        .database("shop")
        .collection::<bson::Document>("orders");
    let mut id = first;
    let mut waited = 0;
    while !done() {
        assert!(waited < 1500, "gave up after {} orders", id - first);
        runtime
            .block_on(orders.insert_one(bson::doc! { "_id": id }).into_future())
            .unwrap();
        id += 1;
        waited += 1;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    id
}

herald_test!(
    a_server_unreachable_when_streams_restart_after_a_reload_is_retried,
    |dir| {
        let sim = MongoSimProcess::start();
        dir.write("rules/a.rhai", &rule(""));
        // Without `start_at`: a new rule starts at the server's time, which a
        // (re)start asks the server for.
        let config = dir.write(
        "herald.toml",
        &format!(
            "rules = \"rules\"\nstore = \"store\"\n[mongodb]\nuri = \"{}\"\nmax_await_ms = 50\n[channels.out]\nkind = \"file\"\npath = \"out/notices.jsonl\"\n",
            sim.uri
        ),
    );
        let run = Running::start(&config, &[]);
        // Until the stream runs (it starts at the time it first asks for).
        let next = insert_until(&sim.uri, 1, || !notices(&dir).is_empty());
        let first_seen = notices(&dir)[0].1;

        // The next two times herald asks the server's time, it fails.
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let client = mongodb::Client::with_uri_str(&sim.uri).await.unwrap();
                client
                    .database("admin")
                    .run_command(bson::doc! {
                        "configureFailPoint": "failCommand",
                        "mode": {"times": 2},
                        "data": {"failCommands": ["ping"], "errorCode": 2},
                    })
                    .await
                    .unwrap();
            });
        dir.write("rules/b.rhai", &rule(""));
        run.signal("HUP");
        run.wait_for("rules reloaded (SIGHUP)", 1);
        let retry = run.wait_for("the streams cannot start after the reload", 2);
        assert!(retry.contains("trying again in"), "{retry}");
        let last = insert_until(&sim.uri, next, || {
            notices(&dir).iter().any(|(r, _)| r == "b")
        });

        let (status, text) = run.stop();
        assert!(status.success(), "{text}");
        let seen = notices(&dir);
        let of = |rule: &str| -> Vec<i64> {
            let mut ids: Vec<i64> = seen
                .iter()
                .filter(|(r, _)| r == rule)
                .map(|(_, id)| *id)
                .collect();
            ids.sort_unstable();
            ids
        };
        let everything: Vec<i64> = (first_seen..i64::from(last)).collect();
        assert_eq!(
            of("a"),
            everything,
            "a lost nothing across the failed starts"
        );
        let b = of("b");
        assert_eq!(
            b,
            (b[0]..i64::from(last)).collect::<Vec<_>>(),
            "b from its start on: {b:?}"
        );
        assert_eq!(
            text.matches("the streams cannot start after the reload")
                .count(),
            2,
            "{text}"
        );
        assert_eq!(
            text.matches("herald: 2 rules on 1 target").count(),
            3,
            "{text}"
        );
    }
);

herald_test!(a_set_whose_targets_are_all_stopped_is_rejected, |dir| {
    let sim = MongoSimProcess::start();
    dir.write("rules/a.rhai", &rule(""));
    let carts = "const RULE = #{ watch: \"shop.carts\", on: [\"insert\"] };\nfn handle(event) { notify(\"out\", #{ id: event.documentKey._id }); }\n";
    dir.write("rules/carts.rhai", carts);
    let config = crate::util::notices_config(&dir, &sim.uri);
    let run = Running::start(&config, &["--http", "127.0.0.1:0"]);
    let line = run.wait_for("serving /metrics", 1);
    let addr = line.rsplit("http://").next().unwrap().trim().to_owned();
    crate::util::with_shop(&sim.uri, async |shop| {
        let carts = shop.collection::<bson::Document>("carts");
        carts.insert_one(bson::doc! { "_id": 1 }).await.unwrap();
        carts.drop().await.unwrap();
    });
    // The stop is committed (the status reads the store).
    crate::util::wait_until("shop.carts stopped in the store", || {
        let status: serde_json::Value =
            serde_json::from_str(&crate::http::get(&addr, "/status").1).unwrap();
        status["stopped"][0]["target"] == "shop.carts"
    });

    std::fs::remove_file(dir.join("rules/a.rhai")).unwrap();
    run.signal("HUP");
    let rejected = run.wait_for("rejected", 1);
    assert!(
        rejected.contains("rules reload (SIGHUP) rejected: 1 error(s)"),
        "{rejected}"
    );
    run.wait_for("every watch target of these rules is stopped", 1);
    // The old rules run on.
    insert(&sim.uri, [5]);
    crate::util::wait_until("a's notice", || {
        notices(&dir).contains(&("a".to_owned(), 5))
    });
    let (status, text) = run.stop();
    assert!(status.success(), "{text}");
});
