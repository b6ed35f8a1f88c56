//! herald's durable state, on sled.
//!
//! Everything the engine must not forget lives in one sled tree, under a
//! one-letter prefix per kind, so that all the changes caused by a group of
//! events commit in one atomic batch:
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `m` | `format` | store format version (4) |
//! | `m` | `dead_letter_last` | the last dead-letter id given (big-endian u64) |
//! | `c` | stream id | [`Checkpoint`] (JSON) |
//! | `g` | sequence number | a [`Gap`] in a stream (JSON) |
//! | `L` | record id (big-endian u64) | ledger record: commit time, then the group's 128-bit marks |
//! | `l` | rule, event token | format 1 only: one ledger mark (converted when opened) |
//! | `s` | rule, state key | the value (BSON) |
//! | `d` | sequence number | a [`DeadLetter`] (BSON) |
//! | `n` | rule | the rule's [`RuleCounts`] (JSON) |
//! | `i` | name | an informational record (JSON), e.g. the streams the last run opened |
//! | `t` | due time (8 bytes, sorting in time order), rule, timer name | a [`Timer`] (BSON); format 4 |
//! | `T` | rule, timer name | the timer's due time (as in its `t` key) and version (big-endian u64); format 4 |
//!
//! Beside sled's files, a `herald-store` file says the format marker has been
//! on disk: a store with it and without the marker was damaged, not newly made.
//!
//! # Layout
//! - [`backend`] — where the records are kept: the [`Backend`](backend::Backend)
//!   trait (an ordered key-value map with atomic, durable batches) and sled's
//!   implementation.
//! - [`store`] — [`Store`]: open (refusing foreign, corrupt or newer stores,
//!   converting older ones), read, commit; [`StoreOptions`]; fault injection
//!   (cargo feature `fault-injection`).
//! - [`ledger`] — the dedupe ledger: [fingerprints](ledger::fingerprint),
//!   records, and the bounded window of marks kept in memory ([`LedgerStats`]).
//! - [`scope`] — [`Scope`]: the records one engine of several sharing a
//!   store keeps as its own, and the lease its commits need.
//! - [`checkpoint`] — [`Checkpoint`] and [`Gap`] records.
//! - [`commit`] — [`Commit`], the changes of one event group, applied atomically.
//! - [`keys`] — key encodings.
//! - [`dead_letter`] — [`DeadLetter`] entries.
//! - [`timer`] — [`Timer`]s, set, cancelled and fired through a [`Commit`],
//!   read by due time or by name from the [`Store`].
//! - [`error`] — the [`StoreError`] type.

pub mod backend;
pub mod checkpoint;
pub mod commit;
pub mod dead_letter;
pub mod error;
pub mod keys;
pub mod ledger;
pub mod scope;
pub mod store;
pub mod timer;

pub use checkpoint::{Checkpoint, Gap, RuleCounts};
pub use commit::Commit;
pub use dead_letter::{DeadLetter, DoneEffect, KeyScheme};
pub use error::StoreError;
pub use ledger::LedgerStats;
pub use scope::Scope;
pub use store::{DEFAULT_LEDGER_WINDOW, Durability, Store, StoreOptions};
pub use timer::{Timer, TimerStats};
