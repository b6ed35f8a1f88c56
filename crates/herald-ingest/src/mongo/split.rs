//! Reassembling events split by `$changeStreamSplitLargeEvent`.
//!
//! An event over 16 MiB cannot be sent whole; with that stage last in the
//! pipeline, the server (7.0+, 6.0.9+) sends it as fragments, each with
//! `splitEvent: {fragment: n, of: m}` and its own resume token, the fields
//! of the event divided between them. herald joins them before any rule
//! sees the event; the joined event carries the last fragment's token, and
//! no checkpoint is ever taken between fragments.

use bson::{Document, RawDocumentBuf};

/// Collects fragments until an event is whole.
#[derive(Debug, Default)]
pub struct Reassembler {
    pending: Option<(Document, i32)>,
}

/// Why fragments cannot be joined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("split change event: {0}")]
pub struct SplitError(pub String);

impl Reassembler {
    /// True while an event is incomplete (no checkpoint may be taken).
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Takes one event or fragment; returns an event when one is whole.
    pub fn push(&mut self, raw: RawDocumentBuf) -> Result<Option<RawDocumentBuf>, SplitError> {
        let fragment_of = match raw.get_document("splitEvent") {
            Ok(split) => match (split.get_i32("fragment"), split.get_i32("of")) {
                (Ok(n), Ok(m)) if n >= 1 && n <= m => Some((n, m)),
                _ => return Err(SplitError(format!("malformed splitEvent in {raw:?}"))),
            },
            Err(_) => None,
        };
        let Some((n, m)) = fragment_of else {
            if self.pending.is_some() {
                return Err(SplitError(
                    "an unsplit event arrived before the previous event's last fragment".into(),
                ));
            }
            return Ok(Some(raw));
        };
        let mut doc = Document::try_from(raw.as_ref()).map_err(|e| SplitError(e.to_string()))?;
        doc.remove("splitEvent");
        let mut whole = match self.pending.take() {
            None if n == 1 => Document::new(),
            Some((so_far, last)) if n == last + 1 => so_far,
            _ => {
                return Err(SplitError(format!(
                    "fragment {n} of {m} arrived out of order"
                )));
            }
        };
        // Later fragments' `_id` replaces earlier ones: the joined event resumes after its last fragment.
        whole.extend(doc);
        if n == m {
            return RawDocumentBuf::from_document(&whole)
                .map(Some)
                .map_err(|e| SplitError(e.to_string()));
        }
        self.pending = Some((whole, n));
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn raw(d: Document) -> RawDocumentBuf {
        RawDocumentBuf::from_document(&d).unwrap()
    }

    #[test]
    fn fragments_join_into_one_event_with_the_last_token() {
        let mut r = Reassembler::default();
        let first = doc! {"_id": {"_data": "01"}, "splitEvent": {"fragment": 1, "of": 2}, "operationType": "update", "ns": {"db": "d", "coll": "c"}, "fullDocument": {"big": "x"}};
        let second = doc! {"_id": {"_data": "02"}, "splitEvent": {"fragment": 2, "of": 2}, "fullDocumentBeforeChange": {"big": "y"}};
        assert_eq!(r.push(raw(first)).unwrap(), None);
        assert!(r.is_pending());
        let whole = Document::try_from(r.push(raw(second)).unwrap().unwrap().as_ref()).unwrap();
        assert_eq!(
            whole,
            doc! {"_id": {"_data": "02"}, "operationType": "update", "ns": {"db": "d", "coll": "c"}, "fullDocument": {"big": "x"}, "fullDocumentBeforeChange": {"big": "y"}}
        );
        assert!(!r.is_pending());
    }

    #[test]
    fn unsplit_events_pass_and_disorder_is_an_error() {
        let mut r = Reassembler::default();
        let plain = doc! {"_id": 1, "operationType": "insert"};
        assert!(r.push(raw(plain.clone())).unwrap().is_some());
        assert!(
            r.push(raw(doc! {"_id": 2, "splitEvent": {"fragment": 2, "of": 3}}))
                .is_err()
        );
        let mut r = Reassembler::default();
        r.push(raw(doc! {"_id": 3, "splitEvent": {"fragment": 1, "of": 2}}))
            .unwrap();
        assert!(r.push(raw(plain)).is_err());
    }
}
