//! Change events: raw BSON plus a parsed header.
//!
//! Decoding a whole event costs more than most routing needs: a rule that
//! watches another collection never looks at `fullDocument`. So the event
//! stays raw and only the header is parsed up front.

use crate::{Namespace, OperationType, ResumeToken};
use bson::raw::{RawBsonRef, RawDocument};
use bson::{DateTime, RawDocumentBuf, Timestamp};
use std::ops::Range;

/// One MongoDB change event.
///
/// ```
/// use bson::{doc, RawDocumentBuf};
/// use herald_core::{ChangeEvent, OperationType};
/// let raw = RawDocumentBuf::from_document(&doc! {
///     "_id": { "_data": "01" },
///     "operationType": "insert",
///     "ns": { "db": "shop", "coll": "orders" },
///     "documentKey": { "_id": 1 },
///     "fullDocument": { "_id": 1, "total": 30 },
/// }).unwrap();
/// let event = ChangeEvent::from_raw(raw).unwrap();
/// assert_eq!(event.operation_type(), &OperationType::Insert);
/// assert_eq!(event.namespace().unwrap().to_string(), "shop.orders");
/// ```
#[derive(Debug, Clone)]
pub struct ChangeEvent {
    raw: RawDocumentBuf,
    token: ResumeToken,
    operation_type: OperationType,
    ns: Option<Namespace>,
    cluster_time: Option<Timestamp>,
    wall_time: Option<DateTime>,
    snapshot: bool,
    /// Where `documentKey` lies in `raw`, found once: routing and the
    /// partition check both read it for every event.
    document_key: Option<Range<usize>>,
}

/// A document that is not a valid change event.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EventError {
    /// The BSON itself is malformed.
    #[error("malformed BSON: {0}")]
    Bson(String),
    /// A required field is missing.
    #[error("the change event has no `{0}` field")]
    Missing(&'static str),
    /// A field has the wrong type.
    #[error("the change event's `{field}` must be {expected}")]
    WrongType {
        /// The field.
        field: &'static str,
        /// What it should be.
        expected: &'static str,
    },
}

impl ChangeEvent {
    /// Parses the header of a raw change event; the body stays raw.
    pub fn from_raw(raw: RawDocumentBuf) -> Result<Self, EventError> {
        // Only the header is looked at, in one pass; the body (often most of
        // the bytes) is skipped by length, never walked.
        let [id, operation, ns, cluster_time, wall_time, snapshot] = crate::raw::get_many(
            &raw,
            [
                "_id",
                "operationType",
                "ns",
                "clusterTime",
                "wallTime",
                "snapshot",
            ],
        );
        let token = id
            .map(ResumeToken::from_ref)
            .ok_or(EventError::Missing("_id"))?;
        let operation_type = match operation {
            Some(value) => OperationType::parse(value.as_str().ok_or(EventError::WrongType {
                field: "operationType",
                expected: "a string",
            })?),
            None => return Err(EventError::Missing("operationType")),
        };
        let ns = ns.map(parse_ns).transpose()?;
        let cluster_time = cluster_time.and_then(|v| v.as_timestamp());
        let wall_time = wall_time.and_then(|v| v.as_datetime());
        // Only herald's snapshot reads make events with a snapshot's token
        // (`_id.snapshot`); a `snapshot` field on a change is not one.
        let snapshot = snapshot.and_then(|v| v.as_bool()).unwrap_or(false)
            && id
                .and_then(|v| v.as_document())
                .is_some_and(|d| crate::raw::get(d, "snapshot").is_some());
        // Looked up on its own, not with the header: `get_many` goes on past
        // a first occurrence it cannot decode, a single `get` does not.
        let document_key = crate::raw::get(&raw, "documentKey")
            .and_then(|v| v.as_document())
            .map(|key| {
                let start = key.as_bytes().as_ptr() as usize - raw.as_bytes().as_ptr() as usize;
                start..start + key.as_bytes().len()
            });
        Ok(Self {
            token,
            operation_type,
            ns,
            cluster_time,
            wall_time,
            snapshot,
            document_key,
            raw,
        })
    }

    /// The whole event as the server sent it.
    pub fn raw(&self) -> &RawDocument {
        &self.raw
    }

    /// The resume token (`_id`).
    pub fn token(&self) -> &ResumeToken {
        &self.token
    }

    /// The kind of change.
    pub fn operation_type(&self) -> &OperationType {
        &self.operation_type
    }

    /// The namespace (`ns`); absent on `invalidate`.
    pub fn namespace(&self) -> Option<&Namespace> {
        self.ns.as_ref()
    }

    /// The operation time (`clusterTime`).
    pub fn cluster_time(&self) -> Option<Timestamp> {
        self.cluster_time
    }

    /// The server's wall clock at the operation (`wallTime`, MongoDB 6.0+).
    pub fn wall_time(&self) -> Option<DateTime> {
        self.wall_time
    }

    /// When the change happened, for timers: `wallTime` when present, else
    /// `clusterTime`'s seconds; `None` if the event has neither.
    ///
    /// ```
    /// use herald_core::ChangeEvent;
    /// let raw = bson::rawdoc! { "_id": { "_data": "01" }, "operationType": "insert",
    ///     "clusterTime": bson::Timestamp { time: 1_700_000_000, increment: 3 } };
    /// let event = ChangeEvent::from_raw(raw).unwrap();
    /// assert_eq!(event.time().unwrap().timestamp_millis(), 1_700_000_000_000);
    /// ```
    pub fn time(&self) -> Option<DateTime> {
        self.wall_time.or_else(|| {
            self.cluster_time
                .map(|t| DateTime::from_millis(i64::from(t.time) * 1000))
        })
    }

    /// True for an event herald made from a document that existed when its
    /// target started (`snapshot: true`, an `insert` as of the snapshot's
    /// cluster time), not a change the server reported.
    pub fn is_snapshot(&self) -> bool {
        self.snapshot
    }

    /// For a snapshot event, the watch target whose snapshot it is (its
    /// token's `snapshot`), when the token says.
    ///
    /// ```
    /// use bson::{doc, RawDocumentBuf};
    /// use herald_core::ChangeEvent;
    /// let raw = RawDocumentBuf::from_document(&doc! {
    ///     "_id": { "snapshot": "shop", "ns": "shop.orders", "at": bson::Timestamp { time: 1, increment: 1 }, "id": 1 },
    ///     "operationType": "insert", "ns": { "db": "shop", "coll": "orders" }, "snapshot": true,
    /// }).unwrap();
    /// let event = ChangeEvent::from_raw(raw).unwrap();
    /// assert_eq!(event.snapshot_target().unwrap().to_string(), "shop");
    /// ```
    pub fn snapshot_target(&self) -> Option<crate::WatchTarget> {
        if !self.snapshot {
            return None;
        }
        let id = crate::raw::get(&self.raw, "_id")?.as_document()?;
        crate::raw::get(id, "snapshot")?.as_str()?.parse().ok()
    }

    /// For a snapshot event, the snapshot's cluster time (its token's `at`).
    pub fn snapshot_at(&self) -> Option<Timestamp> {
        if !self.snapshot {
            return None;
        }
        let id = crate::raw::get(&self.raw, "_id")?.as_document()?;
        crate::raw::get(id, "at")?.as_timestamp()
    }

    /// The changed document's key (`documentKey`), for document-level events.
    pub fn document_key(&self) -> Option<&RawDocument> {
        let range = self.document_key.clone()?;
        RawDocument::from_bytes(self.raw.as_bytes().get(range)?).ok()
    }

    /// One top-level field, still raw.
    pub fn field(&self, name: &str) -> Option<RawBsonRef<'_>> {
        crate::raw::get(&self.raw, name)
    }
}

fn parse_ns(value: RawBsonRef<'_>) -> Result<Namespace, EventError> {
    let wrong = EventError::WrongType {
        field: "ns",
        expected: "a document {db, coll}",
    };
    let doc = value.as_document().ok_or(wrong.clone())?;
    let db = doc.get_str("db").map_err(|_| wrong.clone())?;
    let coll = match doc.get("coll") {
        Ok(Some(RawBsonRef::String(coll))) => Some(coll.to_owned()),
        Ok(None) => None,
        _ => return Err(wrong),
    };
    Ok(Namespace {
        db: db.to_owned(),
        coll,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn event(doc: bson::Document) -> Result<ChangeEvent, EventError> {
        ChangeEvent::from_raw(RawDocumentBuf::from_document(&doc).unwrap())
    }

    #[test]
    fn header_fields_are_parsed() {
        let e = event(doc! {
            "_id": {"_data": "82"},
            "operationType": "update",
            "clusterTime": Timestamp { time: 10, increment: 2 },
            "wallTime": DateTime::from_millis(5),
            "ns": {"db": "a", "coll": "b"},
            "documentKey": {"_id": 7},
            "updateDescription": {"updatedFields": {"x": 1}, "removedFields": []},
        })
        .unwrap();
        assert_eq!(e.operation_type(), &OperationType::Update);
        assert_eq!(
            e.cluster_time(),
            Some(Timestamp {
                time: 10,
                increment: 2
            })
        );
        assert_eq!(e.wall_time(), Some(DateTime::from_millis(5)));
        assert_eq!(e.document_key().unwrap().get_i32("_id").unwrap(), 7);
    }

    #[test]
    fn invalidate_has_no_namespace() {
        let e = event(doc! {"_id": {"_data": "83"}, "operationType": "invalidate"}).unwrap();
        assert!(e.namespace().is_none());
        assert!(e.document_key().is_none());
    }

    #[test]
    fn missing_token_is_an_error() {
        let err = event(doc! {"operationType": "insert"}).unwrap_err();
        assert_eq!(err, EventError::Missing("_id"));
        let err = event(doc! {"_id": 1, "operationType": 5}).unwrap_err();
        assert!(err.to_string().contains("operationType"), "{err}");
    }
}
