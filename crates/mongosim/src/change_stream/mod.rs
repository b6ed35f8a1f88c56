//! Change streams: `{aggregate, pipeline: [{$changeStream: {...}}, ...]}`
//! cursors over the oplog.
//!
//! - [`token`]: resume tokens: opaque to clients, ordered by oplog position.
//! - [`spec`]: parsing the `$changeStream` stage and its options.
//! - [`scope`]: which entries a collection, database or cluster stream sees,
//!   and which invalidate it.
//! - [`event`]: the event document for an oplog entry.
//! - [`stages`]: the stages allowed after `$changeStream`.
//! - [`project`]: the `$project`, `$unset` and `$addFields`/`$set` stages.
//! - [`redact`]: the `$redact` stage.
//! - [`split`]: events over 16 MiB: fragments, or `BSONObjectTooLarge`.
//! - [`cursor`]: reading batches, postBatchResumeToken, invalidation.

pub mod cursor;
pub mod event;
pub mod project;
pub mod redact;
pub mod scope;
pub mod spec;
pub mod split;
pub mod stages;
pub mod token;

pub use cursor::ChangeStreamCursor;
