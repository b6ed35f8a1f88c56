//! Cluster mode: several `herald run` instances on one config share the
//! partitions through MongoDB, and take over from each other.

use crate::util::{
    Dir, MongoSimProcess, Running, Sink, check_versions, every_version, spawn_writer,
};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const DOCS: i32 = 30;
const VERSIONS: i32 = 3; // one insert, two updates
const KILLS: usize = 30;

const RULE: &str = r#"
const RULE = #{ watch: "crash.docs", on: ["insert", "update"] };
fn handle(event) {
    let v = if event.operationType == "insert" { event.fullDocument.v } else { event.updateDescription.updatedFields.v };
    webhook("sink", #{ id: event.documentKey._id, v: v });
}
"#;

/// The crash tests' config, in cluster mode: 4 partitions, leases of a second.
fn cluster_config(dir: &Dir, sim_uri: &str, sink_uri: &str) -> std::path::PathBuf {
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
        let sim = MongoSimProcess::start();
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
        for instance in instances {
            let (status, log) = instance.stop();
            assert!(status.success(), "{log}");
        }
        check_versions(&sink.versions(), DOCS, VERSIONS);
    }
);
