//! Databases, collections and documents.

use crate::error::CommandError;
use crate::indexes::{Index, IndexKey};
use crate::wire::MAX_BSON_OBJECT_SIZE;
use bson::{Bson, Document, RawDocumentBuf};
use herald_core::Filter;
use std::collections::BTreeMap;

/// One collection: documents in insertion order, and their indexes.
#[derive(Debug, Clone)]
pub struct Collection {
    /// The collection's UUID (stable across renames, new after drop).
    pub uuid: bson::Uuid,
    /// Documents by insertion slot.
    docs: BTreeMap<u64, Document>,
    next_slot: u64,
    /// `changeStreamPreAndPostImages: {enabled: true}`.
    pub pre_post_images: bool,
    /// `_id_` first, then the others in creation order.
    indexes: Vec<Index>,
}

impl Default for Collection {
    fn default() -> Self {
        Self {
            uuid: bson::Uuid::new(),
            docs: BTreeMap::new(),
            next_slot: 0,
            pre_post_images: false,
            indexes: vec![Index::id()],
        }
    }
}

/// Fails like the server when a document exceeds 16 MiB.
pub fn check_size(doc: &Document) -> Result<(), CommandError> {
    let mut bytes = Vec::new();
    doc.to_writer(&mut bytes)
        .map_err(|e| CommandError::bad_value(e.to_string()))?;
    if bytes.len() > MAX_BSON_OBJECT_SIZE {
        return Err(CommandError::new(
            10334,
            "BSONObjectTooLarge",
            format!(
                "object to insert too large. size in bytes: {}, max size: {MAX_BSON_OBJECT_SIZE}",
                bytes.len()
            ),
        ));
    }
    Ok(())
}

/// Evaluates a filter on an owned document.
pub fn matches(filter: &Filter, doc: &Document) -> bool {
    RawDocumentBuf::from_document(doc).is_ok_and(|raw| filter.matches(&raw))
}

impl Collection {
    /// Each index's keys for `doc`, failing as the server does on the first
    /// index (in catalog order) whose keys cannot be made or clash with a
    /// document other than `own` on a unique index.
    fn index_keys(
        &self,
        ns: &str,
        doc: &Document,
        own: Option<u64>,
    ) -> Result<Vec<Vec<IndexKey>>, CommandError> {
        self.indexes
            .iter()
            .map(|index| {
                let keys = index.keys_of(doc)?;
                match index.conflict(&keys, own) {
                    Some(key) => Err(index.duplicate_error(ns, key)),
                    None => Ok(keys),
                }
            })
            .collect()
    }

    /// Inserts a document (which must have an `_id`), enforcing every unique
    /// index; on failure nothing changes. Returns the document's slot.
    pub fn insert(&mut self, ns: &str, doc: Document) -> Result<u64, CommandError> {
        let id = doc
            .get("_id")
            .ok_or_else(|| CommandError::bad_value("document has no _id"))?;
        if matches!(id, Bson::Array(_) | Bson::RegularExpression(_)) {
            return Err(CommandError::new(
                2,
                "BadValue",
                format!(
                    "can't use an {} for _id",
                    if matches!(id, Bson::Array(_)) {
                        "array"
                    } else {
                        "regex"
                    }
                ),
            ));
        }
        check_size(&doc)?;
        let keys = self.index_keys(ns, &doc, None)?;
        let slot = self.next_slot;
        self.next_slot += 1;
        for (index, keys) in self.indexes.iter_mut().zip(keys) {
            index.insert(slot, keys);
        }
        self.docs.insert(slot, doc);
        Ok(slot)
    }

    /// The slots of matching documents, in natural order.
    pub fn find_slots(&self, filter: &Filter) -> Vec<u64> {
        self.docs
            .iter()
            .filter(|(_, d)| matches(filter, d))
            .map(|(slot, _)| *slot)
            .collect()
    }

    /// The first matching slot.
    pub fn find_one_slot(&self, filter: &Filter) -> Option<u64> {
        self.docs
            .iter()
            .find(|(_, d)| matches(filter, d))
            .map(|(slot, _)| *slot)
    }

    /// A document by slot.
    pub fn get(&self, slot: u64) -> Option<&Document> {
        self.docs.get(&slot)
    }

    /// The slot of the document with this `_id`, if there is one.
    pub fn slot_of(&self, id: &Bson) -> Option<u64> {
        self.indexes[0].lookup(&[id])
    }

    /// A document by `_id` (numbers by value: `1`, `1.0` and `NumberLong(1)` are one `_id`).
    pub fn get_by_id(&self, id: &Bson) -> Option<&Document> {
        self.indexes[0]
            .lookup(&[id])
            .and_then(|slot| self.docs.get(&slot))
    }

    /// Replaces the document in a slot (its `_id` must not change), enforcing
    /// every unique index; on failure nothing changes.
    pub fn replace(&mut self, ns: &str, slot: u64, doc: Document) -> Result<(), CommandError> {
        check_size(&doc)?;
        let keys = self.index_keys(ns, &doc, Some(slot))?;
        for (index, keys) in self.indexes.iter_mut().zip(keys) {
            index.insert(slot, keys);
        }
        self.docs.insert(slot, doc);
        Ok(())
    }

    /// Removes the document in a slot, returning it.
    pub fn remove(&mut self, slot: u64) -> Option<Document> {
        let doc = self.docs.remove(&slot)?;
        for index in &mut self.indexes {
            index.remove(slot);
        }
        Some(doc)
    }

    /// The indexes, `_id_` first, then in creation order.
    pub fn indexes(&self) -> &[Index] {
        &self.indexes
    }

    /// Builds new indexes over the documents, all or none: the first that
    /// cannot be built (a duplicate on a unique index, a key that cannot be
    /// made) fails the lot.
    pub fn add_indexes(&mut self, ns: &str, new: Vec<Index>) -> Result<(), CommandError> {
        let built = new
            .into_iter()
            .map(|index| index.build(ns, self.docs.iter().map(|(slot, d)| (*slot, d))))
            .collect::<Result<Vec<_>, _>>()?;
        self.indexes.extend(built);
        Ok(())
    }

    /// Drops an index by name, returning it (never the `_id` index).
    pub fn drop_index(&mut self, name: &str) -> Option<Index> {
        let at = self
            .indexes
            .iter()
            .position(|i| i.name() == name && !i.is_id())?;
        Some(self.indexes.remove(at))
    }

    /// All documents, in natural order.
    pub fn iter(&self) -> impl Iterator<Item = &Document> {
        self.docs.values()
    }

    /// All documents with their slots, in natural order.
    pub fn iter_slots(&self) -> impl Iterator<Item = (u64, &Document)> {
        self.docs.iter().map(|(slot, d)| (*slot, d))
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// True if the collection has no documents.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }
}

/// All databases.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    /// Database → collection → data.
    pub dbs: BTreeMap<String, BTreeMap<String, Collection>>,
}

impl Catalog {
    /// A collection, if it exists.
    pub fn get(&self, db: &str, coll: &str) -> Option<&Collection> {
        self.dbs.get(db)?.get(coll)
    }

    /// A collection, for writing, if it exists.
    pub fn get_mut(&mut self, db: &str, coll: &str) -> Option<&mut Collection> {
        self.dbs.get_mut(db)?.get_mut(coll)
    }

    /// True if the collection exists.
    pub fn exists(&self, db: &str, coll: &str) -> bool {
        self.get(db, coll).is_some()
    }
}
