//! The timers crash test: `herald run` is SIGKILLed while timers come due
//! and fire; afterwards every timer's effects have arrived, one idempotency
//! key per effect (a timer fired again after a crash repeats its keys), and
//! the store holds no pending timer.

use crate::util::{MongoSimProcess, herald_process};
use std::collections::{BTreeSet, HashMap};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DOCS: i64 = 40;
/// Between two inserts: the writer spans most of the timers' due window, so
/// timers fire both before events (by their time) and on the wall clock's ticks.
const PACE: Duration = Duration::from_millis(200);
const KILLS: u64 = 10;
/// The first kill (from the first run's start), then one every
/// `KILL_SPACING_MS` plus up to `KILL_JITTER_MS`: from about the first
/// timer's due time to about the last one's (some 11.5 s after the first insert).
const FIRST_KILL_MS: u64 = 1_000;
const KILL_SPACING_MS: u64 = 1_100;
const KILL_JITTER_MS: u64 = 900;

/// The effects of one document: its insert's, its timer's, and the timer
/// its timer set (so timers set in `on_timer` are covered too).
const KINDS: [&str; 3] = ["set", "fired", "rearmed"];

/// Insert of document `id`: `set`, and `t:<id>` due 1.5 to 2.7 s later.
/// `t:<id>`: `fired`, and `t2:<id>` due 1 s after it. `t2:<id>`: `rearmed`.
const RULE: &str = r#"
const RULE = #{ watch: "crash.timers", on: ["insert"] };
fn handle(event) {
    let id = event.documentKey._id;
    webhook("sink", #{ kind: "set", id: id });
    after(1500 + (id % 5) * 300, `t:${id}`, #{ id: id });
}
fn on_timer(timer) {
    let id = timer.payload.id;
    if timer.name.starts_with("t:") {
        webhook("sink", #{ kind: "fired", id: id, due: timer.due.millis });
        after(1000, `t2:${id}`, #{ id: id });
    } else {
        webhook("sink", #{ kind: "rearmed", id: id, due: timer.due.millis });
    }
}
"#;

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Arrival {
    /// Wall clock at arrival, in milliseconds since the epoch.
    at_ms: i64,
    key: String,
    body: serde_json::Value,
}

impl Arrival {
    fn effect(&self) -> (String, i64) {
        (
            self.body["kind"].as_str().unwrap().to_owned(),
            self.body["id"].as_i64().unwrap(),
        )
    }
}

/// The timers in the store at `dir` (which no process has open).
fn pending_timers(dir: &std::path::Path) -> Vec<herald_store::Timer> {
    let store = herald_store::Store::open(dir).unwrap();
    store.timers().map(Result::unwrap).collect()
}

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

herald_test!(sigkill_while_timers_fire_loses_no_timer, |dir| {
    let seed = fastrand::u64(..);
    println!("seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let began = Instant::now();
    let sim = MongoSimProcess::start();
    let runtime = crate::util::server_runtime();
    // The receiver notes each request's arrival time, to tell early fires.
    let arrivals: Arc<Mutex<Vec<Arrival>>> = Arc::default();
    let receiver = runtime.block_on(async {
        let server = wiremock::MockServer::start().await;
        let log = Arc::clone(&arrivals);
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .respond_with(move |request: &wiremock::Request| {
                log.lock().unwrap().push(Arrival {
                    at_ms: now_ms(),
                    key: request.headers["Idempotency-Key"]
                        .to_str()
                        .unwrap()
                        .to_owned(),
                    body: serde_json::from_slice(&request.body).unwrap(),
                });
                wiremock::ResponseTemplate::new(200)
            })
            .mount(&server)
            .await;
        server
    });
    dir.write("rules/timers.rhai", RULE);
    // Groups commit at most every 200 ms, so a kill often lands between a
    // fired timer's webhook and its commit: the timer fires again.
    let config = crate::util::crash_config(
        &dir,
        &sim.uri,
        &receiver.uri(),
        "commit_every = 50\ncommit_interval_ms = 200",
    );

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
                .collection::<bson::Document>("timers");
            for id in 0..DOCS {
                docs.insert_one(bson::doc! {"_id": id}).await.unwrap();
                tokio::time::sleep(PACE).await; // pacing, not synchronisation
            }
        });
    });

    let run = |log: &str| {
        herald_process()
            .arg("run")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(log)).unwrap())
            .spawn()
            .unwrap()
    };
    let kinds_arrived = |kind: &str| -> usize {
        let arrivals = arrivals.lock().unwrap();
        let ids: BTreeSet<i64> = arrivals
            .iter()
            .map(Arrival::effect)
            .filter(|(k, _)| k == kind)
            .map(|(_, id)| id)
            .collect();
        ids.len()
    };
    // Kills at moments spread over the due window, each of a fresh run; each
    // is told with what had arrived and what the store had yet to fire.
    let first = Instant::now();
    let mut kills_with_due_timers = 0;
    for k in 0..KILLS {
        let mut herald = run(&format!("run-{k}.log"));
        let at = FIRST_KILL_MS + k * KILL_SPACING_MS + rng.u64(0..KILL_JITTER_MS);
        std::thread::sleep(
            (first + Duration::from_millis(at)).saturating_duration_since(Instant::now()),
        ); // a random moment to kill at
        herald.kill().unwrap(); // SIGKILL
        herald.wait().unwrap();
        let killed_at = now_ms();
        let pending = pending_timers(&dir.join("store"));
        let due = pending.iter().filter(|t| t.due_ms <= killed_at).count();
        kills_with_due_timers += usize::from(due > 0);
        println!(
            "kill {k} at {} ms: {} set, {} fired, {} rearmed arrived; {} timers pending, {due} of them due",
            first.elapsed().as_millis(),
            kinds_arrived("set"),
            kinds_arrived("fired"),
            kinds_arrived("rearmed"),
            pending.len(),
        );
    }
    writer.join().unwrap();
    assert!(
        kills_with_due_timers > 0,
        "no kill landed while a timer was due (seed {seed}): the test tested nothing"
    );

    // The last run fires what is left; it is stopped once everything arrived.
    let mut last = run("last.log");
    let expected: BTreeSet<(String, i64)> = (0..DOCS)
        .flat_map(|id| KINDS.map(|kind| (kind.to_owned(), id)))
        .collect();
    let arrived = || -> BTreeSet<(String, i64)> {
        arrivals
            .lock()
            .unwrap()
            .iter()
            .map(Arrival::effect)
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !arrived().is_superset(&expected) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    crate::util::sigterm(&last);
    let status = last.wait().unwrap();
    let last_log = std::fs::read_to_string(dir.join("last.log")).unwrap();
    assert!(
        status.success(),
        "the last run stopped with {status}:\n{last_log}"
    );
    let missing: Vec<_> = expected.difference(&arrived()).cloned().collect();
    assert!(
        missing.is_empty(),
        "effects missing after the last run (seed {seed}): {missing:?}\n{last_log}"
    );

    let all = arrivals.lock().unwrap().clone();
    // Each key stands for one effect, and every request with it says the same.
    let mut by_key: HashMap<&str, &serde_json::Value> = HashMap::new();
    for arrival in &all {
        let body = by_key.entry(&arrival.key).or_insert(&arrival.body);
        assert_eq!(
            *body, &arrival.body,
            "key {} sent for two effects (seed {seed})",
            arrival.key
        );
    }
    let effects: BTreeSet<(String, i64)> = all.iter().map(Arrival::effect).collect();
    assert_eq!(effects, expected, "no unexpected effect (seed {seed})");
    assert_eq!(
        by_key.len(),
        expected.len(),
        "one idempotency key per effect (seed {seed})"
    );
    let repeats: HashMap<&str, usize> = KINDS
        .map(|kind| {
            let sent = all.iter().filter(|a| a.body["kind"] == kind).count();
            (kind, sent - DOCS as usize)
        })
        .into();
    println!(
        "{} effects expected, {} requests received, repeats (same key) by kind: {repeats:?}",
        expected.len(),
        all.len()
    );

    // Per document: first arrivals in the order set, fired, rearmed; a
    // timer never fires before it is due; `t2` is due 1 s after `t`.
    let mut first_seen: HashMap<i64, Vec<&Arrival>> = HashMap::new();
    let mut seen = BTreeSet::new();
    for arrival in &all {
        if seen.insert(arrival.key.as_str()) {
            first_seen
                .entry(arrival.effect().1)
                .or_default()
                .push(arrival);
        }
    }
    let mut latest = 0;
    for (id, arrivals) in &first_seen {
        let kinds: Vec<_> = arrivals.iter().map(|a| a.effect().0).collect();
        assert_eq!(
            kinds, KINDS,
            "document {id}'s effects in order (seed {seed})"
        );
        for fire in &arrivals[1..] {
            let due = fire.body["due"].as_i64().unwrap();
            assert!(
                fire.at_ms >= due,
                "document {id}'s {} arrived {} ms before it was due (seed {seed})",
                fire.effect().0,
                due - fire.at_ms
            );
            latest = latest.max(fire.at_ms - due);
        }
        assert_eq!(
            arrivals[2].body["due"].as_i64(),
            arrivals[1].body["due"].as_i64().map(|due| due + 1000),
            "document {id}'s second timer is due 1 s after its first"
        );
    }
    println!(
        "latest first arrival of a fired timer: {latest} ms after it was due; test took {} ms",
        began.elapsed().as_millis()
    );

    // Every timer has fired and been removed, none is left to fire again.
    let pending = pending_timers(&dir.join("store"));
    assert!(
        pending.is_empty(),
        "{} timers still pending after every one fired (seed {seed}), the first: {:?}",
        pending.len(),
        pending
            .iter()
            .take(5)
            .map(|t| (&t.name, t.due_ms))
            .collect::<Vec<_>>()
    );
});
