//! `herald run` against `mongosim` running as its own process.

use crate::util::{MongoSimProcess, herald, herald_process, root, stderr, stdout, wait_until};
use std::process::Stdio;

/// The channels of the shipped rules other than `approvals`: with a config,
/// every channel a rule names must be defined.
const OTHER_CHANNELS: &str = "[channels.employees]\nkind = \"log\"\n[channels.audit]\nkind = \"log\"\n[channels.ops]\nkind = \"log\"\n";

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

herald_test!(run_sends_the_approval_notice_for_a_live_insert, |dir| {
    let sim = MongoSimProcess::start();
    // Start at the test's start time, so the insert below is seen whenever the stream opens.
    let config = dir.write(
        "herald.toml",
        &format!(
            "rules = \"{rules}\"\nstore = \"store\"\n[mongodb]\nuri = \"{uri}\"\nstart_at = \"{start}\"\nmax_await_ms = 100\n[engine]\ncommit_interval_ms = 50\n[channels.approvals]\nkind = \"file\"\npath = \"out/approvals.jsonl\"\n{OTHER_CHANNELS}",
            rules = root().join("rules").display(),
            uri = sim.uri,
            start = unix_now() - 1,
        ),
    );
    let run = herald_process()
        .arg("run")
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    insert_docs(
        &sim.uri,
        "finance",
        "expenses",
        [
            bson::doc! {
                "employee": "Ava Patel", "approver": "maria.rossi@example.com", "category": "travel",
                "description": "Flight to Lisbon", "amount": bson::Decimal128::from_bytes([0; 16]), "currency": "EUR", "status": "draft",
            },
            bson::doc! {
                "employee": "Liam Chen", "approver": "kenji.sato@example.com", "category": "hardware",
                "description": "Laptop", "amount": 1500.0, "currency": "EUR", "status": "pending_approval",
            },
        ],
    );

    let notices = dir.join("out/approvals.jsonl");
    wait_until("the approval notice", || {
        std::fs::read_to_string(&notices).is_ok_and(|t| t.contains("kenji.sato@example.com"))
    });
    let text = std::fs::read_to_string(&notices).unwrap();
    assert_eq!(
        text.lines().count(),
        1,
        "only the pending expense of 1,000 or more: {text}"
    );
    let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(line["rule"], "expense_approval");
    assert_eq!(line["args"]["subject"], "Laptop needs your approval");

    // Graceful shutdown: SIGTERM, commit, exit 0.
    crate::util::sigterm(&run);
    let output = run.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    // The draft never left the server: the stream's $match is the union of the rules' filters.
    assert!(
        stderr(&output).contains("herald stopped: 1 events, 1 matched"),
        "{}",
        stderr(&output)
    );
    // The rules watch finance.expenses and finance: the database stream carries both.
    assert!(
        stderr(&output).contains("herald: 4 rules on 2 targets: 1 stream at"),
        "{}",
        stderr(&output)
    );

    let status = herald()
        .arg("status")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", stderr(&status));
    let out = stdout(&status);
    assert!(
        out.contains("stream mongodb:finance\n")
            && out.contains("token {\"_data\"")
            && out.contains("cluster time"),
        "{out}"
    );
    assert!(
        out.contains("last run: 4 rules on 2 targets: 1 stream\n")
            && out.contains("  mongodb:finance carries finance, finance.expenses for collection_lifecycle, expense_approval, expense_audit, expense_decision\n"),
        "{out}"
    );
    assert!(out.contains("0 gap(s), 0 dead letter(s)"), "{out}");
});

herald_test!(run_without_a_connection_string_is_bad_input, |dir| {
    let config = dir.write("herald.toml", "[engine]\ncommit_every = 10\n");
    let output = herald()
        .arg("run")
        .arg("--config")
        .arg(&config)
        .env_remove("HERALD_MONGODB_URI")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("HERALD_MONGODB_URI"),
        "{}",
        stderr(&output)
    );
});

herald_test!(status_without_a_store_says_so, |dir| {
    let output = herald()
        .arg("status")
        .arg("--store")
        .arg(dir.join("nothing"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no store at"),
        "{}",
        stderr(&output)
    );
});

fn write_config(dir: &crate::util::Dir, uri: &str, start: u64) -> std::path::PathBuf {
    dir.write(
        "herald.toml",
        &format!(
            "rules = \"{rules}\"\nstore = \"store\"\n[mongodb]\nuri = \"{uri}\"\nstart_at = \"{start}\"\nmax_await_ms = 100\n[engine]\ncommit_every = 3\ncommit_interval_ms = 50\n[channels.approvals]\nkind = \"file\"\npath = \"out/approvals.jsonl\"\n{OTHER_CHANNELS}",
            rules = root().join("rules").display(),
        ),
    )
}

fn pending(n: i32) -> bson::Document {
    bson::doc! {
        "_id": n, "employee": "Ava Patel", "approver": format!("approver{n}@example.com"), "category": "travel",
        "description": format!("Trip {n}"), "amount": 2000, "currency": "EUR", "status": "pending_approval",
    }
}

fn insert(uri: &str, range: std::ops::RangeInclusive<i32>) {
    insert_docs(uri, "finance", "expenses", range.map(pending));
}

/// (idempotency key, approver) of every notice in the file.
fn notices(path: &std::path::Path) -> Vec<(String, String)> {
    crate::util::complete_lines(path)
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["key"].as_str().unwrap().to_owned(),
                v["args"]["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

herald_test!(a_killed_herald_resumes_without_losing_or_repeating, |dir| {
    let sim = MongoSimProcess::start();
    let config = write_config(&dir, &sim.uri, unix_now() - 1);
    let out = dir.join("out/approvals.jsonl");
    let run = || {
        herald_process()
            .arg("run")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };

    let mut first = run();
    insert(&sim.uri, 1..=10);
    wait_until("some notices", || notices(&out).len() >= 5);
    first.kill().unwrap(); // SIGKILL: no graceful anything
    first.wait().unwrap();
    insert(&sim.uri, 11..=20);

    let mut second = run();
    wait_until("all notices", || {
        let keys: std::collections::HashSet<String> =
            notices(&out).into_iter().map(|(k, _)| k).collect();
        keys.len() >= 20
    });
    let seen = notices(&out);
    let approvers: std::collections::HashSet<&str> =
        seen.iter().map(|(_, to)| to.as_str()).collect();
    let keys: std::collections::HashSet<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(approvers.len(), 20, "every expense got its notice");
    assert_eq!(keys.len(), 20, "one idempotency key per notice");
    println!(
        "raw notices {} for 20 expenses (repeats after SIGKILL carry the same key)",
        seen.len()
    );
    second.kill().unwrap();
    second.wait().unwrap();
});

herald_test!(
    a_second_signal_exits_at_once_and_leaves_the_store_usable,
    |dir| {
        let sim = MongoSimProcess::start();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let receiver = runtime.block_on(async {
            let server = wiremock::MockServer::start().await;
            // The effect never finishes in time: shutdown has to wait for it.
            wiremock::Mock::given(wiremock::matchers::method("POST"))
                .respond_with(
                    wiremock::ResponseTemplate::new(200)
                        .set_delay(std::time::Duration::from_secs(120)),
                )
                .mount(&server)
                .await;
            server
        });
        dir.write("rules/slow.rhai", "const RULE = #{ watch: \"x.y\", on: [\"insert\"] };\nfn handle(event) { webhook(\"slow\", #{ id: event.documentKey._id }); }\n");
        let config = dir.write(
        "herald.toml",
        &format!(
            "rules = \"rules\"\nstore = \"store\"\n[mongodb]\nuri = \"{}\"\nstart_at = \"{}\"\nmax_await_ms = 50\n[webhooks.slow]\nurl = \"{}/hook\"\ntimeout_ms = 120000\n",
            sim.uri,
            unix_now() - 1,
            receiver.uri()
        ),
    );
        let run = herald_process()
            .arg("run")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = run.id().to_string();
        insert_docs(&sim.uri, "x", "y", [bson::doc! {"_id": 1}]);
        wait_until("the slow webhook call", || {
            runtime
                .block_on(receiver.received_requests())
                .is_some_and(|r| !r.is_empty())
        });
        let term = || {
            assert!(
                std::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(&pid)
                    .status()
                    .unwrap()
                    .success()
            )
        };
        term();
        // The first signal starts a graceful shutdown that waits for the effect; the second ends it.
        let started = std::time::Instant::now();
        let mut second_sent = false;
        let mut run = run;
        let status = loop {
            if let Some(status) = run.try_wait().unwrap() {
                break status;
            }
            if !second_sent {
                std::thread::sleep(std::time::Duration::from_millis(100));
                term();
                second_sent = true;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "herald did not exit after the second signal"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert_eq!(status.code(), Some(130));
        let status = herald()
            .arg("status")
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert!(status.status.success(), "{}", stderr(&status));
    }
);

/// Inserts documents, one statement each, through a client of its own.
fn insert_docs(uri: &str, db: &str, coll: &str, docs: impl IntoIterator<Item = bson::Document>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = mongodb::Client::with_uri_str(uri).await.unwrap();
        let coll = client.database(db).collection::<bson::Document>(coll);
        for doc in docs {
            coll.insert_one(doc).await.unwrap();
        }
    });
}

herald_test!(
    a_stopped_target_ends_the_run_and_stays_stopped_until_resumed,
    |dir| {
        let sim = MongoSimProcess::start();
        dir.write(
        "rules/orders.rhai",
        "const RULE = #{ watch: \"shop.orders\", on: [\"insert\", \"drop\"] };\nfn handle(event) { notify(\"ops\", #{ op: event.operationType }); }\n",
    );
        let config = dir.write(
        "herald.toml",
        &format!(
            "rules = \"rules\"\nstore = \"store\"\n[mongodb]\nuri = \"{}\"\nstart_at = \"{}\"\nmax_await_ms = 50\n[engine]\ncommit_interval_ms = 20\n[channels.ops]\nkind = \"file\"\npath = \"ops.jsonl\"\n",
            sim.uri,
            unix_now() - 1
        ),
    );
        let ops = || -> Vec<String> {
            crate::util::complete_lines(&dir.join("ops.jsonl"))
                .iter()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    v["args"]["op"].as_str().unwrap().to_owned()
                })
                .collect()
        };
        let run = || {
            herald_process()
                .arg("run")
                .arg("--config")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let first = run();
        insert_docs(&sim.uri, "shop", "orders", [bson::doc! {"_id": 1}]);
        wait_until("the first notice", || ops().len() == 1);
        drop_collection(&sim.uri, "shop", "orders");
        // The drop invalidates the only stream: herald ends on its own, and says so.
        let output = first.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("every change stream stopped")
                && stderr(&output).contains("shop.orders: "),
            "{}",
            stderr(&output)
        );
        assert_eq!(ops(), ["insert", "drop"]);

        let status = herald()
            .args(["status", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            stdout(&status).contains("target shop.orders stopped at "),
            "{}",
            stdout(&status)
        );
        // The collection comes back; herald does not follow it.
        insert_docs(&sim.uri, "shop", "orders", [bson::doc! {"_id": 2}]);
        let again = run().wait_with_output().unwrap();
        assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
        assert!(
            stderr(&again).contains("every watch target is stopped"),
            "{}",
            stderr(&again)
        );

        let resume = herald()
            .args(["streams", "resume", "shop.orders", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(resume.status.success(), "{}", stderr(&resume));
        assert!(
            stdout(&resume).contains("shop.orders resumed (it had stopped:")
                && stdout(&resume).contains("from where it stopped"),
            "{}",
            stdout(&resume)
        );
        let resumed = run();
        // From where it stopped: the insert made while it was stopped too.
        insert_docs(&sim.uri, "shop", "orders", [bson::doc! {"_id": 3}]);
        wait_until("the notices after resuming", || ops().len() == 4);
        crate::util::sigterm(&resumed);
        let output = resumed.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(ops(), ["insert", "drop", "insert", "insert"]);

        // A target that is not stopped is not moved (that would skip its
        // backlog), unless forced.
        let refused = herald()
            .args(["streams", "resume", "shop.orders", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
        assert!(
            stderr(&refused).contains("shop.orders is not stopped (no target is stopped)")
                && stderr(&refused).contains("--force"),
            "{}",
            stderr(&refused)
        );
        let forced = herald()
            .args([
                "streams",
                "resume",
                "shop.orders",
                "--from",
                "now",
                "--force",
                "--config",
            ])
            .arg(&config)
            .output()
            .unwrap();
        assert!(forced.status.success(), "{}", stderr(&forced));
    }
);

fn drop_collection(uri: &str, db: &str, coll: &str) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let client = mongodb::Client::with_uri_str(uri).await.unwrap();
            client
                .database(db)
                .collection::<bson::Document>(coll)
                .drop()
                .await
                .unwrap();
        });
}

herald_test!(a_standalone_server_is_one_sentence_naming_the_fix, |dir| {
    let sim = MongoSimProcess::start_with(&["--standalone"]);
    let config = dir.write(
        "herald.toml",
        &format!(
            "rules = \"{rules}\"\nstore = \"store\"\n[mongodb]\nuri = \"{uri}\"\n[channels.approvals]\nkind = \"log\"\n{OTHER_CHANNELS}",
            rules = root().join("rules").display(),
            uri = sim.uri,
        ),
    );
    let output = herald()
        .arg("run")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let errors: Vec<String> = stderr(&output)
        .lines()
        .filter(|l| !l.starts_with("herald: "))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        errors,
        [
            "error: the MongoDB server is a standalone, which has no change streams; run it as a replica set (one node will do: start mongod with --replSet rs0 and run rs.initiate() once) or point [mongodb] uri at a replica set"
        ],
    );
});
