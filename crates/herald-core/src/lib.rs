//! herald's shared model: what every other crate speaks.
//!
//! A MongoDB change event enters herald as a [`ChangeEvent`]: the server's
//! document kept as raw BSON, plus the few header fields the pipeline needs
//! on every event (token, operation type, namespace, times). Rules read the
//! rest lazily. What a rule asks for is an [`Intent`]; once the engine has
//! given it an idempotency key it is an [`Effect`].
//!
//! # Layout
//! - [`event`] — [`ChangeEvent`] and its header.
//! - [`operation`] — [`OperationType`], which keeps unknown kinds instead of dropping them.
//! - [`namespace`] — [`Namespace`] (`db.coll`, `db`) and [`WatchTarget`] (`db.coll`, `db`, `*`).
//! - [`token`] — [`ResumeToken`], opaque and byte-comparable.
//! - [`position`] — [`Position`], where a source stands, for checkpoints.
//! - [`intent`] — [`Intent`], what a rule handler asks the engine to do.
//! - [`backoff`] — capped exponential backoff with jitter.
//! - [`effect`] — [`Effect`] and [`IdempotencyKey`].
//! - [`filter`] — the MongoDB query language evaluated on raw BSON, used to route events to rules.
//! - [`stream_options`] — [`FullDocument`] and [`FullDocumentBeforeChange`], the change stream options rules ask for.
//! - [`decimal`] — fast paths for decimal128 amounts.
//! - [`extjson`] — MongoDB Extended JSON v2 in and out.
//! - [`raw`] — fast field lookup in raw BSON.
//! - [`hashed`] — MongoDB's hashed index key of a value (`$toHashedIndexKey`).
//! - [`partition`] — [`Partition`](partition::Partition)s of document keys by that hash, for cluster mode.
//! - [`text`] — reading UTF-8 text files, locating the first byte that is not.

pub mod backoff;
pub mod decimal;
pub mod effect;
pub mod event;
pub mod extjson;
pub mod filter;
pub mod hashed;
pub mod intent;
pub mod namespace;
pub mod operation;
pub mod partition;
pub mod position;
pub mod raw;
pub mod stream_options;
pub mod text;
pub mod token;

pub use effect::{Effect, IdempotencyKey};
pub use event::{ChangeEvent, EventError};
pub use filter::{Filter, FilterError};
pub use intent::{Intent, LogLevel};
pub use namespace::{Namespace, NamespaceError, WatchTarget};
pub use operation::OperationType;
pub use position::Position;
pub use stream_options::{FullDocument, FullDocumentBeforeChange};
pub use token::ResumeToken;
