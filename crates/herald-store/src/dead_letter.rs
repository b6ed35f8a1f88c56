//! Dead letters: events a rule could not complete, kept with the error.

use bson::{Binary, RawDocumentBuf, doc, spec::BinarySubtype};

/// An event that a rule failed on, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// Sequence number (arrival order).
    pub id: u64,
    /// The rule that failed.
    pub rule: String,
    /// The event's token bytes ([`herald_core::ResumeToken::as_bytes`]).
    pub token: Vec<u8>,
    /// The whole event, to re-run the rule on.
    pub event: RawDocumentBuf,
    /// The last error.
    pub error: String,
    /// How many attempts were made.
    pub attempts: u32,
    /// The numbers of the rule's effects for this event that completed before
    /// it failed: a retry carries out only the others (with the same keys).
    pub done: Vec<u32>,
    /// When it was dead-lettered.
    pub at: bson::DateTime,
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
            "done": self.done.iter().map(|n| i64::from(*n)).collect::<Vec<_>>(),
            "at": self.at,
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
            // Letters written before effects were recorded have none done.
            done: match doc.get_array("done") {
                Ok(numbers) => numbers
                    .iter()
                    .map(|n| {
                        n.as_i64()
                            .and_then(|n| u32::try_from(n).ok())
                            .ok_or_else(|| bad(format!("effect number {n} in `done`")))
                    })
                    .collect::<Result<_, _>>()?,
                Err(_) => Vec::new(),
            },
        })
    }
}
