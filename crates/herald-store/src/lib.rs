//! herald's durable state, on sled.
//!
//! Everything the engine must not forget lives in one sled tree, under a
//! one-letter prefix per kind, so that all the changes caused by a group of
//! events commit in one atomic batch:
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `m` | `format` | store format version |
//! | `c` | stream id | [`Checkpoint`] (JSON) |
//! | `g` | sequence number | a [`Gap`] in a stream (JSON) |
//! | `l` | rule, event token | ledger mark: when the rule completed that event |
//! | `s` | rule, state key | the value (BSON) |
//! | `d` | sequence number | a [`DeadLetter`] (BSON) |
//! | `n` | rule | the rule's [`RuleCounts`] (JSON) |
//! | `i` | name | an informational record (JSON), e.g. the streams the last run opened |
//!
//! # Layout
//! - [`store`] — [`Store`]: open (refusing foreign, corrupt or newer stores), read, commit.
//! - [`checkpoint`] — [`Checkpoint`] and [`Gap`] records.
//! - [`commit`] — [`Commit`], the changes of one event group, applied atomically.
//! - [`keys`] — key encodings.
//! - [`dead_letter`] — [`DeadLetter`] entries.
//! - [`error`] — the [`StoreError`] type.

pub mod checkpoint;
pub mod commit;
pub mod dead_letter;
pub mod error;
pub mod keys;
pub mod ledger;
pub mod store;

pub use checkpoint::{Checkpoint, Gap, RuleCounts};
pub use commit::Commit;
pub use dead_letter::DeadLetter;
pub use error::StoreError;
pub use store::{Durability, Store};
