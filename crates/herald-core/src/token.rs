//! Resume tokens: the `_id` of a change event.

use bson::raw::RawBsonRef;
use bson::{Bson, RawBson, RawDocumentBuf};
use std::fmt;
use std::sync::Arc;

/// An event's resume token, kept opaque as the server sent it.
///
/// Servers send `{_data: "<hex>"}`; herald never looks inside. The token's
/// canonical bytes ([`ResumeToken::as_bytes`]) key the dedupe ledger and feed
/// idempotency keys, so they must not change between releases.
///
/// ```
/// use bson::{doc, RawBson, RawDocumentBuf};
/// use herald_core::ResumeToken;
/// let raw = RawDocumentBuf::from_document(&doc! { "_data": "8263A1" }).unwrap();
/// let token = ResumeToken::new(RawBson::Document(raw));
/// assert_eq!(token.to_string(), r#"{"_data":"8263A1"}"#);
/// ```
#[derive(Clone, PartialEq)]
pub struct ResumeToken {
    /// `{"_id": <token>}` encoded as BSON: a canonical encoding for any BSON value.
    /// Shared: every effect of an event carries its token, so a clone must
    /// not copy it.
    wrapped: Arc<RawDocumentBuf>,
}

impl ResumeToken {
    /// Wraps a token value.
    pub fn new(value: RawBson) -> Self {
        let mut wrapped = RawDocumentBuf::new();
        wrapped.append("_id", value);
        Self {
            wrapped: Arc::new(wrapped),
        }
    }

    /// Wraps a borrowed token value (an event's `_id`, still raw): the same
    /// token as [`ResumeToken::new`] of its owned copy, without the copy.
    ///
    /// ```
    /// use bson::{rawdoc, RawBson};
    /// use herald_core::ResumeToken;
    /// let event = rawdoc! { "_id": { "_data": "8263A1" } };
    /// let borrowed = ResumeToken::from_ref(event.get("_id").unwrap().unwrap());
    /// let owned = ResumeToken::new(RawBson::Document(rawdoc! { "_data": "8263A1" }));
    /// assert_eq!(borrowed.as_bytes(), owned.as_bytes());
    /// ```
    pub fn from_ref(value: RawBsonRef<'_>) -> Self {
        let mut wrapped = RawDocumentBuf::new();
        wrapped.append_ref("_id", value);
        Self {
            wrapped: Arc::new(wrapped),
        }
    }

    /// Rebuilds a token from [`ResumeToken::as_bytes`].
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, bson::raw::Error> {
        let wrapped = RawDocumentBuf::from_bytes(bytes)?;
        wrapped.get("_id")?;
        Ok(Self {
            wrapped: Arc::new(wrapped),
        })
    }

    /// The token's canonical bytes (the BSON of `{"_id": token}`).
    pub fn as_bytes(&self) -> &[u8] {
        self.wrapped.as_bytes()
    }

    /// The token as a BSON value, for sending back to the server.
    pub fn to_bson(&self) -> Bson {
        self.wrapped
            .to_document()
            .ok()
            .and_then(|mut d| d.remove("_id"))
            .unwrap_or(Bson::Null)
    }

    /// The cluster time the token stands at, read from its `_data`.
    ///
    /// Tokens are opaque, but every server since 4.2 (and mongosim) begins
    /// `_data` with the event's cluster time in MongoDB's KeyString form: the
    /// byte `0x82` (a Timestamp) and then the timestamp's 8 bytes, seconds
    /// and increment, big-endian, as 18 hex digits. herald reads it only to
    /// say how old a checkpoint is and to start a replacement stream at the
    /// same time; anything else gives `None`.
    ///
    /// ```
    /// use bson::{doc, RawBson, RawDocumentBuf};
    /// use herald_core::ResumeToken;
    /// let raw = RawDocumentBuf::from_document(&doc! { "_data": "82663220000000000A2B0229" }).unwrap();
    /// let time = ResumeToken::new(RawBson::Document(raw)).cluster_time().unwrap();
    /// assert_eq!((time.time, time.increment), (0x6632_2000, 10));
    /// ```
    pub fn cluster_time(&self) -> Option<bson::Timestamp> {
        let data = self
            .wrapped
            .get_document("_id")
            .ok()?
            .get_str("_data")
            .ok()?;
        let hex = data.get(..18)?;
        if !hex[..2].eq_ignore_ascii_case("82") {
            return None;
        }
        let value = u64::from_str_radix(&hex[2..], 16).ok()?;
        Some(bson::Timestamp {
            time: (value >> 32) as u32,
            increment: value as u32,
        })
    }

    /// The token as relaxed Extended JSON.
    pub fn to_extjson(&self) -> serde_json::Value {
        self.to_bson().into_relaxed_extjson()
    }
}

impl fmt::Display for ResumeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_extjson())
    }
}

impl fmt::Debug for ResumeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResumeToken({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip() {
        let token = ResumeToken::new(RawBson::String("abc".into()));
        let again = ResumeToken::from_bytes(token.as_bytes().to_vec()).unwrap();
        assert_eq!(token, again);
        assert_eq!(again.to_bson(), Bson::String("abc".into()));
    }

    #[test]
    fn a_borrowed_value_makes_the_same_token_as_its_copy() {
        let values = bson::rawdoc! {
            "doc": { "_data": "8263A1", "n": 1_i64 },
            "string": "abc",
            "int": 7,
            "array": [1, "x", { "y": true }],
            "binary": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![1, 2] },
            "ts": bson::Timestamp { time: 5, increment: 2 },
        };
        for (name, value) in values.iter().map(Result::unwrap) {
            let borrowed = ResumeToken::from_ref(value);
            let owned = ResumeToken::new(value.to_raw_bson());
            assert_eq!(borrowed.as_bytes(), owned.as_bytes(), "{name}");
            assert_eq!(borrowed, owned, "{name}");
        }
    }
}
