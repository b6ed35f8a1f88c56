//! Where herald's events come from.
//!
//! A [`Source`] yields batches of [`ChangeEvent`]s, each with the
//! [`Position`] to resume from once it and everything before it is done.
//! The engine decides when a position is safe to store; a source only
//! knows how to start from one.
//!
//! # Layout
//! - [`source`] — the [`Source`] trait, [`Batch`], [`SourcedEvent`], [`SourceError`].
//! - [`file`](mod@file) — [`FileSource`], JSON Lines of change events in Extended JSON
//!   (replays, dry runs, fixtures, the zero-setup demo).
//!
//! - [`mongo`] — `MongoSource`, live change streams: many rules on few
//!   streams, resume, retry, history-lost and invalidate policies.

pub mod file;
pub mod mongo;
pub mod source;

pub use file::{FileSource, FileSourceOptions};
pub use mongo::MongoSource;
pub use source::{BadLine, Batch, Source, SourceError, SourcedEvent, StartTime, StreamNotice};

pub use herald_core::{ChangeEvent, Position};
