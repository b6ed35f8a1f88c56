//! The cluster case: `herald run` instances sharing partitions through one
//! server (a `mongosim` process, or `--mongodb-uri`).
//!
//! Scale: the same backlog of inserts through a CPU-heavy rule with 1, 2
//! and 3 instances (in a database of herald's own per count), timed from the
//! instances' start until the store counts every event handled. Takeover:
//! with two instances serving, one is killed (SIGKILL); the time until the
//! survivor holds every partition, against `lease_ms` plus one renewal
//! period (a third of it).

use super::live::Server;
use anyhow::{Context, anyhow, bail};
use bson::doc;
use serde::Serialize;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Partitions of the case's config.
const PARTITIONS: u32 = 8;
/// Its lease length.
const LEASE_MS: u64 = 2_000;
/// How long one count of instances may take.
const DEADLINE: Duration = Duration::from_secs(600);

/// A rule whose handler spends CPU on each event: `ITERATIONS` rounds of
/// arithmetic (20,000: about a millisecond in a release build), and no
/// effect or state, so the instances' CPU is what is measured.
const RULE: &str = r#"
const RULE = #{ watch: "bench.cluster", on: ["insert"] };
fn handle(event) {
    let x = event.documentKey._id;
    for i in 0..ITERATIONS { x = (x * 31 + i) % 1000003; }
    if x < 0 { log("info", `never: ${x}`); }
}
"#;

/// Events/s with one number of instances.
#[derive(Debug, Clone, Serialize)]
pub struct Scale {
    /// Instances.
    pub instances: u32,
    /// Seconds from their start to the last event counted.
    pub seconds: f64,
    /// Events per second.
    pub events_per_second: f64,
}

/// The cluster case.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterResult {
    /// The server.
    pub server: String,
    /// Events in the backlog each count of instances works through.
    pub events: u64,
    /// Rounds of the rule's loop per event.
    pub iterations: u32,
    /// Partitions and lease length of the config.
    pub partitions: u32,
    /// Lease length, in milliseconds.
    pub lease_ms: u64,
    /// One entry per number of instances.
    pub scale: Vec<Scale>,
    /// Seconds from killing one of two instances until the other holds
    /// every partition.
    pub takeover_seconds: f64,
    /// What the design promises for it: `lease_ms` plus a renewal period.
    pub takeover_bound_seconds: f64,
}

/// Runs the case with a backlog of `events` inserts per count of instances,
/// each costing `iterations` rounds of the rule's loop.
pub fn measure(
    server: &Server,
    events: u64,
    iterations: u32,
    work: &Path,
) -> anyhow::Result<ClusterResult> {
    let rules = work.join("cluster-rules");
    std::fs::create_dir_all(&rules)?;
    std::fs::write(
        rules.join("heavy.rhai"),
        RULE.replace("ITERATIONS", &iterations.to_string()),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let mut scale = Vec::new();
    for instances in 1..=3 {
        let database = format!("herald_bench_{instances}");
        // From this second on: the earlier rounds' inserts are older.
        let config = write_config(work, &server.uri, &rules, &database, unix_seconds()?)?;
        runtime.block_on(load(&server.uri, instances, events))?;
        let started = Instant::now();
        let children: Vec<Running> = (0..instances)
            .map(|i| Running::start(&config, &format!("bench-{instances}-{i}")))
            .collect::<anyhow::Result<_>>()?;
        let store = herald_store::Store::open_mongodb(&server.uri, &database, &Default::default())?;
        loop {
            let handled: u64 = store.rule_counts()?.iter().map(|(_, c)| c.matched).sum();
            if handled >= events {
                break;
            }
            if started.elapsed() > DEADLINE {
                bail!(
                    "{instances} instance(s) handled {handled} of {events} events in {DEADLINE:?}"
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let seconds = started.elapsed().as_secs_f64();
        drop(children);
        scale.push(Scale {
            instances,
            seconds,
            events_per_second: events as f64 / seconds,
        });
    }
    let takeover_seconds = takeover(server, work, &rules)?;
    Ok(ClusterResult {
        server: server.describe(),
        events,
        iterations,
        partitions: PARTITIONS,
        lease_ms: LEASE_MS,
        scale,
        takeover_seconds,
        takeover_bound_seconds: (LEASE_MS + LEASE_MS / 3) as f64 / 1000.0,
    })
}

/// Kills one of two instances and times the other's taking every partition.
fn takeover(server: &Server, work: &Path, rules: &Path) -> anyhow::Result<f64> {
    let database = "herald_bench_takeover";
    let config = write_config(work, &server.uri, rules, database, unix_seconds()?)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let leases = runtime.block_on(async {
        let client = mongodb::Client::with_uri_str(&server.uri).await?;
        anyhow::Ok(
            client
                .database(database)
                .collection::<bson::Document>(herald_store::backend::LEASES),
        )
    })?;
    let holders = |leases: &mongodb::Collection<bson::Document>| -> anyhow::Result<Vec<String>> {
        runtime.block_on(async {
            use futures_util::TryStreamExt;
            let now = bson::DateTime::now();
            let held: Vec<bson::Document> = leases
                .find(doc! {"owner": {"$ne": null}, "expires": {"$gt": now}})
                .await?
                .try_collect()
                .await?;
            Ok(held
                .iter()
                .filter_map(|l| l.get_str("owner").ok().map(str::to_owned))
                .collect())
        })
    };
    let survivor = Running::start(&config, "bench-survivor")?;
    let victim = Running::start(&config, "bench-victim")?;
    // Waits (60 s at most) until every partition is held and `done` says
    // yes of the holders; returns how long that took.
    let until_held = |what: &str, done: &dyn Fn(&[String]) -> bool| -> anyhow::Result<f64> {
        let since = Instant::now();
        loop {
            let owners = holders(&leases)?;
            if owners.len() == PARTITIONS as usize && done(&owners) {
                return Ok(since.elapsed().as_secs_f64());
            }
            if since.elapsed() > Duration::from_secs(60) {
                bail!("{what} within 60 s: {owners:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // Both serving: every partition held, some by each.
    until_held(
        "the two instances did not share the partitions",
        &|owners| owners.iter().any(|o| o == "bench-victim"),
    )?;
    drop(victim); // SIGKILL
    let seconds = until_held("the survivor did not take the partitions", &|owners| {
        owners.iter().all(|o| o == "bench-survivor")
    })?;
    drop(survivor);
    Ok(seconds)
}

/// Inserts the backlog: `events` documents into `bench.cluster`, after
/// emptying it (each count of instances reads its own from its start time).
async fn load(uri: &str, round: u32, events: u64) -> anyhow::Result<()> {
    let client = mongodb::Client::with_uri_str(uri).await?;
    let coll = client
        .database("bench")
        .collection::<bson::Document>("cluster");
    let base = u64::from(round) * 10_000_000;
    let docs: Vec<bson::Document> = (0..events)
        .map(|i| doc! {"_id": (base + i) as i64})
        .collect();
    for chunk in docs.chunks(1_000) {
        coll.insert_many(chunk.to_vec()).await?;
    }
    Ok(())
}

/// The current Unix time in whole seconds.
fn unix_seconds() -> anyhow::Result<u64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs())
}

/// A config for the case: the rules, the server's changes from `start`
/// (Unix seconds), herald's state in `database`.
fn write_config(
    work: &Path,
    uri: &str,
    rules: &Path,
    database: &str,
    start: u64,
) -> anyhow::Result<std::path::PathBuf> {
    let path = work.join(format!("cluster-{database}.toml"));
    std::fs::write(
        &path,
        format!(
            "rules = {rules:?}\n[mongodb]\nuri = \"{uri}\"\nstart_at = \"{start}\"\nmax_await_ms = 100\n[engine]\nworkers = 1\n[cluster]\nstore = \"mongodb\"\ndatabase = \"{database}\"\npartitions = {PARTITIONS}\nlease_ms = {LEASE_MS}\n"
        ),
    )
    .with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

/// A `herald run` instance, killed when dropped.
struct Running(Child);

impl Running {
    fn start(config: &Path, name: &str) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("find the herald executable")?;
        let child = Command::new(exe)
            .args(["run", "--config"])
            .arg(config)
            .env("HERALD_INSTANCE", name)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| anyhow!("start herald run: {e}"))?;
        Ok(Self(child))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
