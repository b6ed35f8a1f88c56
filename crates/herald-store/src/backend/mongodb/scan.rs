//! Scans: a key range read kind by kind (collection by collection), each a
//! page of `_id`s at a time, in key order either way.

use super::MongoBackend;
use super::records::{KINDS, entry};
use crate::StoreError;
use crate::backend::{Entries, Entry, KeyRange};
use bson::{Bson, Document, doc};
use futures_util::TryStreamExt;
use std::ops::Bound;

/// Records read from the server per round trip while scanning.
const PAGE: i64 = 1000;

/// The records in `range`, in key order (`reverse`: largest first).
pub(super) fn scan(backend: &MongoBackend, range: KeyRange, reverse: bool) -> Entries<'_> {
    let mut kinds: Vec<(u8, &'static str)> = KINDS
        .iter()
        .copied()
        .filter(|&(kind, _)| id_filter(kind, &range).is_some())
        .collect();
    if reverse {
        kinds.reverse();
    }
    Box::new(Scan {
        backend,
        range,
        reverse,
        kinds: kinds.into_iter(),
        current: None,
        page: Vec::new().into_iter(),
        last_id: None,
        done: false,
    })
}

/// The `_id` filter selecting the part of `range` within kind `kind`, or
/// `None` if none of the range is.
fn id_filter(kind: u8, range: &KeyRange) -> Option<Document> {
    let mut filter = Document::new();
    // A bound in an earlier kind leaves this one unbounded on that side; one
    // in a later kind excludes all of it (and the mirror for the upper bound).
    match &range.start {
        Bound::Unbounded => {}
        Bound::Included(key) | Bound::Excluded(key) => match key.split_first() {
            None => {}
            Some((&first, _)) if first < kind => {}
            Some((&first, _)) if first > kind => return None,
            Some((_, rest)) => {
                let op = if matches!(range.start, Bound::Included(_)) {
                    "$gte"
                } else {
                    "$gt"
                };
                filter.insert(op, hex::encode(rest));
            }
        },
    }
    match &range.end {
        Bound::Unbounded => {}
        Bound::Included(key) | Bound::Excluded(key) => match key.split_first() {
            None => return None,
            Some((&first, _)) if first > kind => {}
            Some((&first, _)) if first < kind => return None,
            Some((_, rest)) => {
                if rest.is_empty() && matches!(range.end, Bound::Excluded(_)) {
                    return None; // below the kind's smallest key
                }
                let op = if matches!(range.end, Bound::Included(_)) {
                    "$lte"
                } else {
                    "$lt"
                };
                filter.insert(op, hex::encode(rest));
            }
        },
    }
    Some(if filter.is_empty() {
        doc! {}
    } else {
        doc! {"_id": filter}
    })
}

impl MongoBackend {
    /// One page of a kind's records after `last_id`, in `range`.
    fn page(
        &self,
        kind: (u8, &'static str),
        range: &KeyRange,
        reverse: bool,
        last_id: Option<&str>,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut filter = id_filter(kind.0, range).unwrap_or_default();
        if let Some(last) = last_id {
            let op = if reverse { "$lt" } else { "$gt" };
            let mut id = match filter.remove("_id") {
                Some(Bson::Document(id)) => id,
                _ => Document::new(),
            };
            // Both bounds on one side: the page's own is the tighter.
            id.remove(op);
            id.remove(if reverse { "$lte" } else { "$gte" });
            id.insert(op, last);
            filter.insert("_id", id);
        }
        let collection = self.inner.database.collection::<Document>(kind.1);
        let found: Vec<Document> = self.call(async move {
            collection
                .find(filter)
                .sort(doc! {"_id": if reverse { -1 } else { 1 }})
                .limit(PAGE)
                .await?
                .try_collect()
                .await
        })?;
        found
            .iter()
            .map(|document| entry(kind.0, document).map_err(|reason| self.damaged(reason)))
            .collect()
    }
}

/// A scan in progress: kind by kind, a page at a time.
struct Scan<'a> {
    backend: &'a MongoBackend,
    range: KeyRange,
    reverse: bool,
    kinds: std::vec::IntoIter<(u8, &'static str)>,
    current: Option<(u8, &'static str)>,
    page: std::vec::IntoIter<Entry>,
    /// The `_id` of the last record given from the current kind.
    last_id: Option<String>,
    done: bool,
}

impl Iterator for Scan<'_> {
    type Item = Result<Entry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if let Some(entry) = self.page.next() {
                self.last_id = Some(hex::encode(&entry.0[1..]));
                return Some(Ok(entry));
            }
            // The page is used up: the next page of this kind, if the last
            // one was full, else the next kind.
            let kind = match self.current {
                Some(kind) if self.last_id.is_some() => kind,
                _ => {
                    let Some(kind) = self.kinds.next() else {
                        self.done = true;
                        return None;
                    };
                    self.current = Some(kind);
                    self.last_id = None;
                    kind
                }
            };
            match self
                .backend
                .page(kind, &self.range, self.reverse, self.last_id.as_deref())
            {
                Ok(page) => {
                    if (page.len() as i64) < PAGE {
                        // The last page of this kind: move on once it is given.
                        self.current = None;
                    }
                    if page.is_empty() {
                        self.current = None;
                        self.last_id = None;
                        continue;
                    }
                    self.page = page.into_iter();
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
