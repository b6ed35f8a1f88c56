//! The pipeline: source → partitioned workers → ordered commits.
//!
//! - [`run`] — [`Engine::run`](crate::Engine::run), dispatching and committing.
//! - `summary` — [`RunSummary`], what a run did.
//! - `dispatch` — handing a batch's events to their workers, with backpressure.
//! - `commit` — applying completions in order and committing groups.
//! - `done` — the queue of completions from the workers to the run, and when it wakes the run.
//! - `pool` — the worker threads, one per partition, off the runtime's threads.
//! - `worker` — handling one event: routing, the ledger, the rules it matches.
//! - `fire` — firing a worker's due timers, before an event or on a tick.
//! - `rule_run` — one rule on one event (or timer): the handler, numbered effects, retries.
//! - `changes` — a call's state and timer changes.
//! - `partition` — which worker owns an event, or a timer.
//! - `view` — each rule sees the event as its own options ask.
//! - `floor` — a rule's floor: where it takes events from, and its snapshot.
//! - `resume` — where streams start, and each rule's floor, when the plan changes.
//! - `ticks` — firing timers when no event does: the wall clock, the end of a source.
//! - `watermark` — releasing completions in source order.

pub(crate) mod changes;
mod commit;
mod dispatch;
mod done;
mod fire;
mod floor;
pub(crate) mod partition;
mod pool;
mod resume;
pub(crate) mod rule_run;
pub mod run;
mod summary;
mod ticks;
mod view;
mod watermark;
pub(crate) mod worker;

pub use summary::RunSummary;

use pool::Queue;
