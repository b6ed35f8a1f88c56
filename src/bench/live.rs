//! The live cases: change streams from a server in another process.
//!
//! Throughput: a writer inserts N documents at full speed; then herald, a
//! bare driver loop and the pymongo tutorial loop each read the same N
//! events from the same operation time, one after the other. Latency: herald
//! runs while a writer inserts at a steady rate; each document carries its
//! send time and the effect channel notes when its notice arrives.

use super::generate::write_live_rule;
use super::measure::{self, Latency, Noop};
use anyhow::{Context, anyhow, bail};
use bson::{Bson, Decimal128, RawDocumentBuf, Timestamp, doc};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use herald_core::{Effect, Position};
use herald_engine::effects::{BoxFuture, Channel, EffectError};
use herald_engine::{Config, Engine, Observer};
use herald_ingest::mongo::{MongoSource, plan};
use mongodb::{Client, Collection};
use serde::Serialize;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long any one consumer may take before the case is abandoned.
const DEADLINE: Duration = Duration::from_secs(600);

/// The pymongo loop, shipped in `benches/baseline/`.
const PYMONGO_LOOP: &str = include_str!("../../benches/baseline/pymongo_loop.py");

/// The `--setParameter` the bench's `mongosim` runs with.
const SIM_TRANSACTION_LIFETIME: &str = "transactionLifetimeLimitSeconds=5";

/// A server for the live cases: a `mongosim` process, or a given replica set.
pub struct Server {
    child: Option<std::process::Child>,
    /// Its connection string.
    pub uri: String,
}

impl Server {
    /// Uses `uri`, or starts `mongosim` from beside the herald executable.
    pub fn start(uri: Option<String>) -> anyhow::Result<Self> {
        if let Some(uri) = uri {
            return Ok(Self { child: None, uri });
        }
        use std::io::BufRead;
        let exe = std::env::current_exe().context("find the herald executable")?;
        let sim = exe.with_file_name(format!("mongosim{}", std::env::consts::EXE_SUFFIX));
        if !sim.exists() {
            bail!(
                "{} is missing; build it with `cargo build --release -p mongosim` (or pass --mongodb-uri)",
                sim.display()
            );
        }
        // Transactions left open by a killed instance (the cluster case's
        // takeover) are aborted after 5 s, as the README advises for
        // cluster mode, not the server's default 60 s.
        let mut child = std::process::Command::new(&sim)
            .args(["--port", "0", "--setParameter", SIM_TRANSACTION_LIFETIME])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", sim.display()))?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().context("mongosim stdout")?)
            .read_line(&mut line)?;
        let uri = line
            .split('(')
            .nth(1)
            .and_then(|s| s.trim_end().strip_suffix(')'))
            .ok_or_else(|| anyhow!("unexpected first line from mongosim: {line:?}"))?
            .to_owned();
        Ok(Self {
            child: Some(child),
            uri,
        })
    }

    /// What the server is, for the report.
    pub fn describe(&self) -> String {
        match self.child {
            Some(_) => format!("mongosim (own process, {SIM_TRANSACTION_LIFETIME})"),
            None => herald_ingest::mongo::uri::redact(&self.uri),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Throughput of one consumer.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Events read.
    pub events: u64,
    /// Seconds from opening the stream to the last event handled.
    pub seconds: f64,
    /// Events per second.
    pub events_per_second: f64,
}

impl Throughput {
    fn new(events: u64, seconds: f64) -> Self {
        Self {
            events,
            seconds,
            events_per_second: events as f64 / seconds,
        }
    }
}

/// The live throughput case.
#[derive(Debug, Clone, Serialize)]
pub struct LiveResult {
    /// The server.
    pub server: String,
    /// Documents inserted (each consumer reads these plus one marker).
    pub inserted: u64,
    /// The writer's speed.
    pub writer_events_per_second: f64,
    /// herald end to end: change stream, routing, handler, effect, durable
    /// commit; the median of [`ROUNDS`] rounds.
    pub herald: Throughput,
    /// The Rust driver reading raw events through the pipeline herald sends
    /// (its `$match`) with its stream options (`maxAwaitTimeMS`, `batchSize`),
    /// looking at each event's `_id` and `documentKey`, storing the resume
    /// token every 512 events; the median of [`ROUNDS`] rounds.
    pub bare_driver: Throughput,
    /// Each round's events per second: herald's and the bare loop's, in the
    /// order run (herald, bare, herald, bare, ...).
    pub rounds: Vec<(f64, f64)>,
    /// The pipeline both sent, after `$changeStream`.
    pub pipeline: Vec<bson::Document>,
    /// The pymongo tutorial loop, or why it could not run.
    #[serde(serialize_with = "super::report::outcome")]
    pub pymongo: Result<Throughput, String>,
}

/// The steady-rate latency case.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyResult {
    /// The server.
    pub server: String,
    /// Inserts per second asked for.
    pub rate_per_second: u64,
    /// Inserts per second achieved.
    pub achieved_per_second: f64,
    /// Insert sent → effect received.
    pub latency: Latency,
}

fn collection(client: &Client, coll: &str) -> Collection<bson::Document> {
    client.database("bench").collection(coll)
}

fn expense(n: u64, sent_us: i64) -> bson::Document {
    doc! {
        "employee": "Noah Okafor",
        "approver": "david.levi@example.com",
        "kind": format!("k{}", n % 10),
        "amount": Decimal128::from_str("1942.24").expect("a decimal"),
        "currency": "EUR",
        "status": "pending_approval",
        "sent_us": sent_us,
        "items": [{ "sku": "A1", "qty": 2 }],
    }
}

/// Inserts one marker and returns its operation time: the start of the case.
async fn marker(client: &Client, coll: &str) -> anyhow::Result<Timestamp> {
    let mut session = client.start_session().await?;
    collection(client, coll)
        .insert_one(doc! { "marker": true, "sent_us": 0_i64 })
        .session(&mut session)
        .await?;
    session
        .operation_time()
        .ok_or_else(|| anyhow!("the server sent no operationTime"))
}

/// Measures herald, the bare driver loop and the pymongo loop on `count` inserts.
pub async fn throughput(server: &Server, count: u64, work: &Path) -> anyhow::Result<LiveResult> {
    let client = Client::with_uri_str(&server.uri).await?;
    let coll = format!("live_{}", std::process::id());
    let start = marker(&client, &coll).await?;
    let began = Instant::now();
    let target = collection(&client, &coll);
    let mut n = 0;
    while n < count {
        let chunk = (count - n).min(1_000);
        target
            .insert_many((n..n + chunk).map(|i| expense(i, 0)))
            .await?;
        n += chunk;
    }
    let writer_events_per_second = count as f64 / began.elapsed().as_secs_f64();
    let expected = count + 1;
    // Each consumer reads the same events several times, the two taking
    // turns, and the medians are compared: one pass of each takes about a
    // second here, where the other processes on the machine move a single
    // pass by a third.
    let (mut heralds, mut bares) = (Vec::new(), Vec::new());
    let mut pipeline = Vec::new();
    for _ in 0..ROUNDS {
        let (engine, source, stages) = herald_engine(&client, &coll, start, work)?;
        let options = source.options().clone();
        heralds.push(herald_consumer(engine, source, expected).await?);
        let bare = BareStream {
            pipeline: &stages,
            max_await: options.max_await,
            batch_size: options.server_batch,
        };
        bares.push(bare_loop(&client, &coll, &bare, start, expected, work).await?);
        pipeline = stages;
    }
    let rounds = heralds
        .iter()
        .zip(&bares)
        .map(|(h, b)| (h.events_per_second, b.events_per_second))
        .collect();
    let herald = median(heralds);
    let bare_driver = median(bares);
    let pymongo = pymongo_loop(&server.uri, &coll, start, expected, work).await;
    Ok(LiveResult {
        server: server.describe(),
        inserted: count,
        writer_events_per_second,
        herald,
        bare_driver,
        rounds,
        pipeline,
        pymongo,
    })
}

/// Rounds of each consumer in the live case.
pub const ROUNDS: usize = 3;

/// The round of median speed (the upper middle one of an even count).
fn median(mut rounds: Vec<Throughput>) -> Throughput {
    rounds.sort_by(|a, b| a.events_per_second.total_cmp(&b.events_per_second));
    rounds.swap_remove(rounds.len() / 2)
}

/// herald, embedded: a rule on the collection, a no-op channel, durable
/// batch commits; the source of its stream from `start`; and the stream's
/// pipeline, which the bare loop sends too, so both read the same events
/// the same way.
fn herald_engine(
    client: &Client,
    coll: &str,
    start: Timestamp,
    work: &Path,
) -> anyhow::Result<(Engine, MongoSource, Vec<bson::Document>)> {
    let rules = work.join("live-rules");
    write_live_rule(&rules, &format!("bench.{coll}"))?;
    let mut config = Config::default();
    config.mongodb.start_at = Some(herald_ingest::mongo::StartAt::OperationTime(start));
    let options = config.mongodb.source_options().map_err(|e| anyhow!(e))?;
    let engine = Engine::builder()
        .rules_dir(&rules)
        .store_path(fresh(work.join("live-store")))
        .config(config)
        .effect("bench", Noop)
        .build()
        .map_err(|e| anyhow!("{e}"))?;
    let plans = plan(&engine.subscriptions().map_err(|e| anyhow!("{e}"))?);
    let [stream] = plans.as_slice() else {
        bail!("herald planned {} streams, not one", plans.len());
    };
    anyhow::ensure!(
        stream.full_document == herald_core::FullDocument::Default
            && stream.before_change == herald_core::FullDocumentBeforeChange::Off,
        "the live rule asks for more than the default event"
    );
    let pipeline = stream.stages(options.split_large_events);
    let source = MongoSource::new(client.clone(), plans, options);
    Ok((engine, source, pipeline))
}

/// Runs herald until it has completed `expected` events.
async fn herald_consumer(
    engine: Engine,
    source: MongoSource,
    expected: u64,
) -> anyhow::Result<Throughput> {
    let done = Arc::new(Notify::new());
    let mut observer = CountTo {
        seen: 0,
        expected,
        done: done.clone(),
        finished: None,
    };
    let started = Instant::now();
    let run = engine.run(source, &mut observer, async move { done.notified().await });
    tokio::time::timeout(DEADLINE, run)
        .await
        .context("herald did not read every event in time")?
        .map_err(|e| anyhow!("{e}"))?;
    let finished = observer.finished.ok_or_else(|| {
        anyhow!(
            "herald stopped after {} of {expected} events",
            observer.seen
        )
    })?;
    Ok(Throughput::new(
        expected,
        (finished - started).as_secs_f64(),
    ))
}

struct CountTo {
    seen: u64,
    expected: u64,
    done: Arc<Notify>,
    finished: Option<Instant>,
}

impl Observer for CountTo {
    fn event_done(&mut self, _position: &Position) {
        self.seen += 1;
        if self.seen == self.expected {
            self.finished = Some(Instant::now());
            self.done.notify_one();
        }
    }
}

/// What the bare loop opens: the stream herald opens, with its options.
struct BareStream<'a> {
    /// herald's pipeline after `$changeStream`.
    pipeline: &'a [bson::Document],
    /// herald's `maxAwaitTimeMS`.
    max_await: Duration,
    /// herald's `batchSize` for the aggregate and each getMore.
    batch_size: u32,
}

/// The fastest plain loop: raw events through herald's pipeline and stream
/// options, each event's `_id` (its token) and `documentKey` looked at, the
/// resume token written to a file every 512 events.
async fn bare_loop(
    client: &Client,
    coll: &str,
    bare: &BareStream<'_>,
    start: Timestamp,
    expected: u64,
    work: &Path,
) -> anyhow::Result<Throughput> {
    let token_file = work.join("bare-loop.token");
    let started = Instant::now();
    let mut stream = collection(client, coll)
        .watch()
        .pipeline(bare.pipeline.to_vec())
        .max_await_time(bare.max_await)
        .batch_size(bare.batch_size)
        .start_at_operation_time(start)
        .await?
        .with_type::<RawDocumentBuf>();
    let mut seen = 0u64;
    while seen < expected {
        match tokio::time::timeout(DEADLINE, stream.next()).await {
            Ok(Some(event)) => {
                let event = event?;
                let token = event.get_document("_id");
                let key = event.get_document("documentKey");
                if token.is_err() || key.is_err() {
                    bail!("the bare loop's event {seen} has no _id or documentKey");
                }
                seen += 1;
            }
            Ok(None) => bail!("the bare loop's stream ended after {seen} events"),
            Err(_) => bail!("the bare loop did not read every event in time"),
        }
        if (seen.is_multiple_of(512) || seen == expected)
            && let Some(token) = stream.resume_token()
        {
            let bytes = bson::to_vec(&doc! { "token": bson::to_bson(&token)? })?;
            tokio::fs::write(&token_file, bytes).await?;
        }
    }
    Ok(Throughput::new(seen, started.elapsed().as_secs_f64()))
}

/// The pymongo tutorial loop in `benches/baseline/pymongo_loop.py`.
async fn pymongo_loop(
    uri: &str,
    coll: &str,
    start: Timestamp,
    expected: u64,
    work: &Path,
) -> Result<Throughput, String> {
    let script = work.join("pymongo_loop.py");
    std::fs::write(&script, PYMONGO_LOOP).map_err(|e| e.to_string())?;
    let output = tokio::process::Command::new("python3")
        .arg(&script)
        .args(["--uri", uri, "--db", "bench", "--coll", coll])
        .arg("--start")
        .arg(format!("{}:{}", start.time, start.increment))
        .arg("--count")
        .arg(expected.to_string())
        .arg("--token-file")
        .arg(work.join("pymongo.token"))
        .output()
        .await
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("").trim();
        return Err(format!("the pymongo loop failed: {last}"));
    }
    #[derive(serde::Deserialize)]
    struct Reply {
        events: u64,
        seconds: f64,
    }
    let reply: Reply = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("unreadable pymongo loop output: {e}"))?;
    Ok(Throughput::new(reply.events, reply.seconds))
}

/// Measures insert → effect latency while a writer inserts `rate` documents a second.
pub async fn latency(
    server: &Server,
    rate: u64,
    seconds: u64,
    work: &Path,
) -> anyhow::Result<LatencyResult> {
    let client = Client::with_uri_str(&server.uri).await?;
    let coll = format!("latency_{}", std::process::id());
    let rules = work.join("latency-rules");
    write_live_rule(&rules, &format!("bench.{coll}"))?;
    let epoch = Instant::now();
    let channel = Arc::new(LatencyChannel {
        epoch,
        histogram: Mutex::new(measure::histogram()),
        arrived: Notify::new(),
    });
    let config = Config::default();
    let options = config.mongodb.source_options().map_err(|e| anyhow!(e))?;
    let engine = Engine::builder()
        .rules_dir(&rules)
        .store_path(fresh(work.join("latency-store")))
        .config(config)
        .effect("bench", SharedChannel(channel.clone()))
        .build()
        .map_err(|e| anyhow!("{e}"))?;
    let source = MongoSource::new(
        client.clone(),
        plan(&engine.subscriptions().map_err(|e| anyhow!("{e}"))?),
        options,
    );
    let stop = Arc::new(Notify::new());
    let stop_signal = stop.clone();
    let engine_task = tokio::spawn(async move {
        engine
            .run(source, &mut herald_engine::Quiet, async move {
                stop_signal.notified().await
            })
            .await
    });
    let target = collection(&client, &coll);
    // The stream opens in the background: probe until a notice comes back.
    loop {
        target.insert_one(expense(0, -1)).await?;
        if tokio::time::timeout(Duration::from_millis(200), channel.arrived.notified())
            .await
            .is_ok()
        {
            break;
        }
        if epoch.elapsed() > Duration::from_secs(30) {
            bail!("herald's change stream did not open within 30 s");
        }
    }
    channel.histogram.lock().expect("histogram lock").reset();
    let total = rate * seconds;
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let began = Instant::now();
    for n in 0..total {
        ticks.tick().await;
        let sent_us = epoch.elapsed().as_micros() as i64;
        target.insert_one(expense(n, sent_us)).await?;
    }
    let achieved_per_second = total as f64 / began.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(60);
    while channel.histogram.lock().expect("histogram lock").len() < total {
        if Instant::now() > deadline {
            bail!("not every insert reached the effect channel within a minute");
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), channel.arrived.notified()).await;
    }
    stop.notify_one();
    engine_task
        .await
        .context("the engine task")?
        .map_err(|e| anyhow!("{e}"))?;
    let latency = Latency::of(&channel.histogram.lock().expect("histogram lock"));
    Ok(LatencyResult {
        server: server.describe(),
        rate_per_second: rate,
        achieved_per_second,
        latency,
    })
}

/// A store directory emptied of any earlier run's data.
fn fresh(dir: std::path::PathBuf) -> std::path::PathBuf {
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Notes, for each notice, how long ago its document was inserted.
struct LatencyChannel {
    epoch: Instant,
    histogram: Mutex<Histogram<u64>>,
    arrived: Notify,
}

struct SharedChannel(Arc<LatencyChannel>);

impl Channel for SharedChannel {
    fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        let channel = &self.0;
        let now = channel.epoch.elapsed().as_micros() as i64;
        // Rhai hands integers back as int32 when they fit.
        let sent = match effect.intent.args().get("sent_us") {
            Some(Bson::Int32(n)) => i64::from(*n),
            Some(Bson::Int64(n)) => *n,
            _ => -1,
        };
        if sent >= 0 {
            let mut histogram = channel.histogram.lock().expect("histogram lock");
            histogram.saturating_record((now - sent).max(1) as u64);
        }
        channel.arrived.notify_one();
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_round_is_the_middle_speed() {
        let rounds = |rates: &[u64]| rates.iter().map(|&r| Throughput::new(r, 1.0)).collect();
        assert_eq!(median(rounds(&[90, 60, 75])).events, 75);
        assert_eq!(median(rounds(&[60])).events, 60);
        assert_eq!(median(rounds(&[60, 90, 75, 80])).events, 80);
    }
}
