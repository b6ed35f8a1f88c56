//! `herald capture`: a live stream, with its target's stages, written as a
//! file `herald replay` reads back.

use crate::util::{MongoSimProcess, herald, herald_process, stderr, stdout};

const RULE: &str = r#"
const RULE = #{ watch: "shop.orders", on: ["insert"] };
fn handle(event) {
    log("info", `order ${event.documentKey._id} secret=${"secret" in event.fullDocument}`);
}
"#;

herald_test!(captures_a_target_through_its_stages_for_replay, |dir| {
    let sim = MongoSimProcess::start();
    dir.write("rules/orders.rhai", RULE);
    let config = dir.write(
        "herald.toml",
        &format!(
            "rules = \"rules\"\n[mongodb]\nuri = \"{}\"\nmax_await_ms = 50\n[mongodb.streams.\"shop.orders\"]\nstages = [{{ \"$unset\" = \"fullDocument.secret\" }}]\n",
            sim.uri
        ),
    );
    // From one second ago, so the inserts made right after the start are in
    // the stream however long it takes to open.
    let since = crate::util::one_second_ago();
    let out = dir.join("events.jsonl");
    let capture = capturing(3, since, &out, &config);

    let uri = sim.uri.clone();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
            let orders = client
                .database("shop")
                .collection::<bson::Document>("orders");
            for id in 1..=3 {
                orders
                    .insert_one(bson::doc! { "_id": id, "amount": id * 10, "secret": "s3cr3t" })
                    .await
                    .unwrap();
            }
        });
    let output = exited(capture);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("3 event(s) written"),
        "{}",
        stderr(&output)
    );

    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for (line, id) in lines.iter().zip(1..) {
        assert!(!line.contains("secret"), "{line}");
        let event = herald_core::extjson::parse_document(line).expect(line);
        assert_eq!(event.get_str("operationType").unwrap(), "insert", "{line}");
        assert_eq!(
            event
                .get_document("documentKey")
                .unwrap()
                .get_i32("_id")
                .unwrap(),
            id,
            "{line}"
        );
        assert_eq!(
            event
                .get_document("fullDocument")
                .unwrap()
                .get_i32("amount")
                .unwrap(),
            id * 10,
            "{line}"
        );
    }

    // The file replays: one intent per event, and the rule never sees the secret.
    let replay = herald()
        .arg("replay")
        .arg(&out)
        .arg("--dry-run")
        .arg("--rules")
        .arg(dir.join("rules"))
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}", stderr(&replay));
    let intents: Vec<serde_json::Value> = stdout(&replay)
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    let messages: Vec<String> = intents
        .iter()
        .map(|i| {
            assert_eq!(i["kind"], "log", "{i}");
            i["args"].to_string()
        })
        .collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    for (message, id) in messages.iter().zip(1..) {
        assert!(
            message.contains(&format!("order {id} secret=false")),
            "{message}"
        );
    }

    // A second capture into the same file is refused.
    let again = herald()
        .args(["capture", "--target", "shop.orders", "--out"])
        .arg(&out)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
});

/// `herald capture` of `shop.orders` from `since` into `out`, for `limit` events.
fn capturing(
    limit: u32,
    since: u64,
    out: &std::path::Path,
    config: &std::path::Path,
) -> std::process::Child {
    herald_process()
        .args([
            "capture",
            "--limit",
            &limit.to_string(),
            "--target",
            "shop.orders",
        ])
        .args(["--since", &since.to_string()])
        .arg("--out")
        .arg(out)
        .arg("--config")
        .arg(config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// The output of `child` once it exits; killed (and the test failed, with its
/// stderr) if that takes over 30 s.
fn exited(mut child: std::process::Child) -> std::process::Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!("the capture did not exit: {}", stderr(&output));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Sends one notice per order, with whether the rule saw the secret.
const NOTICE: &str = r#"
const RULE = #{ watch: "shop.orders", on: ["insert", "update"] };
fn handle(event) {
    let secret = event.operationType == "insert" && "secret" in event.fullDocument;
    notify("out", #{ id: event.documentKey._id, op: event.operationType, secret: secret });
}
"#;

/// (rule, idempotency key, args) of every notice in the file, in order.
fn notices(path: &std::path::Path) -> Vec<(String, String, String)> {
    crate::util::complete_lines(path)
        .iter()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                v["rule"].to_string(),
                v["key"].to_string(),
                v["args"].to_string(),
            )
        })
        .collect()
}

herald_test!(a_replay_of_a_capture_sends_what_the_live_run_sent, |dir| {
    let sim = MongoSimProcess::start();
    dir.write("rules/notice.rhai", NOTICE);
    let since = crate::util::one_second_ago();
    // The live run and the replay: the same rules and stages, each its own
    // notices file (and store).
    let config = |name: &str| {
        dir.write(
            &format!("{name}.toml"),
            &format!(
                "rules = \"rules\"\nstore = \"{name}-store\"\n[mongodb]\nuri = \"{}\"\nstart_at = \"{since}\"\nmax_await_ms = 50\n[mongodb.streams.\"shop.orders\"]\nstages = [{{ \"$unset\" = \"fullDocument.secret\" }}]\n[channels.out]\nkind = \"file\"\npath = \"{name}.jsonl\"\n",
                sim.uri
            ),
        )
    };
    let (live, replayed) = (config("live"), config("replay"));
    let run = crate::util::Running::start(&live, &[]);
    let out = dir.join("events.jsonl");
    let capture = capturing(4, since, &out, &live);
    crate::util::with_shop(&sim.uri, async |shop| {
        let orders = shop.collection::<bson::Document>("orders");
        for id in 1..=3 {
            orders
                .insert_one(bson::doc! { "_id": id, "secret": "s3cr3t" })
                .await
                .unwrap();
        }
        orders
            .update_one(
                bson::doc! { "_id": 2 },
                bson::doc! { "$set": { "paid": true } },
            )
            .await
            .unwrap();
    });
    let captured = exited(capture);
    assert!(captured.status.success(), "{}", stderr(&captured));
    crate::util::wait_until("the live run's 4 notices", || {
        notices(&dir.join("live.jsonl")).len() == 4
    });
    let (status, text) = run.stop();
    assert!(status.success(), "{text}");

    let replay = herald()
        .arg("replay")
        .arg(&out)
        .arg("--config")
        .arg(&replayed)
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}", stderr(&replay));
    let (from_live, from_replay) = (
        notices(&dir.join("live.jsonl")),
        notices(&dir.join("replay.jsonl")),
    );
    assert_eq!(from_replay.len(), 4, "{from_replay:?}");
    assert!(
        from_replay
            .iter()
            .all(|(_, _, args)| args.contains("\"secret\":false")),
        "{from_replay:?}"
    );
    // The same notices, keys included; the live run's order across
    // documents is its workers', so compare as sets.
    let sorted = |mut v: Vec<(String, String, String)>| {
        v.sort();
        v
    };
    assert_eq!(sorted(from_live), sorted(from_replay));
});

herald_test!(
    a_capture_that_cannot_open_its_stream_leaves_no_file,
    |dir| {
        dir.write("rules/orders.rhai", RULE);
        // Nothing listens on port 1.
        let config = dir.write(
        "herald.toml",
        "rules = \"rules\"\n[mongodb]\nuri = \"mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200\"\n",
    );
        let out = dir.join("events.jsonl");
        let capture = herald()
            .args(["capture", "--target", "shop.orders", "--out"])
            .arg(&out)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(capture.status.code(), Some(1), "{}", stderr(&capture));
        assert!(
            stderr(&capture).contains("cannot open the change stream of shop.orders"),
            "{}",
            stderr(&capture)
        );
        assert!(!out.exists(), "no empty file to refuse the next attempt");
    }
);
