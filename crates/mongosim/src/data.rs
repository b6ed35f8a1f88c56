//! Databases, collections and documents.

use crate::error::CommandError;
use crate::wire::MAX_BSON_OBJECT_SIZE;
use bson::{Bson, Document, RawDocumentBuf, doc};
use herald_core::Filter;
use std::collections::{BTreeMap, HashMap};

/// One collection: documents in insertion order, indexed by `_id`.
#[derive(Debug, Clone)]
pub struct Collection {
    /// The collection's UUID (stable across renames, new after drop).
    pub uuid: bson::Uuid,
    /// Documents by insertion slot.
    docs: BTreeMap<u64, Document>,
    /// Normalised `_id` → slot.
    by_id: HashMap<Vec<u8>, u64>,
    next_slot: u64,
    /// `changeStreamPreAndPostImages: {enabled: true}`.
    pub pre_post_images: bool,
}

impl Default for Collection {
    fn default() -> Self {
        Self {
            uuid: bson::Uuid::new(),
            docs: BTreeMap::new(),
            by_id: HashMap::new(),
            next_slot: 0,
            pre_post_images: false,
        }
    }
}

/// `_id` values that the server treats as equal (1, 1.0, NumberLong(1)) get the same key.
pub fn id_key(id: &Bson) -> Vec<u8> {
    let normal = match id {
        Bson::Int32(n) => Bson::Int64(i64::from(*n)),
        Bson::Double(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Bson::Int64(*x as i64),
        other => other.clone(),
    };
    let mut bytes = Vec::new();
    doc! { "": normal }
        .to_writer(&mut bytes)
        .expect("ids encode");
    bytes
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
    /// Inserts a document (which must have an `_id`), enforcing `_id` uniqueness.
    pub fn insert(&mut self, ns: &str, doc: Document) -> Result<(), CommandError> {
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
        let key = id_key(id);
        if self.by_id.contains_key(&key) {
            return Err(duplicate_key(ns, id));
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        self.by_id.insert(key, slot);
        self.docs.insert(slot, doc);
        Ok(())
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

    /// A document by `_id`.
    pub fn get_by_id(&self, id: &Bson) -> Option<&Document> {
        self.by_id
            .get(&id_key(id))
            .and_then(|slot| self.docs.get(slot))
    }

    /// Replaces the document in a slot (its `_id` must not change).
    pub fn replace(&mut self, slot: u64, doc: Document) -> Result<(), CommandError> {
        check_size(&doc)?;
        self.docs.insert(slot, doc);
        Ok(())
    }

    /// Removes the document in a slot, returning it.
    pub fn remove(&mut self, slot: u64) -> Option<Document> {
        let doc = self.docs.remove(&slot)?;
        if let Some(id) = doc.get("_id") {
            self.by_id.remove(&id_key(id));
        }
        Some(doc)
    }

    /// All documents, in natural order.
    pub fn iter(&self) -> impl Iterator<Item = &Document> {
        self.docs.values()
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

/// E11000, worded as the server words it.
pub fn duplicate_key(ns: &str, id: &Bson) -> CommandError {
    CommandError::new(
        11000,
        "DuplicateKey",
        format!("E11000 duplicate key error collection: {ns} index: _id_ dup key: {{ _id: {id} }}"),
    )
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
