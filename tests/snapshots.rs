//! `start_at = "snapshot"`, `herald run --snapshot-only` and `herald backfill`
//! with the shipped expense rules, against `mongosim` in its own process: the
//! README's promise that expenses pending before herald started get their
//! approval notices, once.

use crate::util::{MongoSimProcess, herald, herald_process, root, stderr, wait_until};
use std::process::Stdio;

/// Every channel the shipped rules name; approvals go to a file.
fn config(uri: &str, start_at: &str) -> String {
    format!(
        "rules = \"{rules}\"\nstore = \"store\"\n[mongodb]\nuri = \"{uri}\"\nstart_at = \"{start_at}\"\nmax_await_ms = 100\n[engine]\ncommit_interval_ms = 50\n[channels.approvals]\nkind = \"file\"\npath = \"out/approvals.jsonl\"\n[channels.employees]\nkind = \"log\"\n[channels.audit]\nkind = \"log\"\n[channels.ops]\nkind = \"log\"\n",
        rules = root().join("rules").display(),
    )
}

fn expense(n: i32, status: &str, amount: f64) -> bson::Document {
    bson::doc! {
        "_id": n, "employee": format!("Employee {n}"), "approver": format!("approver{n}@example.com"),
        "category": "travel", "description": format!("Trip {n}"), "amount": amount,
        "currency": "EUR", "status": status,
    }
}

fn insert(uri: &str, docs: impl IntoIterator<Item = bson::Document>) {
    for doc in docs {
        insert_into(uri, "finance", "expenses", doc);
    }
}

fn insert_into(uri: &str, db: &str, coll: &str, doc: bson::Document) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = mongodb::Client::with_uri_str(uri).await.unwrap();
        let coll = client.database(db).collection::<bson::Document>(coll);
        coll.insert_one(doc).await.unwrap();
    });
}

/// The `to` of each approval notice written, sorted (documents are handled
/// in parallel, so their notices come in any order).
fn notices(path: &std::path::Path) -> Vec<String> {
    let mut to: Vec<String> = std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["args"]["to"].as_str().unwrap().to_owned()
        })
        .collect();
    to.sort();
    to
}

herald_test!(
    pending_expenses_from_before_the_start_get_one_notice_each,
    |dir| {
        let sim = MongoSimProcess::start();
        insert(
            &sim.uri,
            [
                expense(1, "pending_approval", 1500.0),
                expense(2, "draft", 2500.0),
                expense(3, "pending_approval", 3000.0),
                expense(4, "pending_approval", 20.0),
            ],
        );
        let config = dir.write("herald.toml", &config(&sim.uri, "snapshot"));
        let out = dir.join("out/approvals.jsonl");

        // Read the snapshot, hand it over, exit.
        let output = herald()
            .env_remove("RUST_LOG")
            .args(["run", "--snapshot-only", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        // A progress line in the logs, by default.
        assert!(
            stderr(&output).contains("snapshot of finance.expenses read: 2 documents"),
            "{}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("snapshots read: 2 events, 2 matched, 2 effects"),
            "{}",
            stderr(&output)
        );
        assert_eq!(
            notices(&out),
            ["approver1@example.com", "approver3@example.com"]
        );

        // The live run goes on after the snapshot's time: a new pending expense
        // is notified, the ones from the snapshot are not again.
        let run = herald_process()
            .args(["run", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        insert(&sim.uri, [expense(5, "pending_approval", 1200.0)]);
        wait_until("the new expense's notice", || notices(&out).len() == 3);
        crate::util::sigterm(&run);
        let output = run.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(
            notices(&out),
            [
                "approver1@example.com",
                "approver3@example.com",
                "approver5@example.com"
            ]
        );
    }
);

herald_test!(
    a_backfill_runs_one_rule_over_existing_documents_once,
    |dir| {
        let sim = MongoSimProcess::start();
        insert(
            &sim.uri,
            [
                expense(1, "pending_approval", 1500.0),
                expense(2, "pending_approval", 900.0),
                expense(3, "pending_approval", 4000.0),
            ],
        );
        // `herald run` would start now; the backfill brings the rule the documents.
        let config = dir.write("herald.toml", &config(&sim.uri, "now"));
        let out = dir.join("out/approvals.jsonl");
        let backfill = || {
            herald()
                .args(["backfill", "--rule", "expense_approval", "--config"])
                .arg(&config)
                .output()
                .unwrap()
        };
        // While `herald run` runs (its store open and locked).
        let run = herald_process()
            .args(["run", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_until("herald run's store", || dir.join("store").is_dir());
        let output = backfill();
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(
            notices(&out),
            ["approver1@example.com", "approver3@example.com"]
        );
        assert!(
            dir.join("store.backfill/expense_approval").is_dir(),
            "its own store"
        );
        crate::util::sigterm(&run);
        let run = run.wait_with_output().unwrap();
        assert!(run.status.success());
        assert_eq!(
            notices(&out).len(),
            2,
            "herald run starts now: no notice of its own"
        );
        // Done once: again, nothing more.
        let output = backfill();
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("backfill of expense_approval done: 0 events"),
            "{}",
            stderr(&output)
        );
        assert_eq!(notices(&out).len(), 2);

        let output = herald()
            .args(["backfill", "--rule", "no_such_rule", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert!(
            stderr(&output).contains("no rule named \"no_such_rule\""),
            "{}",
            stderr(&output)
        );
        let output = herald()
            .args(["backfill", "--rule", "collection_lifecycle", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert!(
            stderr(&output).contains("does not handle inserts"),
            "{}",
            stderr(&output)
        );
    }
);

herald_test!(
    a_snapshot_read_without_its_point_in_time_shows_in_status,
    |dir| {
        let sim = MongoSimProcess::start();
        insert(&sim.uri, [expense(1, "pending_approval", 1500.0)]);
        // The server refuses the read at the snapshot's time once (as a server
        // whose history window the read outlived would).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = mongodb::Client::with_uri_str(&sim.uri).await.unwrap();
            client
                .database("admin")
                .run_command(bson::doc! {
                    "configureFailPoint": "failCommand",
                    "mode": {"times": 1},
                    "data": {"failCommands": ["aggregate"], "errorCode": 239},
                })
                .await
                .unwrap();
        });
        let config = dir.write("herald.toml", &config(&sim.uri, "snapshot"));
        let out = dir.join("out/approvals.jsonl");
        let mut run = herald_process()
            .env("RUST_LOG", "warn")
            .args(["run", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The stream reports the window once it is past its end, which writes
        // elsewhere (not watched, so not counted) move it to.
        let counted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = counted.clone();
        let lines = std::io::BufReader::new(run.stderr.take().unwrap());
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut all = String::new();
            for line in lines.lines().map_while(Result::ok) {
                if line.contains("changes while the snapshot was read") {
                    seen.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        wait_until("the snapshot's notice", || notices(&out).len() == 1);
        let noise = sim.uri.clone();
        wait_until("the window's count", || {
            insert_into(&noise, "other", "noise", bson::doc! {});
            counted.load(std::sync::atomic::Ordering::SeqCst)
        });
        crate::util::sigterm(&run);
        let exit = run.wait().unwrap();
        let log = reader.join().unwrap();
        assert!(exit.success(), "{log}");
        assert_eq!(notices(&out), ["approver1@example.com"], "{log}");
        let status = herald()
            .args(["status", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let text = crate::util::stdout(&status);
        assert!(
            text.contains(
                "snapshot      read without its point in time (the server refused it: error 239"
            ) && text.contains("up to 0 document(s) seen twice"),
            "{text}"
        );
    }
);

herald_test!(
    a_backfill_of_a_database_rule_reads_the_target_given,
    |dir| {
        let sim = MongoSimProcess::start();
        insert_into(&sim.uri, "shop", "orders", bson::doc! {"_id": 1});
        insert_into(&sim.uri, "shop", "orders", bson::doc! {"_id": 2});
        insert_into(&sim.uri, "shop", "returns", bson::doc! {"_id": 3});
        dir.write(
        "rules/count.rhai",
        "const RULE = #{ watch: \"shop\", on: [\"insert\"] };\nfn handle(event) { notify(\"ops\", #{ coll: event.ns.coll, id: event.documentKey._id }); }\n",
    );
        let config = dir.write(
        "herald.toml",
        &format!(
            "rules = \"rules\"\nstore = \"store\"\n[mongodb]\nuri = \"{}\"\n[channels.ops]\nkind = \"file\"\npath = \"out/ops.jsonl\"\n",
            sim.uri
        ),
    );
        let backfill = |target: &str| {
            herald()
                .args([
                    "backfill", "--rule", "count", "--target", target, "--config",
                ])
                .arg(&config)
                .output()
                .unwrap()
        };
        let lines = || -> Vec<String> {
            let mut lines: Vec<String> = std::fs::read_to_string(dir.join("out/ops.jsonl"))
                .unwrap_or_default()
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    format!(
                        "{}:{}",
                        v["args"]["coll"].as_str().unwrap(),
                        v["args"]["id"]
                    )
                })
                .collect();
            lines.sort();
            lines
        };
        let output = backfill("shop.orders");
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(lines(), ["orders:1", "orders:2"]);
        // Another target is another backfill, with its own progress.
        let output = backfill("shop.returns");
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(lines(), ["orders:1", "orders:2", "returns:3"]);
        let output = backfill("shop.orders");
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(lines().len(), 3, "done once");
        let output = backfill("hr.people");
        assert_eq!(output.status.code(), Some(2));
        assert!(
            stderr(&output).contains("--target hr.people is not within shop"),
            "{}",
            stderr(&output)
        );
    }
);
