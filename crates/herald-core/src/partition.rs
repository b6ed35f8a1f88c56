//! Hash partitions of document keys, for cluster mode.
//!
//! Cluster mode splits the work by document: each event belongs to one of
//! `of` partitions by the hashed index key of its `documentKey` (the value
//! MongoDB's `$toHashedIndexKey` gives, 7.0+), so one partition holds all of
//! a document's events and per-document order survives a partition moving
//! from one instance to another. Partition `i` holds the `i`-th of `of`
//! equal ranges of the 64-bit hash space; the server selects a partition's
//! events with the `$match` of [`Partition::stage`].

use bson::{Bson, Document, doc};

/// One of `of` hash ranges of `documentKey`.
///
/// ```
/// use herald_core::partition::Partition;
/// let parts: Vec<Partition> = Partition::all(4).collect();
/// assert_eq!(parts[0].range(), (i64::MIN, Some(i64::MIN / 2)));
/// assert_eq!(parts[3].range(), (i64::MAX / 2 + 1, None));
/// // Every hash is in exactly one partition.
/// for hash in [i64::MIN, -1, 0, 1, i64::MAX] {
///     assert_eq!(parts.iter().filter(|p| p.contains(hash)).count(), 1);
/// }
/// assert_eq!(parts[2].to_string(), "p2/4");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    /// Which one, from 0.
    pub index: u32,
    /// How many there are (at least 1).
    pub of: u32,
}

impl Partition {
    /// The `of` partitions, in order.
    pub fn all(of: u32) -> impl Iterator<Item = Partition> {
        (0..of).map(move |index| Partition { index, of })
    }

    /// The hashes it holds: from the first (inclusive) to the second
    /// (exclusive; `None`: through `i64::MAX`).
    pub fn range(&self) -> (i64, Option<i64>) {
        let of = i128::from(self.of.max(1));
        let span = 1_i128 << 64;
        let bound = |i: i128| (i128::from(i64::MIN) + span * i / of) as i64;
        let start = bound(i128::from(self.index));
        let end = (i128::from(self.index) + 1 < of).then(|| bound(i128::from(self.index) + 1));
        (start, end)
    }

    /// True if the hash `hash` is in this partition.
    pub fn contains(&self, hash: i64) -> bool {
        let (start, end) = self.range();
        hash >= start && end.is_none_or(|end| hash < end)
    }

    /// True if the document with this raw key is this partition's; one
    /// without a key (drops, renames, a timer set for no document) is the
    /// first partition's.
    ///
    /// ```
    /// use herald_core::partition::Partition;
    /// let key = bson::rawdoc! {"_id": 7};
    /// let all: Vec<Partition> = Partition::all(4).filter(|p| p.owns(Some(&key))).collect();
    /// assert_eq!(all, vec![Partition::of_key(Some(&bson::Bson::Document(bson::doc! {"_id": 7})), 4).unwrap()]);
    /// assert!(Partition { index: 0, of: 4 }.owns(None));
    /// ```
    pub fn owns(&self, document_key: Option<&bson::RawDocument>) -> bool {
        match document_key {
            Some(key) => self.contains(crate::hashed::hashed_index_key_raw(
                bson::RawBsonRef::Document(key),
            )),
            None => self.index == 0,
        }
    }

    /// The partition of a document key (`None`: events without one, such as
    /// drops, which every partition receives).
    ///
    /// ```
    /// use herald_core::partition::Partition;
    /// let key = bson::Bson::Document(bson::doc! {"_id": 1});
    /// let p = Partition::of_key(Some(&key), 16).unwrap();
    /// assert!(p.contains(herald_core::hashed::hashed_index_key(&key)));
    /// assert_eq!(Partition::of_key(None, 16), None);
    /// ```
    pub fn of_key(document_key: Option<&Bson>, of: u32) -> Option<Partition> {
        let hash = crate::hashed::hashed_index_key(document_key?);
        Partition::all(of).find(|p| p.contains(hash))
    }

    /// The `$match` stage selecting this partition's events on the server:
    /// those whose `documentKey` hashes into its range, and every event
    /// without a `documentKey` (drop, rename, invalidate, ...), which each
    /// partition must see.
    ///
    /// ```
    /// use herald_core::partition::Partition;
    /// let stage = Partition { index: 0, of: 1 }.stage();
    /// assert!(stage.get_document("$match").is_ok());
    /// ```
    pub fn stage(&self) -> Document {
        let hash = doc! {"$toHashedIndexKey": "$documentKey"};
        let (start, end) = self.range();
        let mut bounds = vec![Bson::Document(doc! {"$gte": [hash.clone(), start]})];
        if let Some(end) = end {
            bounds.push(Bson::Document(doc! {"$lt": [hash, end]}));
        }
        doc! {"$match": {"$or": [
            {"documentKey": {"$exists": false}},
            {"$expr": {"$and": bounds}},
        ]}}
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "p{}/{}", self.index, self.of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ranges_tile_the_hash_space_for_any_count() {
        for of in [1, 2, 3, 7, 16, 1000] {
            let parts: Vec<Partition> = Partition::all(of).collect();
            assert_eq!(parts[0].range().0, i64::MIN);
            assert_eq!(parts.last().unwrap().range().1, None);
            for pair in parts.windows(2) {
                assert_eq!(pair[0].range().1, Some(pair[1].range().0), "{of}");
            }
        }
        assert_eq!(Partition { index: 0, of: 1 }.range(), (i64::MIN, None));
        assert_eq!(Partition { index: 1, of: 2 }.range(), (0, None));
    }
}
