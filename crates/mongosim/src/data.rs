//! Databases, collections and documents.

use crate::error::CommandError;
use crate::filter::Filter;
use crate::indexes::{Index, IndexKey};
use crate::wire::MAX_BSON_OBJECT_SIZE;
use bson::{Bson, Document};
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

/// Fails like the server for a document without `_id` or with an array or regex `_id`.
pub fn check_id(doc: &Document) -> Result<(), CommandError> {
    let id = doc
        .get("_id")
        .ok_or_else(|| CommandError::bad_value("document has no _id"))?;
    if matches!(id, Bson::Array(_) | Bson::RegularExpression(_)) {
        let what = if matches!(id, Bson::Array(_)) {
            "array"
        } else {
            "regex"
        };
        return Err(CommandError::bad_value(format!(
            "can't use an {what} for _id"
        )));
    }
    Ok(())
}

/// Evaluates a filter on an owned document.
pub fn matches(filter: &Filter, doc: &Document) -> Result<bool, CommandError> {
    filter.matches(doc)
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
        check_id(&doc)?;
        let slot = self.next_slot;
        self.insert_at(ns, slot, doc)?;
        Ok(slot)
    }

    /// A new slot, after every slot used so far (a record id: never reused).
    pub fn reserve_slot(&mut self) -> u64 {
        let slot = self.next_slot;
        self.next_slot += 1;
        slot
    }

    /// Makes new slots start at `n` or later (a transaction's inserts into
    /// the collection it creates used slots up to `n`).
    pub fn skip_slots(&mut self, n: u64) {
        self.next_slot = self.next_slot.max(n);
    }

    /// Puts a document in a reserved, empty slot, enforcing every unique
    /// index; on failure nothing changes.
    pub fn insert_at(&mut self, ns: &str, slot: u64, doc: Document) -> Result<(), CommandError> {
        check_size(&doc)?;
        let keys = self.index_keys(ns, &doc, None)?;
        for (index, keys) in self.indexes.iter_mut().zip(keys) {
            index.insert(slot, keys);
        }
        self.next_slot = self.next_slot.max(slot + 1);
        self.docs.insert(slot, doc);
        Ok(())
    }

    /// The slots of matching documents, in natural order (just the first if `one`).
    pub fn find_slots(&self, filter: &Filter, one: bool) -> Result<Vec<u64>, CommandError> {
        let mut out = Vec::new();
        for (slot, doc) in &self.docs {
            if filter.matches(doc)? {
                out.push(*slot);
                if one {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// A document by slot.
    pub fn get(&self, slot: u64) -> Option<&Document> {
        self.docs.get(&slot)
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
#[derive(Debug, Default)]
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
