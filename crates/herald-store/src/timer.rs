//! Durable timers: a rule asks to be called back at a time, and the request
//! outlives restarts.
//!
//! A timer is stored twice (see [`crate::keys`]): its record under its due
//! time, so the timers due by a moment are one range scan in time order, and
//! a 16-byte index entry under its (rule, name), so it can be found, replaced
//! or cancelled by name. [`Commit`](crate::Commit) keeps the two in step.

use crate::StoreError;
use bson::{RawBson, RawBsonRef, RawDocument, RawDocumentBuf, doc};

/// A rule's request to run at `due_ms`, with what it needs then.
///
/// ```
/// let timer = herald_store::Timer {
///     rule: "approvals".into(),
///     name: "remind:42".into(),
///     due_ms: 1_700_000_060_000,
///     set_at_ms: 1_700_000_000_000,
///     payload: bson::Bson::String("reminder".into()),
///     ns: "shop.orders".into(),
///     document_key: None,
///     version: 1,
/// };
/// let store = herald_store::Store::temporary()?;
/// let mut commit = store.begin();
/// commit.set_timer(&timer)?;
/// store.commit(commit)?;
/// assert_eq!(store.timer("approvals", "remind:42")?, Some(timer));
/// # Ok::<(), herald_store::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Timer {
    /// The rule that owns the timer and runs when it fires. Names are scoped
    /// to the rule: two rules may each have a timer called `remind`.
    pub rule: String,
    /// The timer's name within its rule; setting a name again replaces the
    /// timer of that name.
    pub name: String,
    /// When it is due, in milliseconds since the Unix epoch (may be negative).
    pub due_ms: i64,
    /// When it was set, in milliseconds since the Unix epoch.
    pub set_at_ms: i64,
    /// What the rule asked to be given back when it fires.
    pub payload: bson::Bson,
    /// The namespace (`db.collection`) of the document whose event set the
    /// timer: with `document_key`, the partition the firing runs in, so it is
    /// ordered with that document's events.
    pub ns: String,
    /// The key of the document whose event set the timer (`None`: the
    /// timer belongs to no one document).
    pub document_key: Option<RawDocumentBuf>,
    /// Identifies one setting of the timer: a later set of the same name has
    /// another, so a fire removes exactly the setting it fired
    /// ([`Commit::fire_timer`](crate::Commit::fire_timer)) and keeps one set
    /// again meanwhile.
    pub version: u64,
}

/// One rule's pending timers, for `herald status`
/// ([`Store::timer_stats`](crate::Store::timer_stats)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerStats {
    /// The rule.
    pub rule: String,
    /// How many timers it has set and not yet fired or cancelled.
    pub pending: u64,
    /// When the soonest of them is due (milliseconds since the Unix epoch).
    pub next_due_ms: i64,
}

impl Timer {
    /// The timer as a BSON document (its `document_key` embedded as it was given).
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>, StoreError> {
        let bad = |reason: String| StoreError::BadValue {
            what: "timer",
            reason: format!("rule {}, timer {}: {reason}", self.rule, self.name),
        };
        let fields = doc! {
            "rule": &self.rule,
            "name": &self.name,
            "due_ms": self.due_ms,
            "set_at_ms": self.set_at_ms,
            "payload": self.payload.clone(),
            "ns": &self.ns,
            // Stored as i64 bits: BSON has no unsigned 64-bit integer.
            "version": self.version as i64,
        };
        let mut raw = RawDocumentBuf::from_document(&fields).map_err(|e| bad(e.to_string()))?;
        match &self.document_key {
            Some(key) => raw.append("document_key", key.clone()),
            None => raw.append("document_key", RawBson::Null),
        }
        Ok(raw.into_bytes())
    }

    /// A timer from its stored bytes; `BadValue` if they are not one.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        let bad = |reason: String| StoreError::BadValue {
            what: "timer",
            reason,
        };
        let doc = RawDocument::from_bytes(bytes).map_err(|e| bad(e.to_string()))?;
        let text = |field: &str| {
            doc.get_str(field)
                .map(str::to_owned)
                .map_err(|e| bad(e.to_string()))
        };
        let int = |field: &str| doc.get_i64(field).map_err(|e| bad(e.to_string()));
        let payload = doc
            .get("payload")
            .map_err(|e| bad(e.to_string()))?
            .ok_or_else(|| bad("no payload".into()))?;
        let document_key = match doc.get("document_key").map_err(|e| bad(e.to_string()))? {
            Some(RawBsonRef::Document(key)) => Some(key.to_raw_document_buf()),
            Some(RawBsonRef::Null) | None => None,
            Some(other) => {
                return Err(bad(format!(
                    "document_key is a {:?}, not a document",
                    other.element_type()
                )));
            }
        };
        Ok(Self {
            rule: text("rule")?,
            name: text("name")?,
            due_ms: int("due_ms")?,
            set_at_ms: int("set_at_ms")?,
            payload: bson::Bson::try_from(payload).map_err(|e| bad(e.to_string()))?,
            ns: text("ns")?,
            document_key,
            version: int("version")? as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(document_key: Option<RawDocumentBuf>) -> Timer {
        Timer {
            rule: "r".into(),
            name: "n".into(),
            due_ms: -5,
            set_at_ms: 7,
            payload: bson::Bson::Document(doc! {"a": [1, "two"], "b": bson::Bson::Null}),
            ns: "db.coll".into(),
            document_key,
            version: u64::MAX,
        }
    }

    #[test]
    fn timers_round_trip() {
        let key = RawDocumentBuf::from_document(&doc! {"_id": 42, "shard": "a"}).unwrap();
        for timer in [timer(None), timer(Some(key))] {
            let bytes = timer.to_bytes().unwrap();
            assert_eq!(Timer::from_bytes(&bytes).unwrap(), timer);
        }
    }

    #[test]
    fn garbage_is_a_bad_value() {
        let err = Timer::from_bytes(b"\x05\0\0\0\x07").unwrap_err();
        assert!(
            matches!(err, StoreError::BadValue { what: "timer", .. }),
            "{err}"
        );
        let mut no_rule = Vec::new();
        doc! {"name": "n"}.to_writer(&mut no_rule).unwrap();
        assert!(Timer::from_bytes(&no_rule).is_err());
    }
}
