//! Cluster mode: several `herald run` instances on one config share the
//! partitions through MongoDB, and take over from each other.

use crate::cluster_http::endpoint;
use crate::crash::RULE;
use crate::http::get;
use crate::util::{
    Dir, MongoSimProcess, Running, Sink, check_versions, every_version, spawn_writer,
};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const DOCS: i32 = 30;
const VERSIONS: i32 = 3; // one insert, two updates
const KILLS: usize = 30;

/// mongosim for the cluster tests, its transactions living 2 s at most.
/// An instance killed (or paused) inside a commit leaves its transaction
/// open, holding its lease and records; as on a real server, other writes
/// to them wait (or conflict) until the transaction passes
/// `transactionLifetimeLimitSeconds`, 60 s unless set, which would hold a
/// partition up for a minute after such a kill.
pub fn cluster_sim() -> MongoSimProcess {
    MongoSimProcess::start_with(&["--setParameter", "transactionLifetimeLimitSeconds=2"])
}

/// The crash tests' config, in cluster mode: 4 partitions, leases of a second.
pub fn cluster_config(dir: &Dir, sim_uri: &str, sink_uri: &str) -> std::path::PathBuf {
    let config = crate::util::crash_config(
        dir,
        sim_uri,
        sink_uri,
        "commit_every = 5\ncommit_interval_ms = 20\nshutdown_timeout_ms = 2000",
    );
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[cluster]\nstore = \"mongodb\"\npartitions = 4\nlease_ms = 1000\n");
    std::fs::write(&config, text).unwrap();
    config
}

herald_test!(
    three_instances_killed_thirty_times_lose_nothing_and_keep_order,
    |dir| {
        let seed = fastrand::u64(..);
        println!("seed {seed}");
        let mut rng = fastrand::Rng::with_seed(seed);
        let sim = cluster_sim();
        let sink = Sink::start();
        dir.write("rules/crash.rhai", RULE);
        let config = cluster_config(&dir, &sim.uri, &sink.uri());
        let start =
            |name: &str| Running::start_with_env(&config, &[], &[("HERALD_INSTANCE", name)]);
        let names = ["a", "b", "c"];
        let mut instances: Vec<Running> = names.iter().map(|n| start(n)).collect();
        let writer = spawn_writer(
            &sim.uri,
            ("crash", "docs"),
            DOCS,
            VERSIONS,
            Duration::from_millis(100),
        );
        for _ in 0..KILLS {
            std::thread::sleep(Duration::from_millis(rng.u64(150..500))); // a random moment to kill at
            let victim = rng.usize(..names.len());
            drop(std::mem::replace(
                &mut instances[victim],
                start(names[victim]),
            )); // SIGKILL, and back
        }
        writer.join().unwrap();

        let expected = every_version(DOCS, VERSIONS);
        let arrived = || -> HashSet<(i64, i64)> {
            sink.versions().iter().map(|(_, id, v)| (*id, *v)).collect()
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while arrived() != expected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut missing: Vec<_> = expected.difference(&arrived()).copied().collect();
        missing.sort_unstable();
        assert!(
            missing.is_empty(),
            "effects missing (seed {seed}): {missing:?}"
        );
        // `herald status` shows the instances, who holds each partition, and
        // each partition's checkpoints. (After the last kill, the victim's
        // leases lapse before they are taken again: wait for every one.)
        let mut report = serde_json::Value::Null;
        crate::util::wait_until("every partition held", || {
            report = status_report(&config);
            report["cluster"]["leases"]
                .as_array()
                .is_some_and(|l| l.len() == 4 && l.iter().all(|l| l["held"] == true))
        });
        let alive: HashSet<&str> = report["cluster"]["instances"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["alive"] == true)
            .map(|i| i["instance"].as_str().unwrap())
            .collect();
        assert_eq!(alive, HashSet::from(["a", "b", "c"]), "{report:#}");
        let leases = report["cluster"]["leases"].as_array().unwrap();
        assert_eq!(leases.len(), 4, "{report:#}");
        assert!(
            leases
                .iter()
                .all(|l| l["held"] == true && alive.contains(l["owner"].as_str().unwrap())),
            "{report:#}"
        );
        let partitions: HashSet<&str> = report["checkpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["partition"].as_str().unwrap())
            .collect();
        assert_eq!(
            partitions,
            HashSet::from(["p0/4", "p1/4", "p2/4", "p3/4"]),
            "{report:#}"
        );
        for instance in instances {
            let (status, log) = instance.stop();
            assert!(status.success(), "{log}");
        }
        check_versions(&sink.versions(), DOCS, VERSIONS);
    }
);

/// Each event's version goes to the sink, and into the rule's state.
const STATE_RULE: &str = r#"
const RULE = #{ watch: "crash.docs", on: ["insert", "update"] };
fn handle(event) {
    let v = if event.operationType == "insert" { event.fullDocument.v } else { event.updateDescription.updatedFields.v };
    set_state(`v:${event.documentKey._id}`, v);
    webhook("sink", #{ id: event.documentKey._id, v: v });
}
"#;

/// What the store holds: the cluster time of each partition's checkpoint
/// (by stream, in order), and the rule's state of some documents.
struct Stored {
    checkpoints: Vec<(String, [u32; 2])>,
    state: Vec<Option<bson::Bson>>,
}

/// The store's checkpoints, and the rule's state of documents `ids`.
fn stored(uri: &str, ids: std::ops::Range<i32>) -> Stored {
    let store = herald_store::Store::open_mongodb(uri, "herald", &Default::default()).unwrap();
    let mut checkpoints: Vec<(String, [u32; 2])> = store
        .checkpoints()
        .unwrap()
        .into_iter()
        .map(|(stream, c)| {
            (
                stream,
                c.position
                    .cluster_time()
                    .map_or(c.cluster_time.unwrap_or_default(), |t| {
                        [t.time, t.increment]
                    }),
            )
        })
        .collect();
    checkpoints.sort();
    let state = ids
        .map(|id| store.get_state("state", &format!("v:{id}")).unwrap())
        .collect();
    Stored { checkpoints, state }
}

herald_test!(
    an_instance_paused_past_its_lease_commits_nothing_when_resumed,
    |dir| {
        let sim = cluster_sim();
        let sink = Sink::start();
        dir.write("rules/state.rhai", STATE_RULE);
        let config = cluster_config(&dir, &sim.uri, &sink.uri());
        // a commits nothing of its events (its group stays open); b commits each.
        let text = std::fs::read_to_string(&config).unwrap();
        let holding = dir.write(
            "holding.toml",
            &text.replace(
                "commit_every = 5\ncommit_interval_ms = 20",
                "commit_every = 1000\ncommit_interval_ms = 600000",
            ),
        );
        let committing = dir.write(
            "committing.toml",
            &text.replace("commit_every = 5", "commit_every = 1"),
        );
        let write = |ids: std::ops::Range<i32>, v: i32| {
            let uri = sim.uri.clone();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let docs = mongodb::Client::with_uri_str(&uri)
                    .await
                    .unwrap()
                    .database("crash")
                    .collection::<bson::Document>("docs");
                for id in ids {
                    if v == 0 {
                        docs.insert_one(bson::doc! {"_id": id, "v": v})
                            .await
                            .unwrap();
                    } else {
                        docs.update_one(bson::doc! {"_id": id}, bson::doc! {"$set": {"v": v}})
                            .await
                            .unwrap();
                    }
                }
            });
        };
        let seen = |n: usize| {
            crate::util::wait_until(&format!("{n} effects"), || {
                let distinct: HashSet<(i64, i64)> =
                    sink.versions().iter().map(|(_, id, v)| (*id, *v)).collect();
                distinct.len() >= n
            })
        };
        let a = Running::start_with_env(&holding, &[], &[("HERALD_INSTANCE", "a")]);
        a.wait_for("serves partition", 2);
        write(0..8, 0);
        seen(8);
        a.signal("STOP");
        // b takes both partitions once a's leases lapse, runs a's events again
        // and the updates after them, and commits each.
        let b = Running::start_with_env(&committing, &[], &[("HERALD_INSTANCE", "b")]);
        b.wait_for("serves partition", 2);
        write(0..8, 1);
        seen(16);
        let ones = vec![Some(bson::Bson::Int32(1)); 8];
        crate::util::wait_until("b's state", || stored(&sim.uri, 0..8).state == ones);
        let before = stored(&sim.uri, 0..8);
        // a wakes: the group it holds (every document at v 0, and checkpoints
        // before b's) must not commit.
        a.signal("CONT");
        a.wait_for("stops serving partition", 2);
        let after = stored(&sim.uri, 0..8);
        assert_eq!(after.state, ones, "no state written by a");
        assert_eq!(after.checkpoints.len(), before.checkpoints.len());
        for ((stream, at), (_, was)) in after.checkpoints.iter().zip(&before.checkpoints) {
            assert!(
                at >= was,
                "{stream}: checkpoint moved back from {was:?} to {at:?}"
            );
        }
        // It tried, and was refused.
        a.wait_for("no longer holds the lease", 1);
        let (status, log) = b.stop();
        assert!(status.success(), "{log}");
    }
);

/// `herald status --json` on `config`, which must succeed.
pub fn status_report(config: &std::path::Path) -> serde_json::Value {
    let out = crate::util::herald()
        .args(["status", "--json", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::util::stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `herald run --config config args` exits 2 saying `why`.
fn refused(config: &std::path::Path, args: &[&str], why: &str) {
    let out = crate::util::herald()
        .args(["run", "--config"])
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    let stderr = crate::util::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(why), "{args:?}: {stderr}");
}

herald_test!(what_cluster_mode_cannot_do_yet_is_refused_at_start, |dir| {
    dir.write("rules/crash.rhai", RULE);
    let config = dir.write(
        "herald.toml",
        "rules = \"rules\"\n[mongodb]\nuri = \"mongodb://127.0.0.1:9/?replicaSet=rs0\"\n[cluster]\nstore = \"mongodb\"\n",
    );
    let why = "not available in cluster mode yet";
    for args in [&["--watch"][..], &["--snapshot-only"]] {
        refused(&config, args, why);
    }
    let snapshot = dir.write(
        "snapshot.toml",
        &std::fs::read_to_string(&config)
            .unwrap()
            .replace("[cluster]", "start_at = \"snapshot\"\n[cluster]"),
    );
    refused(&snapshot, &[], why);
});

herald_test!(another_partition_count_is_refused, |dir| {
    let sim = cluster_sim();
    let sink = Sink::start();
    dir.write("rules/crash.rhai", RULE);
    let config = cluster_config(&dir, &sim.uri, &sink.uri());
    let first = Running::start_with_env(&config, &[], &[("HERALD_INSTANCE", "a")]);
    first.wait_for("serves partition", 1);
    let other = dir.write(
        "other.toml",
        &std::fs::read_to_string(&config)
            .unwrap()
            .replace("partitions = 4", "partitions = 2"),
    );
    refused(&other, &[], "started with partitions = 4");
    let (status, log) = first.stop();
    assert!(status.success(), "{log}");
});

herald_test!(
    a_drop_stops_the_target_in_every_partition_and_status_says_so,
    |dir| {
        let sim = cluster_sim();
        let sink = Sink::start();
        dir.write("rules/crash.rhai", RULE);
        // A keyless event's rules run once, in partition 0, though every
        // partition's stream sees it.
        dir.write(
            "rules/dropped.rhai",
            r#"
const RULE = #{ watch: "crash.docs", on: ["drop"] };
fn handle(event) { webhook("sink", #{ id: -1, v: 0 }); }
"#,
        );
        let config = cluster_config(&dir, &sim.uri, &sink.uri());
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, text.replace("partitions = 4", "partitions = 2")).unwrap();
        let running = Running::start_with_env(
            &config,
            &["--http", "127.0.0.1:0"],
            &[("HERALD_INSTANCE", "a")],
        );
        let addr = endpoint(&running);
        running.wait_for("serves partition", 2);
        crate::util::wait_until("ready", || get(&addr, "/readyz").0 == 200);
        crate::util::spawn_writer(&sim.uri, ("crash", "docs"), 4, 1, Duration::ZERO)
            .join()
            .unwrap();
        crate::util::wait_until("4 effects", || sink.versions().len() >= 4);
        // The drop has no document key: it reaches both partitions' streams,
        // and each stops the target (on_invalidate = "stop").
        let uri = sim.uri.clone();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
                client
                    .database("crash")
                    .collection::<bson::Document>("docs")
                    .drop()
                    .await
                    .unwrap();
            });
        let stops = || -> Vec<String> {
            let report = status_report(&config);
            let mut partitions: Vec<String> = report["stopped"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s["target"] == "crash.docs")
                .filter_map(|s| s["partition"].as_str().map(str::to_owned))
                .collect();
            partitions.sort();
            partitions
        };
        crate::util::wait_until("the target stopped in both partitions", || {
            stops().len() == 2
        });
        // Each partition stopped at the drop, after running its rules.
        let drops = || {
            sink.versions()
                .iter()
                .filter(|(_, id, _)| *id == -1)
                .count()
        };
        assert_eq!(drops(), 1, "{:?}", sink.versions());
        assert_eq!(stops(), ["p0/2", "p1/2"]);
        // Not ready, for a reason in each partition (a partition whose
        // run ended is idle once taken again).
        crate::util::wait_until("not ready in both partitions", || {
            let (code, body) = get(&addr, "/readyz");
            code == 503
                && ["p0/2", "p1/2"].iter().all(|p| {
                    body.lines()
                        .any(|l| l.starts_with(&format!("partition {p}: ")))
                })
        });
        // Not resumed while a partition is served: its run would write its
        // own stops over the change.
        let resume = || {
            crate::util::herald()
                .args(["streams", "resume", "crash.docs", "--config"])
                .arg(&config)
                .output()
                .unwrap()
        };
        let out = resume();
        assert_eq!(out.status.code(), Some(2), "{}", crate::util::stderr(&out));
        assert!(
            crate::util::stderr(&out).contains("stop every instance"),
            "{}",
            crate::util::stderr(&out)
        );
        // The instance goes on (its partitions idle), and stops cleanly.
        let (status, log) = running.stop();
        assert!(status.success(), "{log}");
        assert_eq!(sink.versions().len(), 5, "one effect for the drop");
        // Resumed in both partitions, from where each stopped: the
        // re-created collection's events, written while no instance runs,
        // reach the rule once each.
        let out = resume();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}", crate::util::stderr(&out));
        for partition in ["p0/2", "p1/2"] {
            assert!(
                stdout.contains(&format!(
                    "crash.docs resumed in partition {partition} (it had stopped"
                )),
                "{stdout}"
            );
        }
        assert!(stops().is_empty());
        // It held every lease while it wrote (its writes fenced), and let
        // them all go.
        let report = status_report(&config);
        for lease in report["cluster"]["leases"].as_array().unwrap() {
            assert_eq!(lease["owner"], serde_json::Value::Null, "{report:#}");
        }
        let out = resume();
        assert_eq!(
            out.status.code(),
            Some(2),
            "not stopped any more: {}",
            crate::util::stderr(&out)
        );
        crate::util::spawn_writer(&sim.uri, ("crash", "docs"), 4, 1, Duration::ZERO)
            .join()
            .unwrap();
        let running = Running::start_with_env(&config, &[], &[("HERALD_INSTANCE", "a")]);
        crate::util::wait_until("4 more effects", || sink.versions().len() >= 9);
        let (status, log) = running.stop();
        assert!(status.success(), "{log}");
        assert_eq!(sink.versions().len(), 9, "{:?}", sink.versions());
        assert_eq!(drops(), 1);
    }
);

herald_test!(
    a_joining_instance_gets_its_share_and_a_stopping_one_hands_everything_over,
    |dir| {
        let sim = cluster_sim();
        let sink = Sink::start();
        dir.write("rules/crash.rhai", RULE);
        let config = cluster_config(&dir, &sim.uri, &sink.uri());
        // Leases of 3 s: a renewal held up for a second on a loaded machine
        // must not cost a lease, or a would lose a partition it hands over.
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, text.replace("lease_ms = 1000", "lease_ms = 3000")).unwrap();
        let writer = spawn_writer(
            &sim.uri,
            ("crash", "docs"),
            20,
            3,
            Duration::from_millis(30),
        );
        let a = Running::start_with_env(&config, &[], &[("HERALD_INSTANCE", "a")]);
        a.wait_for("serves partition", 4);
        // b joins: a hands two partitions over at their checkpoints.
        let b = Running::start_with_env(&config, &[], &[("HERALD_INSTANCE", "b")]);
        a.wait_for("it was let go", 2);
        b.wait_for("serves partition", 2);
        // a stops: it finishes, commits and lets its leases go before it exits,
        // so none is left in its name.
        let (status, log) = a.stop();
        assert!(status.success(), "{log}");
        let report = status_report(&config);
        let leases = report["cluster"]["leases"].as_array().unwrap();
        assert!(
            leases.iter().all(|l| l["owner"] != "a"),
            "a let every lease go: {report:#}"
        );
        b.wait_for("serves partition", 4);
        writer.join().unwrap();
        let expected = every_version(20, 3);
        crate::util::wait_until("every effect", || {
            let arrived: HashSet<(i64, i64)> =
                sink.versions().iter().map(|(_, id, v)| (*id, *v)).collect();
            arrived == expected
        });
        let (status, log) = b.stop();
        assert!(status.success(), "{log}");
        check_versions(&sink.versions(), 20, 3);
    }
);

herald_test!(
    commands_that_write_state_are_refused_while_the_cluster_runs,
    |dir| {
        let sim = cluster_sim();
        let sink = Sink::start();
        dir.write("rules/crash.rhai", RULE);
        let config = cluster_config(&dir, &sim.uri, &sink.uri());
        let run = |args: &[&str]| {
            crate::util::herald()
                .args(args)
                .arg("--config")
                .arg(&config)
                .output()
                .unwrap()
        };
        let running = Running::start_with_env(&config, &[], &[("HERALD_INSTANCE", "a")]);
        running.wait_for("serves partition", 4);
        for args in [
            &["dlq", "retry", "--all"][..],
            &["dlq", "drop", "--all"],
            &["timers", "cancel", "crash", "--all"],
        ] {
            let out = run(args);
            let stderr = crate::util::stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert!(
                stderr.contains("the cluster is running"),
                "{args:?}: {stderr}"
            );
        }
        // Reading goes on at any time (no store directory needed).
        let out = run(&["timers", "list"]);
        assert!(out.status.success(), "{}", crate::util::stderr(&out));
        let (status, log) = running.stop();
        assert!(status.success(), "{log}");
        // Stopped: the command runs, holding every lease, and lets them go.
        let out = run(&["dlq", "drop", "--all"]);
        assert!(out.status.success(), "{}", crate::util::stderr(&out));
        let report = status_report(&config);
        for lease in report["cluster"]["leases"].as_array().unwrap() {
            assert_eq!(lease["owner"], serde_json::Value::Null, "{report:#}");
        }
    }
);
