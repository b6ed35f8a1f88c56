//! The worker threads: each handles its partition's events in order, off
//! the async runtime's threads.
//!
//! A handler is a synchronous Rhai call that may run up to its time limit.
//! On a runtime thread it would hold up everything else there: the shutdown
//! signal, the source, commits, heartbeats and other documents' events. So
//! each worker is an OS thread: it runs an event's routing and handlers
//! itself, and drives the event's effects through the runtime's handle
//! (their I/O and timers stay on the runtime). Stopping the pool cancels
//! handlers at their next operation and effects at their next await.

use super::done::{Completions, Done};
use super::floor::Floors;
use super::worker::{Env, WorkItem, process};
use crate::engine::{Core, EngineError};
use crate::state::StateView;
use crate::timers::book::TimerBook;
use herald_script::CallLimits;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, watch};

/// A worker's queue: chunks of events, in order.
pub(crate) type Queue = mpsc::Sender<Vec<WorkItem>>;

/// The running worker threads of one run.
pub(crate) struct Workers {
    /// One message per thread when it ends: why, if it failed.
    exits: mpsc::UnboundedReceiver<Option<String>>,
    running: usize,
    /// Read by handlers before each operation.
    cancel: Arc<AtomicBool>,
    /// Awaited by effects.
    cancelled: watch::Sender<bool>,
}

impl Workers {
    /// Starts `core.settings.worker_count()` threads, each reading its own
    /// bounded queue; returns the pool and the queues' senders. Must be
    /// called within a Tokio runtime.
    pub(crate) fn start(
        core: &Arc<Core>,
        state: &Arc<StateView>,
        book: &Arc<TimerBook>,
        floors: &Arc<Floors>,
        done: &Completions,
    ) -> Result<(Self, Vec<Queue>), EngineError> {
        let runtime = tokio::runtime::Handle::current();
        let (exit_tx, exits) = mpsc::unbounded_channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let (cancelled, cancelled_rx) = watch::channel(false);
        let limits = CallLimits {
            cancel: Some(cancel.clone()),
            ..core.limits.clone()
        };
        let mut workers = Self {
            exits,
            running: 0,
            cancel,
            cancelled,
        };
        let mut senders = Vec::new();
        let count = core.settings.worker_count();
        // The run bounds the events in flight to `queue` per worker, in all
        // (plus one source batch), and hands them over in chunks of at most
        // `queue`. Chunks can be as small as one event (a quiet stream's
        // batches), so a queue holds as many chunks as that bound has events:
        // a slow handler holds up its own documents, not the dispatch of
        // everyone else's, until the bound is reached.
        let capacity = core.settings.queue.max(1).saturating_mul(count);
        for index in 0..count {
            let (tx, rx) = mpsc::channel(capacity);
            let worker = Worker {
                index,
                runtime: runtime.clone(),
                core: core.clone(),
                state: state.clone(),
                book: book.clone(),
                floors: floors.clone(),
                limits: limits.clone(),
                items: rx,
                done: done.sender(),
                cancelled: cancelled_rx.clone(),
            };
            let exit = exit_tx.clone();
            std::thread::Builder::new()
                .name(format!("herald-worker-{index}"))
                .spawn(move || {
                    let ended =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker.run()));
                    let failure = ended.err().map(|payload| {
                        format!(
                            "panicked: {}",
                            super::rule_run::panic_message(payload.as_ref())
                        )
                    });
                    let _ = exit.send(failure);
                })
                .map_err(|e| {
                    EngineError::WorkerFailed(format!("cannot start a worker thread: {e}"))
                })?;
            workers.running += 1;
            senders.push(tx);
        }
        Ok((workers, senders))
    }

    /// Waits until a worker ends: `Some(why)` if it failed, `Some(None)` if
    /// it returned; `None` once none is running.
    pub(crate) async fn next_exit(&mut self) -> Option<Option<String>> {
        if self.running == 0 {
            return None;
        }
        let exit = self.exits.recv().await?;
        self.running -= 1;
        Some(exit)
    }

    /// Why the workers ended, once every one has: the first failure.
    pub(crate) async fn failure(&mut self) -> EngineError {
        while let Some(exit) = self.next_exit().await {
            if let Some(reason) = exit {
                return EngineError::WorkerFailed(reason);
            }
        }
        EngineError::WorkerFailed("every worker ended with events in flight".to_owned())
    }

    /// Cancels what the workers are doing and waits until every thread has
    /// ended. Their queues must be closed (senders dropped) first.
    pub(crate) async fn stop(&mut self) {
        self.cancel();
        while self.next_exit().await.is_some() {}
    }

    fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
        self.cancelled.send_replace(true);
    }
}

impl Drop for Workers {
    /// A run dropped mid-way (its future cancelled) leaves no handler running.
    fn drop(&mut self) {
        self.cancel();
    }
}

/// One worker thread's share of the run.
struct Worker {
    /// Which worker it is: the share of documents (and timers) it owns.
    index: usize,
    runtime: tokio::runtime::Handle,
    core: Arc<Core>,
    state: Arc<StateView>,
    book: Arc<TimerBook>,
    floors: Arc<Floors>,
    limits: CallLimits,
    items: mpsc::Receiver<Vec<WorkItem>>,
    done: Done,
    cancelled: watch::Receiver<bool>,
}

impl Worker {
    /// Handles items until the queue closes, the run stops listening, an
    /// item fails the run, or the pool is cancelled.
    fn run(mut self) {
        let env = Env {
            state: &self.state,
            book: &self.book,
            floors: &self.floors,
            limits: &self.limits,
            worker: self.index,
            workers: self.core.settings.worker_count(),
        };
        while let Some(group) = self.items.blocking_recv() {
            // One trip into the runtime for the whole chunk.
            let go_on = self.runtime.block_on(async {
                let mut cancelled = std::pin::pin!(self.cancelled.wait_for(|c| *c));
                for item in group {
                    let result = tokio::select! {
                        biased;
                        _ = &mut cancelled => return false,
                        result = process(&self.core, &env, &item) => result,
                    };
                    let failed = result.is_err();
                    if self.done.send((item.seq, result)).is_err() || failed {
                        return false;
                    }
                }
                true
            });
            if !go_on {
                return;
            }
            // Nothing more queued: the run has all this worker has done.
            if self.items.is_empty() {
                self.done.wake();
            }
        }
    }
}

/// The worker of `workers` that owns the event on `line` (Extended JSON).
#[cfg(test)]
fn worker_of_line(line: &str, workers: usize) -> usize {
    use super::partition::{event_partition, worker_of};
    let raw = herald_core::extjson::parse_raw_document(line).unwrap();
    let event = herald_core::ChangeEvent::from_raw(raw).unwrap();
    worker_of(event_partition(&event), workers)
}

#[cfg(test)]
mod tests {
    use crate::effects::{Channel, EffectError};
    use crate::{Config, Engine, Quiet};
    use futures_util::future::BoxFuture;
    use herald_core::Effect;
    use std::time::Duration;
    use tokio::sync::{mpsc, oneshot};

    struct Forward(mpsc::UnboundedSender<Effect>);

    impl Channel for Forward {
        fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
            let _ = self.0.send(effect.clone());
            Box::pin(async { Ok(()) })
        }
    }

    fn insert(id: u32, kind: &str) -> String {
        format!(
            r#"{{"_id":{{"_data":"{id:04}"}},"operationType":"insert","ns":{{"db":"shop","coll":"orders"}},"documentKey":{{"_id":{id}}},"fullDocument":{{"_id":{id},"kind":"{kind}"}}}}"#
        )
    }

    fn rule(kind: &str, extra: &str, body: &str) -> String {
        format!(
            "const RULE = #{{ watch: \"shop.orders\", on: [\"insert\"], filter: #{{ \"fullDocument.kind\": \"{kind}\" }}{extra} }};\nfn handle(event) {{\n{body}    notify(\"out\", #{{}});\n}}\n"
        )
    }

    /// On a runtime with one thread, a handler that runs for a minute holds
    /// up only the events of its own worker: other documents' effects
    /// arrive while it runs, and the shutdown signal ends the run.
    #[tokio::test(flavor = "current_thread")]
    async fn a_slow_handler_holds_up_only_its_own_worker() {
        let dir = tempfile::tempdir().unwrap();
        let slow = "    let s = \"\";\n    s.pad(1048576, \"x\");\n    for i in 0..200000 { let t = s.to_upper(); }\n";
        std::fs::write(dir.path().join("slow.rhai"), rule("slow", "", slow)).unwrap();
        std::fs::write(dir.path().join("fast.rhai"), rule("fast", "", "")).unwrap();
        let workers = 2;
        let slow_event = insert(1, "slow");
        let partition_of = |line: &str| super::worker_of_line(line, workers);
        // Five documents another worker owns.
        let fast: Vec<String> = (2..)
            .map(|id| insert(id, "fast"))
            .filter(|line| partition_of(line) != partition_of(&slow_event))
            .take(5)
            .collect();
        let events = dir.path().join("events.jsonl");
        std::fs::write(
            &events,
            [slow_event]
                .iter()
                .chain(&fast)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n"),
        )
        .unwrap();
        let config = Config::parse(&format!(
            "[engine]\nworkers = {workers}\nshutdown_timeout_ms = 50\nhandler_timeout_ms = 60000\n"
        ))
        .unwrap();
        let (effects_tx, mut effects) = mpsc::unbounded_channel();
        let engine = Engine::builder()
            .rules_dir(dir.path())
            .config(config)
            .effect("out", Forward(effects_tx))
            .build()
            .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let source = herald_ingest::FileSource::open(&events).unwrap();
        let watch = async {
            let mut seen = Vec::new();
            while seen.len() < 5 {
                let effect = tokio::time::timeout(Duration::from_secs(30), effects.recv())
                    .await
                    .expect("other documents' effects arrive while the slow handler runs")
                    .unwrap();
                seen.push(effect.rule.to_string());
            }
            stop.send(()).unwrap();
            seen
        };
        let mut quiet = Quiet;
        let (summary, seen) = tokio::join!(
            engine.run(source, &mut quiet, async {
                let _ = stopped.await;
            }),
            watch
        );
        let summary = summary.unwrap();
        assert_eq!(seen, vec!["fast"; 5]);
        // The slow event was abandoned at the shutdown deadline, to be redone;
        // the fast ones complete but cannot be checkpointed past it.
        assert!(summary.interrupted);
        assert_eq!(
            (summary.abandoned, summary.dead_lettered),
            (1, 0),
            "{summary:?}"
        );
        assert!(effects.try_recv().is_err(), "no other effect");
    }
}

#[cfg(test)]
mod shutdown_tests {
    use crate::effects::{Channel, EffectError};
    use crate::{Config, Engine, Quiet};
    use futures_util::future::BoxFuture;
    use herald_core::Effect;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use tokio::sync::{Notify, Semaphore, oneshot};

    /// Holds each effect until a permit is given; records what got through.
    #[derive(Clone)]
    struct Gate {
        permits: Arc<Semaphore>,
        entered: Arc<Notify>,
        done: Arc<Mutex<Vec<String>>>,
    }

    impl Channel for Gate {
        fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
            Box::pin(async move {
                self.entered.notify_one();
                self.permits.acquire().await.expect("open").forget();
                self.done.lock().unwrap().push(effect.key.to_string());
                Ok(())
            })
        }
    }

    fn insert(id: u32) -> String {
        format!(
            r#"{{"_id":{{"_data":"{id:04}"}},"operationType":"insert","ns":{{"db":"d","coll":"c"}},"documentKey":{{"_id":{id}}}}}"#
        )
    }

    /// A shutdown while the dispatch waits on a full queue hands over a
    /// prefix of the batch: no later event runs ahead of one left behind,
    /// so the next run does each remaining event once and nothing twice.
    #[tokio::test]
    async fn a_shutdown_mid_batch_leaves_no_effect_to_be_done_twice() {
        let workers = 2;
        // Six events one worker owns, then three the other owns: with a
        // queue of one chunk of one event, the first worker's queue fills
        // while the later events of the other are still to come.
        let ids: Vec<u32> = (1..200).collect();
        // (The first worker in source order is the second by index: a
        // dispatch by worker index would hand the later events over first.)
        let of = |worker: usize, n: usize| -> Vec<u32> {
            ids.iter()
                .copied()
                .filter(|&i| super::worker_of_line(&insert(i), workers) == worker)
                .take(n)
                .collect()
        };
        let (mine, theirs) = (of(1, 6), of(0, 3));
        let lines: Vec<String> = mine.iter().chain(&theirs).map(|&i| insert(i)).collect();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("r.rhai"),
            "const RULE = #{ watch: \"d.c\", on: [\"insert\"] };\nfn handle(event) { notify(\"gate\", #{}); }\n",
        )
        .unwrap();
        let events = dir.path().join("events.jsonl");
        std::fs::write(&events, lines.join("\n")).unwrap();
        let store = herald_store::Store::temporary().unwrap();
        let gate = Gate {
            permits: Arc::new(Semaphore::new(0)),
            entered: Arc::new(Notify::new()),
            done: Arc::default(),
        };
        let engine = |workers: usize| {
            Engine::builder()
                .rules_dir(dir.path())
                .store(store.clone())
                .config(
                    Config::parse(&format!(
                        "[engine]\nworkers = {workers}\nqueue = 1\nshutdown_timeout_ms = 30000\n"
                    ))
                    .unwrap(),
                )
                .effect("gate", gate.clone())
                .build()
                .unwrap()
        };
        let first_run = engine(workers);
        let (stop, stopped) = oneshot::channel::<()>();
        let source = herald_ingest::FileSource::open(&events).unwrap();
        let run = tokio::spawn(async move {
            first_run
                .run(source, &mut Quiet, async {
                    let _ = stopped.await;
                })
                .await
        });
        gate.entered.notified().await; // the first effect is in flight
        stop.send(()).unwrap();
        gate.permits.add_permits(1_000);
        let summary = run.await.unwrap().unwrap();
        assert!(summary.interrupted);
        let again = engine(workers)
            .run(
                herald_ingest::FileSource::open(&events).unwrap(),
                &mut Quiet,
                std::future::pending::<()>(),
            )
            .await
            .unwrap();
        let done = gate.done.lock().unwrap().clone();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for key in &done {
            *counts.entry(key.as_str()).or_default() += 1;
        }
        assert_eq!(counts.len(), 9, "every event's effect: {done:?}");
        assert!(counts.values().all(|&n| n == 1), "none twice: {counts:?}");
        assert_eq!(summary.events + again.events, 9, "{summary:?} {again:?}");
    }
}
