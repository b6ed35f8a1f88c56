//! Scopes: the part of a shared store one engine keeps as its own.
//!
//! In cluster mode several engines (one per partition an instance owns, on
//! any number of instances) share one store. Each keeps its own checkpoints,
//! informational records (its plan, its stopped targets) and rule counts
//! under its scope's name, so engines never read or overwrite each other's.
//! Each scope also has a dedupe ledger of its own (its window of marks, its
//! records, and its commit lock; see [`crate::ledger`]), so scopes commit
//! independently; rule state, timers and dead letters stay shared. A scope may
//! carry the [`Fence`] of the lease its engine holds: every commit through a
//! scoped store then applies only while that lease is held.

use crate::backend::Fence;

/// A store scope: a name, and the lease its commits need.
///
/// ```
/// use herald_store::{Scope, Store};
/// use herald_core::Position;
/// let store = Store::temporary()?;
/// let p3 = store.scoped(Scope { name: "p3".into(), fence: None });
/// let mut commit = p3.begin();
/// commit.checkpoint("mongodb:shop.orders", &Position::File { offset: 1, line: 1 });
/// p3.commit(commit)?;
/// assert!(p3.checkpoint("mongodb:shop.orders")?.is_some());
/// assert!(store.checkpoint("mongodb:shop.orders")?.is_none());
/// # Ok::<(), herald_store::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    /// The name (no NUL bytes), e.g. `p3`.
    pub name: String,
    /// The lease every commit in the scope needs, if any.
    pub fence: Option<Fence>,
}

/// The key of `name` of a scoped kind (`kind`, then the scope's name and a
/// NUL, then `name`); unscoped without a scope.
pub(crate) fn key(kind: u8, scope: Option<&Scope>, name: &str) -> Vec<u8> {
    let mut key = prefix(kind, scope);
    key.extend_from_slice(name.as_bytes());
    key
}

/// The start of every key of `kind` in `scope`.
pub(crate) fn prefix(kind: u8, scope: Option<&Scope>) -> Vec<u8> {
    let mut key = vec![kind];
    if let Some(scope) = scope {
        key.extend_from_slice(scope.name.as_bytes());
        key.push(0);
    }
    key
}
