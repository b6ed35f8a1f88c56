//! Multi-document transactions, as a replica-set primary runs them.
//!
//! A command with `lsid`, `txnNumber` and `autocommit: false` runs in the
//! session's transaction (`startTransaction: true` starts it). What
//! mongosim does, and how exactly:
//!
//! - Snapshot isolation, exact for documents: reads see the data as of the
//!   transaction's start (its first command; `atClusterTime` with
//!   `readConcern: snapshot`) plus its own writes; writes are buffered and
//!   visible to others only at commit ([`view`], [`commit`]).
//! - Write conflicts, as WiredTiger detects them ([`resources`]): a
//!   transaction writing a document or unique index key that another open
//!   transaction wrote, or that a commit changed after its snapshot, or a
//!   collection created, dropped or renamed after its snapshot, fails with
//!   112 `WriteConflict` (labelled `TransientTransactionError`) and is
//!   aborted. Unique keys are checked at write time against the snapshot
//!   and the transaction's own writes (11000, which aborts it too).
//! - A write outside a transaction to a document or unique key an open
//!   transaction wrote waits until that transaction ends (the server
//!   retries its internal WriteConflict until then), as do DDL commands on
//!   a collection an open transaction used; `maxTimeMS` bounds the wait.
//! - Commit applies everything at one cluster time; the oplog gets one
//!   entry per write, in order, carrying `lsid` and `txnNumber`.
//!   Committing again succeeds; committing an aborted transaction fails
//!   with 251 `NoSuchTransaction`.
//! - Any failed command aborts its transaction; a higher `txnNumber`
//!   aborts the older one; `transactionLifetimeLimitSeconds` (from the
//!   start) aborts one that runs too long: exactly at the limit, where the
//!   server's periodic reaper does it within half the limit after.
//! - Error labels are added as the server adds them ([`labels`]).
//!
//! Not done: prepared transactions, `create`/`createIndexes` inside a
//! transaction (refused with 263), and the LockTimeout a transaction gets
//! while DDL waits for it (here the DDL just waits).
//!
//! - [`session`]: the session fields of a command.
//! - [`table`]: sessions, their transaction numbers and states.
//! - [`transaction`]: one open transaction.
//! - [`resources`]: what a write touches, for conflicts.
//! - [`lifecycle`]: starting, aborting, expiring on the shared state.
//! - [`view`]: reads inside a transaction.
//! - [`commit`]: applying a transaction at commit.
//! - [`labels`]: error labels.

pub mod commit;
pub mod labels;
pub mod lifecycle;
pub mod resources;
pub mod session;
pub mod table;
pub mod transaction;
pub mod view;

#[cfg(test)]
mod tests;

pub use session::SessionArgs;
pub use table::{Transactions, TxnRef};
pub use transaction::Transaction;
