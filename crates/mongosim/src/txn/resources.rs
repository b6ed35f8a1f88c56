//! What a write touches, for conflicts between transactions and other
//! writes: the document (by its record slot), each unique index key it
//! adds or removes, and the collection's catalog entry when it is created.
//!
//! This is what WiredTiger detects as write-write conflicts: two writers
//! of the same record, or of the same key in a unique index (where keys
//! are stored without the record id). Keys of non-unique indexes include
//! the record id, so they never conflict across documents and are left out.

use crate::data::Collection;
use crate::error::CommandError;
use crate::indexes::{Index, IndexKey};
use crate::oplog::Ns;
use bson::Document;

/// One thing a write touches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    /// A document, by its slot in its collection.
    Doc(Ns, u64),
    /// A key of a unique index (by the index's name).
    Key(Ns, String, IndexKey),
    /// A collection's catalog entry (created, dropped, renamed).
    Catalog(Ns),
}

/// The unique indexes that apply to `ns`: the collection's, or just `_id_`
/// for one that does not exist yet.
pub fn unique_indexes(coll: Option<&Collection>) -> Vec<&Index> {
    static ID: std::sync::OnceLock<Index> = std::sync::OnceLock::new();
    match coll {
        Some(coll) => coll.indexes().iter().filter(|i| i.is_unique()).collect(),
        None => vec![ID.get_or_init(Index::id)],
    }
}

/// The keys a document version gives on each unique index (none for `None`).
pub fn keys(
    indexes: &[&Index],
    doc: Option<&Document>,
) -> Result<Vec<Vec<IndexKey>>, CommandError> {
    indexes
        .iter()
        .map(|index| doc.map_or(Ok(Vec::new()), |d| index.keys_of(d)))
        .collect()
}

/// What replacing `before` with `after` in `slot` touches: the document,
/// and the unique keys that change (added or removed).
pub fn touched(
    ns: &Ns,
    slot: u64,
    indexes: &[&Index],
    before: &[Vec<IndexKey>],
    after: &[Vec<IndexKey>],
) -> Vec<Resource> {
    let mut out = vec![Resource::Doc(ns.clone(), slot)];
    for ((index, old), new) in indexes.iter().zip(before).zip(after) {
        let changed = old
            .iter()
            .filter(|k| !new.contains(k))
            .chain(new.iter().filter(|k| !old.contains(k)));
        out.extend(changed.map(|k| Resource::Key(ns.clone(), index.name().to_owned(), k.clone())));
    }
    out
}
