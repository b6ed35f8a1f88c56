//! Where a ledger's records are kept: the store's own ledger under `L`, each
//! [scope](crate::Scope)'s under `P` and the scope's name.
//!
//! A scope (in cluster mode, one partition) keys its records `P`, its name, a
//! NUL, then the record id (big-endian u64), rather than sharing the `L`
//! records of the store with a scope field in the value:
//! - A scope's records are one contiguous key range, disjoint from every
//!   other scope's (names hold no NUL, so no name's range holds another's).
//!   A partition's new owner loads exactly that partition's window with one
//!   range read, newest first (on MongoDB an `_id` range of the
//!   `scoped_ledger` collection, served by its `_id` index), and never reads
//!   or holds the marks of partitions it does not serve.
//! - Within a scope, keys sort by record id, and ids follow commit order
//!   across owners (each backend gives ids from its own range, above every
//!   range given before; see `backend/mongodb.rs`), which is the order the
//!   window loads and prunes in. Pruning deletes a span of the scope's own
//!   keys, so it never reaches another scope's records.
//! - A record is written in the same batch as the checkpoints it covers, so
//!   on MongoDB it is in the same transaction, fenced by the same lease.
//! - The store's own ledger (no scope: sled, one instance) keeps `L` and the
//!   record id, as every earlier format did, so existing stores open
//!   unchanged; a separate kind byte (not a longer `L` key) keeps its scans
//!   and range deletes clear of the scopes' records.

use crate::backend::KeyRange;
use crate::keys;
use crate::scope::{self, Scope};

/// The keys of one ledger's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Records {
    /// What every key starts with, before the record id.
    prefix: Vec<u8>,
}

impl Records {
    /// The records of `scope`'s ledger, or of the store's own without one.
    pub(crate) fn of(scope: Option<&Scope>) -> Self {
        let prefix = match scope {
            None => vec![keys::LEDGER_GROUP],
            Some(scope) => scope::prefix(keys::SCOPED_LEDGER_GROUP, Some(scope)),
        };
        Self { prefix }
    }

    /// The key of record `id`.
    pub(crate) fn key(&self, id: u64) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.prefix.len() + 8);
        key.extend_from_slice(&self.prefix);
        key.extend_from_slice(&id.to_be_bytes());
        key
    }

    /// The record id of one of these records' keys; `None` if it is not one.
    pub(crate) fn id(&self, key: &[u8]) -> Option<u64> {
        let id = key.strip_prefix(self.prefix.as_slice())?;
        Some(u64::from_be_bytes(id.try_into().ok()?))
    }

    /// Every one of these records.
    pub(crate) fn all(&self) -> KeyRange {
        KeyRange::prefix(&self.prefix)
    }

    /// The records with ids from `first` to `last`, both included.
    pub(crate) fn span(&self, first: u64, last: u64) -> KeyRange {
        (self.key(first)..=self.key(last)).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Fence;

    fn scope(name: &str) -> Scope {
        Scope {
            name: name.into(),
            fence: Some(Fence {
                lease: name.into(),
                owner: "a".into(),
                epoch: 1,
            }),
        }
    }

    #[test]
    fn the_stores_own_records_keep_their_keys() {
        let own = Records::of(None);
        assert_eq!(own.key(7), keys::ledger_group(7));
        assert_eq!(own.id(&keys::ledger_group(7)), Some(7));
        assert_eq!(own.all(), KeyRange::prefix(b"L"));
    }

    #[test]
    fn a_scopes_records_are_its_own_range() {
        let p1 = Records::of(Some(&scope("p1/16")));
        let p10 = Records::of(Some(&scope("p10/16")));
        assert_eq!(p1.key(1), b"Pp1/16\0\0\0\0\0\0\0\0\x01");
        assert_eq!(p1.id(&p1.key(u64::MAX)), Some(u64::MAX));
        assert!(p1.all().contains(&p1.key(0)) && !p1.all().contains(&p10.key(0)));
        assert!(!p10.all().contains(&p1.key(u64::MAX)));
        assert_eq!(p1.id(&p10.key(3)), None);
        assert_eq!(p1.id(&keys::ledger_group(3)), None);
        assert!(!Records::of(None).all().contains(&p1.key(3)));
        let span = p1.span(2, 4);
        assert!(span.contains(&p1.key(3)) && !span.contains(&p1.key(5)));
    }
}
