//! Records as documents: each kind of key in a collection of its own, the
//! rest of the key as the `_id` (lowercase hex, which keeps the key order),
//! the value as binary `v`.

use crate::StoreError;
use crate::backend::Entry;
use bson::{Binary, Bson, Document, spec::BinarySubtype};

/// The collection of each kind of record, by its key's first byte, in byte
/// order (a scan across kinds visits them in this order).
pub(super) const KINDS: &[(u8, &str)] = &[
    (crate::keys::LEDGER_GROUP, "ledger"),
    (crate::keys::SCOPED_LEDGER_GROUP, "scoped_ledger"),
    (crate::keys::TIMER, "timer_names"),
    (crate::keys::CHECKPOINT, "checkpoints"),
    (crate::keys::DEAD_LETTER, "dead_letters"),
    (crate::keys::GAP, "gaps"),
    (crate::keys::INFO, "info"),
    (crate::keys::LEDGER, "ledger_v1"),
    (b'm', "meta"),
    (crate::keys::COUNTS, "counts"),
    (crate::keys::STATE, "state"),
    (crate::keys::TIMER_DUE, "timers"),
];

/// The collection of a key's kind, and the rest of the key as its `_id`.
pub(super) fn split(key: &[u8]) -> Result<(&'static str, String), StoreError> {
    let (&kind, rest) = key.split_first().ok_or_else(|| StoreError::BadValue {
        what: "record key",
        reason: "empty".into(),
    })?;
    let name = KINDS
        .iter()
        .find(|(byte, _)| *byte == kind)
        .map(|(_, name)| *name)
        .ok_or_else(|| StoreError::BadValue {
            what: "record key",
            reason: format!("unknown kind {:?}", char::from(kind)),
        })?;
    Ok((name, hex::encode(rest)))
}

pub(super) fn binary(bytes: Vec<u8>) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    })
}

/// A record read back: its key (kind byte, then the decoded `_id`) and value.
pub(super) fn entry(kind: u8, document: &Document) -> Result<Entry, String> {
    let id = document.get_str("_id").map_err(|e| e.to_string())?;
    let mut key = vec![kind];
    key.extend(hex::decode(id).map_err(|e| format!("_id {id:?}: {e}"))?);
    let value = match document.get("v") {
        Some(Bson::Binary(binary)) => binary.bytes.clone(),
        other => return Err(format!("_id {id:?}: v is {other:?}, not binary")),
    };
    Ok((key, value))
}
