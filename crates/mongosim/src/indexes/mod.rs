//! Indexes: the `_id` index and secondary indexes, their keys, and the
//! unique constraint, kept in step with a collection's documents.
//!
//! - [`spec`]: validating `createIndexes` specs and comparing them with existing indexes.
//! - [`key_pattern`]: validating key patterns.
//! - [`keys`]: the keys a document produces (arrays, dotted and positional paths).
//! - [`display`]: values written as the server writes them in messages.

pub mod display;
pub mod key_pattern;
pub mod keys;
pub mod spec;

use crate::error::CommandError;
use bson::{Bson, Document, RawBson, doc};
use herald_core::filter::order::compare;
use spec::IndexSpec;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The most indexes a collection may have, `_id_` included.
pub const MAX_INDEXES: usize = 64;

/// One index key: a value per key-pattern field, compared as the server
/// compares keys (numbers by value, so `1`, `1.0` and `NumberLong(1)` are one key).
#[derive(Debug, Clone)]
pub struct IndexKey(Vec<RawBson>);

impl IndexKey {
    fn new(values: &[&Bson]) -> Self {
        Self(
            values
                .iter()
                .map(|v| RawBson::try_from((*v).clone()).unwrap_or(RawBson::Null))
                .collect(),
        )
    }

    /// The key's values, as they were in the document that produced it.
    pub fn values(&self) -> Vec<Bson> {
        self.0
            .iter()
            .map(|v| Bson::try_from(v.clone()).unwrap_or(Bson::Null))
            .collect()
    }

    /// Order within an index, field by field, descending fields reversed.
    fn cmp_in(&self, other: &Self, descending: &[bool]) -> Ordering {
        for ((a, b), desc) in self.0.iter().zip(&other.0).zip(descending) {
            let order = compare(a.as_raw_bson_ref(), b.as_raw_bson_ref());
            if order != Ordering::Equal {
                return if *desc { order.reverse() } else { order };
            }
        }
        Ordering::Equal
    }
}

impl Ord for IndexKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| compare(a.as_raw_bson_ref(), b.as_raw_bson_ref()))
            .find(|order| *order != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for IndexKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for IndexKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for IndexKey {}

/// An index over one collection's documents (identified by slot).
#[derive(Debug, Clone)]
pub struct Index {
    spec: IndexSpec,
    paths: Vec<String>,
    descending: Vec<bool>,
    is_id: bool,
    /// Key → the slots holding it.
    entries: BTreeMap<IndexKey, BTreeSet<u64>>,
    /// Slot → its keys, each as its own document had it.
    by_slot: HashMap<u64, Vec<IndexKey>>,
}

impl Index {
    /// An empty index for a validated spec.
    pub fn new(spec: IndexSpec) -> Self {
        let paths = spec.key.keys().cloned().collect();
        let descending = spec
            .key
            .values()
            .map(|v| key_pattern::as_number(v).is_some_and(|x| x < 0.0))
            .collect();
        Self {
            is_id: spec::is_id_pattern(&spec.key),
            spec,
            paths,
            descending,
            entries: BTreeMap::new(),
            by_slot: HashMap::new(),
        }
    }

    /// The `_id_` index every collection has.
    pub fn id() -> Self {
        Self::new(IndexSpec {
            spec: doc! { "v": 2, "key": { "_id": 1 }, "name": "_id_" },
            name: "_id_".to_owned(),
            key: doc! { "_id": 1 },
            unique: true,
            sparse: false,
        })
    }

    /// `name`.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The spec as stored: `{v, key, name, ...options}`.
    pub fn spec(&self) -> &Document {
        &self.spec.spec
    }

    /// The key pattern.
    pub fn key(&self) -> &Document {
        &self.spec.key
    }

    /// True for a unique index (and the `_id` index).
    pub fn is_unique(&self) -> bool {
        self.spec.unique
    }

    /// True for a sparse index.
    pub fn is_sparse(&self) -> bool {
        self.spec.sparse
    }

    /// True for the `_id` index.
    pub fn is_id(&self) -> bool {
        self.is_id
    }

    /// The keys a document gives, without repeats, in index order.
    pub fn keys_of(&self, doc: &Document) -> Result<Vec<IndexKey>, CommandError> {
        let mut keys: Vec<IndexKey> = if self.is_id {
            vec![IndexKey::new(&[doc.get("_id").unwrap_or(&Bson::Null)])]
        } else {
            keys::generate(&self.paths, doc, self.spec.sparse)?
                .iter()
                .map(|values| IndexKey::new(values))
                .collect()
        };
        keys.sort_by(|a, b| a.cmp_in(b, &self.descending));
        keys.dedup();
        Ok(keys)
    }

    /// For a unique index, the first of `keys` that a slot other than `own` holds.
    pub fn conflict<'k>(&self, keys: &'k [IndexKey], own: Option<u64>) -> Option<&'k IndexKey> {
        if !self.spec.unique {
            return None;
        }
        keys.iter().find(|key| {
            self.entries
                .get(*key)
                .is_some_and(|slots| slots.iter().any(|s| Some(*s) != own))
        })
    }

    /// Records a slot's keys (replacing any it had).
    pub fn insert(&mut self, slot: u64, keys: Vec<IndexKey>) {
        self.remove(slot);
        for key in &keys {
            self.entries.entry(key.clone()).or_default().insert(slot);
        }
        self.by_slot.insert(slot, keys);
    }

    /// Forgets a slot's keys.
    pub fn remove(&mut self, slot: u64) {
        for key in self.by_slot.remove(&slot).unwrap_or_default() {
            if let Some(slots) = self.entries.get_mut(&key) {
                slots.remove(&slot);
                if slots.is_empty() {
                    self.entries.remove(&key);
                }
            }
        }
    }

    /// The slots holding `key`.
    pub fn holders(&self, key: &IndexKey) -> Vec<u64> {
        self.entries
            .get(key)
            .map(|slots| slots.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The first slot holding a key made of these values.
    pub fn lookup(&self, values: &[&Bson]) -> Option<u64> {
        self.entries
            .get(&IndexKey::new(values))
            .and_then(|slots| slots.first().copied())
    }

    /// E11000 for `key`, worded and annotated as the server does.
    pub fn duplicate_error(&self, ns: &str, key: &IndexKey) -> CommandError {
        let key_value: Document = self.paths.iter().cloned().zip(key.values()).collect();
        CommandError::new(
            11000,
            "DuplicateKey",
            format!(
                "E11000 duplicate key error collection: {ns} index: {} dup key: {}",
                self.spec.name,
                display::document(&key_value)
            ),
        )
        .with_info(doc! { "keyPattern": self.spec.key.clone(), "keyValue": key_value })
    }

    /// Indexes existing documents (in natural order). A key that cannot be
    /// generated fails first; then, for a unique index, the first duplicated
    /// key in index order, reported with the second document's value.
    pub fn build<'d>(
        mut self,
        ns: &str,
        docs: impl Iterator<Item = (u64, &'d Document)>,
    ) -> Result<Self, CommandError> {
        for (slot, doc) in docs {
            let keys = self.keys_of(doc)?;
            self.insert(slot, keys);
        }
        if self.spec.unique {
            let duplicated = self
                .entries
                .iter()
                .filter(|(_, slots)| slots.len() > 1)
                .min_by(|(a, _), (b, _)| a.cmp_in(b, &self.descending));
            if let Some((key, slots)) = duplicated {
                let second = slots.iter().nth(1).expect("two slots");
                let own = self.by_slot[second]
                    .iter()
                    .find(|k| *k == key)
                    .unwrap_or(key);
                return Err(self.duplicate_error(ns, own));
            }
        }
        Ok(self)
    }
}

/// The document `listIndexes` returns: the spec's fields in the server's
/// reply order (`v`, `key`, `name`, then options), flags as booleans.
pub fn listed(spec: &Document) -> Document {
    const ORDER: [&str; 7] = [
        "v",
        "key",
        "name",
        "background",
        "unique",
        "hidden",
        "sparse",
    ];
    let mut out = Document::new();
    for field in ORDER {
        let Some(value) = spec.get(field) else {
            continue;
        };
        let value = match field {
            "key" | "name" | "v" => value.clone(),
            _ => Bson::Boolean(spec::truthy(Some(value))),
        };
        out.insert(field, value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unique(key: Document) -> Index {
        Index::new(spec::parse(&doc! {"key": key, "name": "i", "unique": true}).unwrap())
    }

    #[test]
    fn numbers_are_one_key_whatever_their_type() {
        let mut index = unique(doc! {"a": 1});
        let one = index.keys_of(&doc! {"a": 1}).unwrap();
        index.insert(0, one);
        let same = index.keys_of(&doc! {"a": 1.0}).unwrap();
        let clash = index.conflict(&same, Some(1)).unwrap();
        assert_eq!(clash.values(), vec![Bson::Double(1.0)]);
        assert!(index.conflict(&same, Some(0)).is_none());
        let err = index.duplicate_error("d.c", clash);
        assert_eq!(
            err.message,
            "E11000 duplicate key error collection: d.c index: i dup key: { a: 1.0 }"
        );
        assert_eq!(
            err.info.as_deref(),
            Some(&doc! {"keyPattern": {"a": 1}, "keyValue": {"a": 1.0}})
        );
    }

    #[test]
    fn building_over_duplicates_reports_the_first_in_index_order() {
        let docs = [
            doc! {"a": 5},
            doc! {"a": 2},
            doc! {"a": 5_i64},
            doc! {"a": 2.0},
        ];
        let err = unique(doc! {"a": -1})
            .build("d.c", docs.iter().enumerate().map(|(i, d)| (i as u64, d)))
            .unwrap_err();
        assert_eq!(
            err.message,
            "E11000 duplicate key error collection: d.c index: i dup key: { a: 5 }"
        );
        assert_eq!(
            err.info.unwrap().get_document("keyValue").unwrap(),
            &doc! {"a": 5_i64}
        );
    }

    #[test]
    fn listing_orders_fields_and_reports_flags_as_booleans() {
        let spec = doc! {"v": 2, "unique": 1, "key": {"a": 1}, "name": "a_1"};
        assert_eq!(
            listed(&spec).into_iter().collect::<Vec<_>>(),
            doc! {"v": 2, "key": {"a": 1}, "name": "a_1", "unique": true}
                .into_iter()
                .collect::<Vec<_>>()
        );
    }
}
