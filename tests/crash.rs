//! The crash test: `herald run` is SIGKILLed 20 times while a writer inserts
//! and updates documents; afterwards every effect has arrived, one
//! idempotency key per effect, each document's effects in order.

use crate::util::{MongoSimProcess, herald_process};
use std::collections::{HashMap, HashSet};
use std::process::Stdio;

const DOCS: i32 = 30;
const VERSIONS: i32 = 3; // one insert, two updates
const KILLS: usize = 20;

const RULE: &str = r#"
const RULE = #{ watch: "crash.docs", on: ["insert", "update"] };
fn handle(event) {
    let v = if event.operationType == "insert" { event.fullDocument.v } else { event.updateDescription.updatedFields.v };
    webhook("sink", #{ id: event.documentKey._id, v: v });
}
"#;

herald_test!(sigkill_twenty_times_loses_nothing_and_keeps_order, |dir| {
    let seed = fastrand::u64(..);
    println!("seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let sim = MongoSimProcess::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let receiver = runtime.block_on(async {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .respond_with(wiremock::ResponseTemplate::new(200))
            .mount(&server)
            .await;
        server
    });
    dir.write("rules/crash.rhai", RULE);
    let config = crate::util::crash_config(
        &dir,
        &sim.uri,
        &receiver.uri(),
        "commit_every = 5\ncommit_interval_ms = 20",
    );

    // The writer: inserts every document, then updates each twice, paced over the kills.
    let uri = sim.uri.clone();
    let writer = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
            let docs = client
                .database("crash")
                .collection::<bson::Document>("docs");
            for v in 0..VERSIONS {
                for id in 0..DOCS {
                    if v == 0 {
                        docs.insert_one(bson::doc! {"_id": id, "v": v})
                            .await
                            .unwrap();
                    } else {
                        docs.update_one(bson::doc! {"_id": id}, bson::doc! {"$set": {"v": v}})
                            .await
                            .unwrap();
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(25)).await; // pacing, not synchronisation
                }
            }
        });
    });

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
    for _ in 0..KILLS {
        let mut herald = run();
        std::thread::sleep(std::time::Duration::from_millis(rng.u64(40..200))); // a random moment to kill at
        herald.kill().unwrap(); // SIGKILL
        herald.wait().unwrap();
    }
    writer.join().unwrap();

    let mut last = run();
    let expected: HashSet<(i64, i64)> = (0..DOCS)
        .flat_map(|id| (0..VERSIONS).map(move |v| (i64::from(id), i64::from(v))))
        .collect();
    let received = || -> Vec<(String, i64, i64)> {
        runtime
            .block_on(receiver.received_requests())
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                (
                    r.headers["Idempotency-Key"].to_str().unwrap().to_owned(),
                    body["id"].as_i64().unwrap(),
                    body["v"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let arrived =
        || -> HashSet<(i64, i64)> { received().iter().map(|(_, id, v)| (*id, *v)).collect() };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while arrived() != expected && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    last.kill().unwrap();
    last.wait().unwrap();
    if arrived() != expected {
        // Say why: what is missing, and what the store says of the streams.
        let mut missing: Vec<_> = expected.difference(&arrived()).copied().collect();
        missing.sort_unstable();
        let status = crate::util::herald()
            .args(["status", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        panic!(
            "effects missing after the last run (seed {seed}): {missing:?}\nstatus:\n{}",
            String::from_utf8_lossy(&status.stdout)
        );
    }

    let all = received();
    let keys: HashMap<&str, (i64, i64)> = all
        .iter()
        .map(|(k, id, v)| (k.as_str(), (*id, *v)))
        .collect();
    println!(
        "{} effects expected, {} requests received, {} duplicates (same idempotency key)",
        expected.len(),
        all.len(),
        all.len() - keys.len()
    );
    assert_eq!(keys.len(), expected.len(), "one idempotency key per effect");
    assert_eq!(
        keys.values().copied().collect::<HashSet<_>>(),
        expected,
        "no effect lost"
    );
    // Per document, effects first arrive in version order.
    let mut first_seen: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut seen = HashSet::new();
    for (key, id, v) in &all {
        if seen.insert(key.as_str()) {
            first_seen.entry(*id).or_default().push(*v);
        }
    }
    for (id, versions) in first_seen {
        assert_eq!(
            versions,
            (0..i64::from(VERSIONS)).collect::<Vec<_>>(),
            "document {id}'s effects in order"
        );
    }
});
