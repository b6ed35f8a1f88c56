//! Durable timers end to end on event files: event time, replacement and
//! cancellation, what a store keeps for the next run, `--until all`, dry
//! runs, shared state, and a timer's dead letter.

mod support;

use bson::{DateTime, doc};
use herald_core::{Effect, IdempotencyKey};
use herald_engine::effects::{BoxFuture, Channel, EffectError};
use herald_engine::timers::{TimerClock, Until, timer_token, timer_version};
use herald_engine::{Config, Engine, Quiet, RunOptions, RunSummary};
use herald_ingest::FileSource;
use herald_store::Store;
use std::path::Path;
use std::sync::{Arc, Mutex};
use support::write_rule;

const HOUR: i64 = 3_600_000;
/// 2024-05-01T10:00:00Z.
const T0: i64 = 1_714_557_600_000;

/// Records (rule, args, key) of every effect.
#[derive(Clone, Default)]
struct Sent(Arc<Mutex<Vec<(String, bson::Document, String)>>>);

impl Channel for Sent {
    fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        self.0.lock().unwrap().push((
            effect.rule.to_string(),
            effect.intent.args(),
            effect.key.to_string(),
        ));
        Box::pin(async { Ok(()) })
    }
}

impl Sent {
    fn take(&self) -> Vec<(String, bson::Document, String)> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

const ESCALATE: &str = r#"
const RULE = #{ watch: "shop.orders", on: ["insert", "update"] };
fn handle(event) {
    let id = event.documentKey._id;
    if event.operationType == "insert" {
        after("48h", `esc:${id}`, #{ id: id });
    } else {
        cancel_timer(`esc:${id}`);
    }
}
fn on_timer(timer) {
    notify("out", #{ id: timer.payload.id, due: timer.due, set_at: timer.set_at });
}
"#;

/// One event line: `op` on document `id` at `at` (ms).
fn line(op: &str, id: i64, at: i64) -> String {
    let seconds = at / 1000;
    format!(
        r#"{{"_id":{{"_data":"{op}{id:04}{seconds}"}},"operationType":"{op}","clusterTime":{{"$timestamp":{{"t":{seconds},"i":1}}}},"wallTime":{{"$date":{{"$numberLong":"{at}"}}}},"ns":{{"db":"shop","coll":"orders"}},"documentKey":{{"_id":{id}}},"fullDocument":{{"_id":{id}}}{}}}"#,
        if op == "update" {
            r#","updateDescription":{"updatedFields":{"paid":true},"removedFields":[],"truncatedArrays":[]}"#
        } else {
            ""
        }
    )
}

fn engine(rules: &Path, store: &Store, sent: &Sent, options: RunOptions) -> Engine {
    engine_with(rules, store, sent, options, 4)
}

fn engine_with(
    rules: &Path,
    store: &Store,
    sent: &Sent,
    options: RunOptions,
    workers: usize,
) -> Engine {
    Engine::builder()
        .rules_dir(rules)
        .store(store.clone())
        .config(Config::parse(&format!("[engine]\nworkers = {workers}\n")).unwrap())
        .effect("out", sent.clone())
        .options(options)
        .build()
        .unwrap()
}

fn event_time(until: Until) -> RunOptions {
    RunOptions {
        timers: TimerClock::EventTime { until },
        ..RunOptions::default()
    }
}

async fn replay(engine: &Engine, events: &Path) -> RunSummary {
    engine
        .run(
            FileSource::open(events).unwrap(),
            &mut Quiet,
            std::future::pending::<()>(),
        )
        .await
        .unwrap()
}

/// The resume token of [`line`]`(op, id, at)`.
fn token_of(op: &str, id: i64, at: i64) -> herald_core::ResumeToken {
    let data = format!("{op}{id:04}{}", at / 1000);
    herald_core::ResumeToken::new(bson::RawBson::Document(bson::rawdoc! { "_data": data }))
}

/// The token of the timer `name` due at `due`, set (as its first) by the event `setter`.
fn fired_token(
    name: &str,
    due: i64,
    setter: &herald_core::ResumeToken,
) -> herald_core::ResumeToken {
    timer_token(name, due, timer_version("esc", setter, 0))
}

/// The key of effect 0 of rule `esc`'s timer `name`, set by the event `setter`.
fn key(name: &str, due: i64, setter: &herald_core::ResumeToken) -> String {
    IdempotencyKey::derive("esc", &fired_token(name, due, setter), 0).to_string()
}

/// Order 1 waits 48 hours and is escalated before the first event after
/// that; order 2 is paid first, so its timer never fires; order 3's timer
/// is due after the file's last event and stays pending for the next run,
/// which fires it (with `--until all`) once.
#[tokio::test]
async fn timers_fire_in_event_time_and_pending_ones_wait_for_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    write_rule(dir.path(), "esc", ESCALATE);
    let events = dir.path().join("events.jsonl");
    let lines = [
        line("insert", 1, T0),
        line("insert", 2, T0 + HOUR),
        line("update", 2, T0 + 2 * HOUR),
        line("insert", 3, T0 + 49 * HOUR),
    ];
    std::fs::write(&events, lines.join("\n")).unwrap();
    let store = Store::temporary().unwrap();
    let sent = Sent::default();

    let first = replay(
        &engine(dir.path(), &store, &sent, event_time(Until::LastEvent)),
        &events,
    )
    .await;
    assert_eq!(
        sent.take(),
        vec![(
            "esc".to_owned(),
            doc! { "id": 1, "due": DateTime::from_millis(T0 + 48 * HOUR), "set_at": DateTime::from_millis(T0) },
            key("esc:1", T0 + 48 * HOUR, &token_of("insert", 1, T0)),
        )]
    );
    assert_eq!(
        (
            first.events,
            first.timers_set,
            first.timers_fired,
            first.effects
        ),
        (4, 3, 1, 1)
    );
    let pending: Vec<(String, i64)> = store
        .timers()
        .map(|t| t.map(|t| (t.name, t.due_ms)))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(pending, vec![("esc:3".to_owned(), T0 + 97 * HOUR)]);

    // The next run reads no new event; `--until all` fires what is pending, once.
    let second = replay(
        &engine(dir.path(), &store, &sent, event_time(Until::All)),
        &events,
    )
    .await;
    assert_eq!(
        sent.take()
            .into_iter()
            .map(|(_, a, k)| (a.get_i32("id").unwrap(), k))
            .collect::<Vec<_>>(),
        vec![(
            3,
            key(
                "esc:3",
                T0 + 97 * HOUR,
                &token_of("insert", 3, T0 + 49 * HOUR)
            )
        )]
    );
    assert_eq!((second.events, second.timers_fired), (0, 1));
    assert_eq!(store.timers().count(), 0);
    let third = replay(
        &engine(dir.path(), &store, &sent, event_time(Until::All)),
        &events,
    )
    .await;
    assert_eq!((third.timers_fired, sent.take().len()), (0, 0));
}

/// Setting a pending name again replaces it: only the last setting fires.
/// `--until TIME` fires what is due by then, not later.
#[tokio::test]
async fn a_timer_set_again_fires_once_at_its_new_time_and_until_stops_where_it_says() {
    let dir = tempfile::tempdir().unwrap();
    write_rule(dir.path(), "esc", ESCALATE);
    let events = dir.path().join("events.jsonl");
    // Document 1 is inserted twice (a replace of sorts): the second `after` replaces the first.
    std::fs::write(
        &events,
        [
            line("insert", 1, T0),
            line("insert", 1, T0 + 10 * HOUR),
            line("insert", 2, T0 + 20 * HOUR),
        ]
        .join("\n"),
    )
    .unwrap();
    let store = Store::temporary().unwrap();
    let sent = Sent::default();
    let until = Until::At(DateTime::from_millis(T0 + 60 * HOUR));
    let summary = replay(
        &engine(dir.path(), &store, &sent, event_time(until)),
        &events,
    )
    .await;
    let fired: Vec<(i32, DateTime)> = sent
        .take()
        .into_iter()
        .map(|(_, a, _)| (a.get_i32("id").unwrap(), *a.get_datetime("due").unwrap()))
        .collect();
    assert_eq!(fired, vec![(1, DateTime::from_millis(T0 + 58 * HOUR))]);
    assert_eq!((summary.timers_set, summary.timers_fired), (3, 1));
    assert_eq!(
        store.timer("esc", "esc:2").unwrap().unwrap().due_ms,
        T0 + 68 * HOUR
    );
}

/// A dry run fires timers in memory, prints their intents like any other,
/// and leaves the store without them. Where a timer fires depends on the
/// documents' partitions, not on the worker count: the output is the same
/// with one worker or three.
#[tokio::test]
async fn a_dry_run_simulates_timers_the_same_with_any_worker_count_and_stores_none() {
    struct Lines(Vec<String>);
    impl herald_engine::Observer for Lines {
        fn dry_run(&mut self, effect: &Effect) {
            self.0.push(format!(
                "{} {} {}",
                effect.intent.kind(),
                effect.token,
                effect.key
            ));
        }
        fn dry_run_intent(
            &mut self,
            _rule: &str,
            _token: &herald_core::ResumeToken,
            intent: &herald_core::Intent,
        ) {
            self.0.push(format!(
                "{} {}",
                intent.kind(),
                intent.target().unwrap_or("")
            ));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    write_rule(dir.path(), "esc", ESCALATE);
    let events = dir.path().join("events.jsonl");
    // Documents 1 to 6 at T0, then each again 50 hours later: every timer
    // is due before its own document's second event. Documents 7 to 12 at
    // T0 + 10h: their timers are due after the last event, and fire at the
    // end (`--until all`), in due order.
    let lines: Vec<String> = (1..=6)
        .map(|id| line("insert", id, T0))
        .chain((7..=12).map(|id| line("insert", id, T0 + 10 * HOUR + id * 1000)))
        .chain((1..=6).map(|id| line("update", id, T0 + 50 * HOUR)))
        .collect();
    std::fs::write(&events, lines.join("\n")).unwrap();
    let store = Store::temporary().unwrap();
    let sent = Sent::default();
    let options = RunOptions {
        dry_run: true,
        ..event_time(Until::All)
    };
    let mut outputs = Vec::new();
    for workers in [1, 3] {
        let mut lines = Lines(Vec::new());
        let summary = engine_with(dir.path(), &store, &sent, options.clone(), workers)
            .run(
                FileSource::open(&events).unwrap(),
                &mut lines,
                std::future::pending::<()>(),
            )
            .await
            .unwrap();
        assert_eq!(
            (summary.timers_set, summary.timers_fired, summary.effects),
            (12, 12, 12)
        );
        outputs.push(lines.0);
    }
    assert_eq!(outputs[0], outputs[1], "the same with 1 and 3 workers");
    // Each document's escalation comes after its own set and before its own update's cancel.
    for id in 1..=6 {
        let setter = token_of("insert", id, T0);
        let fired = format!(
            "notify {} {}",
            fired_token(&format!("esc:{id}"), T0 + 48 * HOUR, &setter),
            key(&format!("esc:{id}"), T0 + 48 * HOUR, &setter)
        );
        let at = |line: &str| outputs[0].iter().position(|l| l == line).unwrap();
        assert!(
            at(&format!("set_timer esc:{id}")) < at(&fired),
            "{:#?}",
            outputs[0]
        );
        let cancels: Vec<usize> = outputs[0]
            .iter()
            .enumerate()
            .filter(|(_, l)| *l == &format!("cancel_timer esc:{id}"))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(cancels.len(), 1);
        assert!(at(&fired) < cancels[0], "{:#?}", outputs[0]);
    }
    // The end fires 7 to 12 after every event, earliest first.
    let end: Vec<&String> = outputs[0]
        .iter()
        .skip_while(|l| !l.starts_with("cancel_timer esc:6"))
        .skip(1)
        .collect();
    let fired: Vec<String> = (7..=12)
        .map(|id| {
            let setter = token_of("insert", id, T0 + 10 * HOUR + id * 1000);
            let due = T0 + 58 * HOUR + id * 1000;
            let name = format!("esc:{id}");
            format!(
                "notify {} {}",
                fired_token(&name, due, &setter),
                key(&name, due, &setter)
            )
        })
        .collect();
    assert_eq!(end, fired.iter().collect::<Vec<_>>(), "{:#?}", outputs[0]);
    assert!(sent.take().is_empty(), "a dry run executes nothing");
    assert_eq!(store.timers().count(), 0, "a dry run stores no timer");
}

/// Two rules naming one state scope share it; a timer reads it when it
/// fires: the decision (another rule) deleted the key, so no escalation.
#[tokio::test]
async fn shared_state_decides_what_a_timer_does() {
    let dir = tempfile::tempdir().unwrap();
    write_rule(
        dir.path(),
        "ask",
        r#"
const RULE = #{ watch: "shop.orders", on: ["insert"], state: "orders" };
fn handle(event) {
    let id = event.documentKey._id;
    set_state(`open:${id}`, true);
    after("1h", `check:${id}`, id);
}
fn on_timer(timer) {
    if get_state(`open:${timer.payload}`) == true { notify("out", #{ id: timer.payload }); }
}
"#,
    );
    write_rule(
        dir.path(),
        "decide",
        r#"
const RULE = #{ watch: "shop.orders", on: ["update"], state: "orders" };
fn handle(event) { del_state(`open:${event.documentKey._id}`); }
"#,
    );
    let events = dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        [
            line("insert", 1, T0),
            line("insert", 2, T0),
            line("update", 2, T0 + 1000),
            line("insert", 3, T0 + 2 * HOUR),
        ]
        .join("\n"),
    )
    .unwrap();
    let store = Store::temporary().unwrap();
    let sent = Sent::default();
    let summary = replay(
        &engine(dir.path(), &store, &sent, event_time(Until::LastEvent)),
        &events,
    )
    .await;
    let ids: Vec<i32> = sent
        .take()
        .iter()
        .map(|(_, a, _)| a.get_i32("id").unwrap())
        .collect();
    assert_eq!(ids, vec![1]);
    assert_eq!(summary.timers_fired, 2);
    assert_eq!(
        store.get_state("@orders", "open:1").unwrap(),
        Some(bson::Bson::Boolean(true))
    );
    assert_eq!(store.get_state("@orders", "open:2").unwrap(), None);
    assert_eq!(
        store.get_state("ask", "open:1").unwrap(),
        None,
        "not the rule's own state"
    );
}

/// A channel that fails until told otherwise.
#[derive(Clone)]
struct Flaky(Arc<Mutex<bool>>, Sent);

impl Channel for Flaky {
    fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        let failing = *self.0.lock().unwrap();
        if !failing {
            self.1.0.lock().unwrap().push((
                effect.rule.to_string(),
                effect.intent.args(),
                effect.key.to_string(),
            ));
        }
        Box::pin(async move {
            if failing {
                Err(EffectError::permanent("down"))
            } else {
                Ok(())
            }
        })
    }
}

/// A timer whose effect fails goes to the dead-letter queue with the timer;
/// a retry runs `on_timer` again with the same key, and the timer is gone.
#[tokio::test]
async fn a_failing_timer_is_dead_lettered_and_retried_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    write_rule(dir.path(), "esc", ESCALATE);
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, line("insert", 1, T0)).unwrap();
    let store = Store::temporary().unwrap();
    let sent = Sent::default();
    let flaky = Flaky(Arc::new(Mutex::new(true)), sent.clone());
    let build = || {
        Engine::builder()
            .rules_dir(dir.path())
            .store(store.clone())
            .config(Config::parse("[retry]\nmax_attempts = 1\n").unwrap())
            .effect("out", flaky.clone())
            .options(event_time(Until::All))
            .build()
            .unwrap()
    };
    let summary = replay(&build(), &events).await;
    assert_eq!((summary.timers_fired, summary.dead_lettered), (1, 1));
    assert_eq!(
        store.timers().count(),
        0,
        "the timer is the dead letter's now"
    );
    let letter = store.dead_letters().next().unwrap().unwrap();
    assert_eq!(
        letter.token,
        fired_token("esc:1", T0 + 48 * HOUR, &token_of("insert", 1, T0)).as_bytes()
    );
    assert_eq!(
        letter
            .event
            .get_document("timer")
            .unwrap()
            .get_str("name")
            .unwrap(),
        "esc:1"
    );
    *flaky.0.lock().unwrap() = false;
    let outcome = build().retry_dead_letter(letter.id).await.unwrap();
    assert_eq!(
        outcome,
        herald_engine::RetryOutcome::Succeeded { effects: 1 }
    );
    assert_eq!(
        sent.take()
            .into_iter()
            .map(|(_, _, k)| k)
            .collect::<Vec<_>>(),
        vec![key("esc:1", T0 + 48 * HOUR, &token_of("insert", 1, T0))]
    );
    assert_eq!(store.dead_letters().count(), 0);
}

/// `on_timer` of `a` cancels `b`, or sets it again later; both were due
/// together. (`after(.., "b")` in `a` re-sets `b` for 10 hours later.)
const CHANGES_ANOTHER: &str = r#"
const RULE = #{ watch: "shop.orders", on: ["insert", "update"] };
fn handle(event) {
    if event.operationType == "insert" { after("1h", "a", 1); after("2h", "b", 2); }
}
fn on_timer(timer) {
    notify("out", #{ id: timer.payload, name: timer.name });
    if timer.name == "a" && event_free_cancel() { cancel_timer("b"); }
    if timer.name == "a" && !event_free_cancel() { after("10h", "b", 3); }
}
fn event_free_cancel() { CANCEL }
"#;

fn changes_another(cancel: bool) -> String {
    CHANGES_ANOTHER.replace("CANCEL", if cancel { "true" } else { "false" })
}

/// A timer changed by an earlier timer's `on_timer`, when both are due
/// before the same event (one batch), or at the end of a replay (one round):
/// cancelled, it does not fire; set again, only the new setting fires, once
/// (or, past the latest timer pending at the end of the events, stays pending
/// for the next run).
#[tokio::test]
async fn a_timer_changed_by_another_due_with_it_fires_as_changed() {
    for (cancel, events, until, expected, left) in [
        (
            true,
            vec![line("insert", 1, T0), line("update", 1, T0 + 3 * HOUR)],
            Until::LastEvent,
            vec!["a:1"],
            0,
        ),
        (
            true,
            vec![line("insert", 1, T0)],
            Until::All,
            vec!["a:1"],
            0,
        ),
        (
            false,
            vec![line("insert", 1, T0), line("update", 1, T0 + 3 * HOUR)],
            Until::All,
            vec!["a:1", "b:3"],
            0,
        ),
        (
            false,
            vec![line("insert", 1, T0)],
            Until::All,
            vec!["a:1"],
            1,
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_rule(dir.path(), "esc", &changes_another(cancel));
        let file = dir.path().join("events.jsonl");
        std::fs::write(&file, events.join("\n")).unwrap();
        for dry_run in [false, true] {
            let store = Store::temporary().unwrap();
            let sent = Sent::default();
            let options = RunOptions {
                dry_run,
                ..event_time(until)
            };
            let summary = replay(&engine(dir.path(), &store, &sent, options), &file).await;
            let fired: Vec<String> = if dry_run {
                Vec::new()
            } else {
                sent.take()
                    .iter()
                    .map(|(_, a, _)| {
                        format!(
                            "{}:{}",
                            a.get_str("name").unwrap(),
                            a.get_i32("id").unwrap()
                        )
                    })
                    .collect()
            };
            let case = format!(
                "cancel {cancel}, {} events, {until:?}, dry run {dry_run}",
                events.len()
            );
            if !dry_run {
                assert_eq!(fired, expected, "{case}");
            }
            assert_eq!(summary.timers_fired, expected.len() as u64, "{case}");
            if !dry_run {
                assert_eq!(store.timers().count(), left, "{case}");
            }
        }
    }
}

/// A timer whose `on_timer` sets it due again at once cannot keep the end
/// of a replay going for ever: it fires 1,000 times, then stays pending.
#[tokio::test]
async fn a_timer_that_keeps_coming_due_ends_the_replay_all_the_same() {
    let dir = tempfile::tempdir().unwrap();
    write_rule(
        dir.path(),
        "esc",
        r#"
const RULE = #{ watch: "shop.orders", on: ["insert"] };
fn handle(event) { after("1h", "again"); }
fn on_timer(timer) { notify("out", #{}); after(0, "again"); }
"#,
    );
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, line("insert", 1, T0)).unwrap();
    let store = Store::temporary().unwrap();
    let sent = Sent::default();
    let summary = replay(
        &engine(dir.path(), &store, &sent, event_time(Until::All)),
        &events,
    )
    .await;
    assert_eq!((summary.timers_fired, summary.effects), (1_000, 1_000));
    assert_eq!(sent.take().len(), 1_000);
    assert_eq!(store.timers().count(), 1, "it stays pending");
}
