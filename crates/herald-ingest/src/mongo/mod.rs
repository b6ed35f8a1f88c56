//! Live MongoDB change streams.
//!
//! - [`overlap`] — counting what a snapshot read without its time may repeat.
//! - [`plan`](mod@plan) — many rules, few streams: the fewest streams that cover the
//!   watch targets, each `$match` the union of its rules' filters.
//! - [`options`] — start position and the history-lost / invalidate policies.
//! - `batcher` — gathering a stream's events into batches, joining split events.
//! - [`errors`] — which driver errors are worth reopening the stream for.
//! - [`lifecycle`] — drops and renames of targets narrower than their stream.
//! - [`stages`] — checking the stages configured per watch target.
//! - [`split`] — joining events split by `$changeStreamSplitLargeEvent`.
//! - [`stream`] — one stream's task: read, resume, retry, report.
//! - `open` — opening its change stream with the driver.
//! - `reader` — the task that calls the driver ahead of the stream's batcher.
//! - [`pushdown`] — a snapshot's filter rewritten for the documents it reads.
//! - [`snapshot`] — reading the documents a target holds at its first start.
//! - [`source`] — [`MongoSource`], the streams behind one [`Source`](crate::Source).
//! - [`uri`] — connection strings, with passwords kept out of logs.

mod batcher;
pub mod errors;
pub mod lifecycle;
mod open;
pub mod options;
pub mod overlap;
pub mod plan;
pub mod pushdown;
mod reader;
pub mod snapshot;
pub mod source;
pub mod split;
pub mod stages;
pub mod stream;
pub mod uri;

pub use options::{HistoryLostPolicy, InvalidatePolicy, MongoSourceOptions, StartAt};
pub use plan::{StreamPlan, Subscription, plan, plan_with, stream_id, stream_target, summary};
pub use source::MongoSource;
pub use stages::StagesError;
