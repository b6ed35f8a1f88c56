//! The pipeline: source → partitioned workers → ordered commits.
//!
//! - [`run`] — [`Engine::run`](crate::Engine::run), dispatching and committing; [`RunSummary`].
//! - `commit` — applying completions in order and committing groups.
//! - `worker` — handling one event: routing, handlers, effects.
//! - `watermark` — releasing completions in source order.

mod commit;
pub mod run;
mod watermark;
pub(crate) mod worker;

pub use run::RunSummary;
