//! Reassembling events split by `$changeStreamSplitLargeEvent`.
//!
//! An event over 16 MiB cannot be sent whole; with that stage last in the
//! pipeline, the server (7.0+, 6.0.9+) sends it as fragments, each with
//! `splitEvent: {fragment: n, of: m}` and its own resume token, the fields
//! of the event divided between them. herald joins them before any rule
//! sees the event; the joined event carries the last fragment's token, and
//! no checkpoint is ever taken between fragments.

use bson::{Document, RawDocumentBuf};

/// The largest event herald joins from fragments, in bytes (the fragments'
/// sizes added up). Past it the stream fails rather than hold ever more
/// memory for one event; exclude large fields with the target's `stages`.
pub const MAX_JOINED_BYTES: usize = 256 * 1024 * 1024;

/// Collects fragments until an event is whole.
#[derive(Debug)]
pub struct Reassembler {
    pending: Option<Pending>,
    /// The largest joined event, in bytes: [`MAX_JOINED_BYTES`].
    limit: usize,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self {
            pending: None,
            limit: MAX_JOINED_BYTES,
        }
    }
}

/// The fragments of one event so far.
#[derive(Debug)]
struct Pending {
    /// Their fields, joined.
    joined: Document,
    /// The last fragment's number.
    last: i32,
    /// How many fragments the event has, as its first fragment said.
    of: i32,
    /// Their sizes, added up.
    bytes: usize,
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
        let size = raw.as_bytes().len();
        let mut doc = Document::try_from(raw.as_ref()).map_err(|e| SplitError(e.to_string()))?;
        doc.remove("splitEvent");
        let mut pending = match self.pending.take() {
            None if n == 1 => Pending {
                joined: Document::new(),
                last: 0,
                of: m,
                bytes: 0,
            },
            Some(p) if p.of != m => {
                return Err(SplitError(format!(
                    "fragment {n} says the event has {m} fragments, and the earlier ones said {}",
                    p.of
                )));
            }
            Some(p) if n == p.last + 1 => p,
            _ => {
                return Err(SplitError(format!(
                    "fragment {n} of {m} arrived out of order"
                )));
            }
        };
        pending.bytes += size;
        if pending.bytes > self.limit {
            let limit = match self.limit % (1024 * 1024) {
                0 => format!("{} MiB", self.limit / (1024 * 1024)),
                _ => format!("{} bytes", self.limit),
            };
            return Err(SplitError(format!(
                "the event's fragments exceed {limit} joined (at fragment {n} of {m}); leave large fields out of it with the target's stages ($unset or $project)"
            )));
        }
        // Later fragments' `_id` replaces earlier ones: the joined event resumes after its last fragment.
        pending.joined.extend(doc);
        if n == m {
            return RawDocumentBuf::from_document(&pending.joined)
                .map(Some)
                .map_err(|e| SplitError(e.to_string()));
        }
        pending.last = n;
        self.pending = Some(pending);
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

    #[test]
    fn fragments_must_agree_on_their_count() {
        let mut r = Reassembler::default();
        r.push(raw(doc! {"_id": 1, "splitEvent": {"fragment": 1, "of": 3}}))
            .unwrap();
        let err = r
            .push(raw(doc! {"_id": 2, "splitEvent": {"fragment": 2, "of": 2}}))
            .unwrap_err();
        assert!(err.0.contains("has 2 fragments"), "{err}");
        assert!(!r.is_pending());
    }

    #[test]
    fn a_joined_event_has_a_size_limit() {
        let mut r = Reassembler {
            limit: 1000,
            ..Reassembler::default()
        };
        let part = "x".repeat(400);
        let mut results = (1..=4).map(|n| {
            r.push(raw(
                doc! {"_id": n, "splitEvent": {"fragment": n, "of": 4}, format!("f{n}"): &part},
            ))
        });
        assert_eq!(results.next().unwrap(), Ok(None));
        assert_eq!(results.next().unwrap(), Ok(None));
        let err = results.next().unwrap().unwrap_err();
        assert!(
            err.0
                .contains("exceed 1000 bytes joined (at fragment 3 of 4)"),
            "{err}"
        );
        drop(results);
        assert!(!r.is_pending());
        let r = Reassembler::default();
        assert_eq!(r.limit, 256 * 1024 * 1024);
    }
}
