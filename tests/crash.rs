//! The crash test: `herald run` is SIGKILLed 20 times while a writer inserts
//! and updates documents; afterwards every effect has arrived, one
//! idempotency key per effect, each document's effects in order.

use crate::util::{
    MongoSimProcess, Sink, check_versions, every_version, herald_process, spawn_writer,
};
use std::collections::HashSet;
use std::process::Stdio;

const DOCS: i32 = 30;
const VERSIONS: i32 = 3; // one insert, two updates
const KILLS: usize = 20;

/// Each insert or update of `crash.docs` sends its version to the sink
/// (the cluster tests use it too).
pub const RULE: &str = r#"
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
    let sink = Sink::start();
    dir.write("rules/crash.rhai", RULE);
    let config = crate::util::crash_config(
        &dir,
        &sim.uri,
        &sink.uri(),
        "commit_every = 5\ncommit_interval_ms = 20",
    );
    // The writer: inserts every document, then updates each twice, paced over the kills.
    let writer = spawn_writer(
        &sim.uri,
        ("crash", "docs"),
        DOCS,
        VERSIONS,
        std::time::Duration::from_millis(25),
    );

    // Each run's stderr goes to a file of its own, for the failure message.
    let mut runs = 0;
    let mut run = || {
        runs += 1;
        let log = std::fs::File::create(dir.join(&format!("run-{runs}.log"))).unwrap();
        herald_process()
            .arg("run")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
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
    let expected = every_version(DOCS, VERSIONS);
    let arrived =
        || -> HashSet<(i64, i64)> { sink.versions().iter().map(|(_, id, v)| (*id, *v)).collect() };
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
        let log = |n: usize| std::fs::read_to_string(dir.join(&format!("run-{n}.log")));
        panic!(
            "effects missing after the last run (seed {seed}): {missing:?}\nstatus:\n{}{}\nthe last run's log:\n{}\nthe run before it:\n{}",
            String::from_utf8_lossy(&status.stdout),
            String::from_utf8_lossy(&status.stderr),
            log(KILLS + 1).unwrap_or_default(),
            log(KILLS).unwrap_or_default(),
        );
    }
    check_versions(&sink.versions(), DOCS, VERSIONS);
});
