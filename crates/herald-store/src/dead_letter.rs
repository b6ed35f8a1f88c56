//! Dead letters: events a rule could not complete, kept with the error.

use bson::{Binary, RawDocumentBuf, doc, spec::BinarySubtype};

/// An event that a rule failed on, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// Its number: 1, 2, 3, ... in the order letters were written, given
    /// when the commit that writes it is applied (see
    /// [`Commit::add_dead_letter`](crate::Commit::add_dead_letter)), never
    /// given again after a drop. Letters written before herald numbered them
    /// keep the (larger, gapped) ids they had.
    pub id: u64,
    /// The rule that failed.
    pub rule: String,
    /// The event's token bytes ([`herald_core::ResumeToken::as_bytes`]).
    pub token: Vec<u8>,
    /// The whole event, to re-run the rule on.
    pub event: RawDocumentBuf,
    /// The last error.
    pub error: String,
    /// How many attempts were made, the failed retries' included.
    pub attempts: u32,
    /// How its effects were numbered (and so keyed) when it failed.
    pub keys: KeyScheme,
    /// The rule's effects for this event that completed before it failed: a
    /// retry carries out only the others (with the same keys).
    pub done: Vec<DoneEffect>,
    /// When it first failed (it was dead-lettered).
    pub first_at: bson::DateTime,
    /// When it last failed: as `first_at`, or the last failed retry.
    pub at: bson::DateTime,
}

/// How a rule's effects were numbered, which their idempotency keys include.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyScheme {
    /// Every intent numbered, `log` and state changes included (letters
    /// written before herald numbered only effects). A retry keeps this
    /// numbering, so its keys are the ones the first attempt used.
    AllIntents,
    /// Only effects numbered (`notify`, `webhook`, `insert_doc`).
    #[default]
    EffectsOnly,
}

/// An effect that completed before its (rule, event) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoneEffect {
    /// Its number among the handler's effects (its key includes it).
    pub number: u32,
    /// [`herald_core::Intent::digest`] of what it did: a retry whose effect of
    /// that number differs (the rule or its state changed) is refused rather
    /// than skipped or sent again under the same key.
    pub digest: u64,
}

impl DeadLetter {
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>, crate::StoreError> {
        let event = bson::Document::try_from(self.event.as_ref()).map_err(|e| {
            crate::StoreError::BadValue {
                what: "dead letter",
                reason: e.to_string(),
            }
        })?;
        let doc = doc! {
            "rule": &self.rule,
            "token": Binary { subtype: BinarySubtype::Generic, bytes: self.token.clone() },
            "event": event,
            "error": &self.error,
            "attempts": i64::from(self.attempts),
            "keys": match self.keys {
                KeyScheme::AllIntents => 1,
                KeyScheme::EffectsOnly => 2,
            },
            "effects_done": self
                .done
                .iter()
                .map(|d| doc! { "n": i64::from(d.number), "digest": d.digest as i64 })
                .collect::<Vec<_>>(),
            "at": self.at,
            "first_at": self.first_at,
        };
        let mut bytes = Vec::new();
        doc.to_writer(&mut bytes)
            .map_err(|e| crate::StoreError::BadValue {
                what: "dead letter",
                reason: e.to_string(),
            })?;
        Ok(bytes)
    }

    pub(crate) fn from_bytes(id: u64, bytes: &[u8]) -> Result<Self, crate::StoreError> {
        let bad = |reason: String| crate::StoreError::BadValue {
            what: "dead letter",
            reason,
        };
        let doc = bson::Document::from_reader(bytes).map_err(|e| bad(e.to_string()))?;
        let event = doc.get_document("event").map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            id,
            rule: doc
                .get_str("rule")
                .map_err(|e| bad(e.to_string()))?
                .to_owned(),
            token: doc
                .get_binary_generic("token")
                .map_err(|e| bad(e.to_string()))?
                .clone(),
            event: RawDocumentBuf::from_document(event).map_err(|e| bad(e.to_string()))?,
            error: doc
                .get_str("error")
                .map_err(|e| bad(e.to_string()))?
                .to_owned(),
            attempts: u32::try_from(doc.get_i64("attempts").map_err(|e| bad(e.to_string()))?)
                .unwrap_or(u32::MAX),
            at: *doc.get_datetime("at").map_err(|e| bad(e.to_string()))?,
            // Letters written before herald kept it: the time it was written
            // (a retry then replaced it), the earliest known.
            first_at: match doc.get_datetime("first_at") {
                Ok(first) => *first,
                Err(_) => *doc.get_datetime("at").map_err(|e| bad(e.to_string()))?,
            },
            // Letters written before effects were numbered and recorded: the
            // old numbering, nothing known to be done.
            keys: match doc.get_i32("keys") {
                Err(_) | Ok(1) => KeyScheme::AllIntents,
                Ok(2) => KeyScheme::EffectsOnly,
                Ok(other) => return Err(bad(format!("unknown key scheme {other}"))),
            },
            done: match doc.get_array("effects_done") {
                Err(_) => Vec::new(),
                Ok(done) => done
                    .iter()
                    .map(|d| {
                        let d = d
                            .as_document()
                            .ok_or_else(|| bad("effects_done entry".into()))?;
                        Ok(DoneEffect {
                            number: d
                                .get_i64("n")
                                .ok()
                                .and_then(|n| u32::try_from(n).ok())
                                .ok_or_else(|| bad("effect number".into()))?,
                            digest: d.get_i64("digest").map_err(|e| bad(e.to_string()))? as u64,
                        })
                    })
                    .collect::<Result<_, crate::StoreError>>()?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A letter written before effects were numbered apart from logs and state
    /// (no `keys`, no `effects_done`) keeps the numbering its keys were made with.
    #[test]
    fn letters_from_before_keep_their_numbering() {
        let event = RawDocumentBuf::from_document(&doc! {"_id": {"_data": "01"}}).unwrap();
        let old = doc! {
            "rule": "r",
            "token": Binary { subtype: BinarySubtype::Generic, bytes: vec![1] },
            "event": bson::Document::try_from(event.as_ref()).unwrap(),
            "error": "boom",
            "attempts": 2i64,
            "at": bson::DateTime::from_millis(5),
        };
        let mut bytes = Vec::new();
        old.to_writer(&mut bytes).unwrap();
        let letter = DeadLetter::from_bytes(9, &bytes).unwrap();
        assert_eq!(letter.keys, KeyScheme::AllIntents);
        assert!(letter.done.is_empty());
        assert_eq!(letter.first_at, bson::DateTime::from_millis(5));
        let again = DeadLetter::from_bytes(9, &letter.to_bytes().unwrap()).unwrap();
        assert_eq!(again, letter, "and keeps it when written back");
    }
}
