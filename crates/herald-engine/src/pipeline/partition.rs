//! Which worker owns an event, or a timer: by namespace and document key,
//! so one document's events and timers are handled in order, by one worker.

use herald_core::ChangeEvent;
use std::hash::Hasher;

/// The worker that owns an event: by namespace and document key.
pub(crate) fn partition(event: &ChangeEvent, workers: usize) -> usize {
    let ns = event.namespace();
    partition_of(
        ns.map(|n| n.db.as_str()),
        ns.and_then(|n| n.coll.as_deref()),
        event.document_key().map(|k| k.as_bytes()),
        workers,
    )
}

/// The worker that owns a timer: that of the document whose event set it
/// (`ns` as `db.coll`, empty for none).
pub(crate) fn timer_partition(timer: &herald_store::Timer, workers: usize) -> usize {
    let (db, coll) = match timer.ns.split_once('.') {
        Some((db, coll)) => (Some(db), Some(coll)),
        None if timer.ns.is_empty() => (None, None),
        None => (Some(timer.ns.as_str()), None),
    };
    partition_of(
        db,
        coll,
        timer.document_key.as_ref().map(|k| k.as_bytes()),
        workers,
    )
}

fn partition_of(db: Option<&str>, coll: Option<&str>, key: Option<&[u8]>, workers: usize) -> usize {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    // Each part ends with a byte no name or BSON document starts a part with.
    for part in [db.map(str::as_bytes), coll.map(str::as_bytes), key] {
        if let Some(bytes) = part {
            hasher.write(bytes);
        }
        hasher.write_u8(0xff);
    }
    (hasher.finish() % workers.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A timer set by a document's event lands with that document's events,
    /// whatever the worker count.
    #[test]
    fn a_timer_goes_where_its_document_goes() {
        for (ns, key) in [
            ("shop.orders", Some(bson::rawdoc! { "_id": 7 })),
            ("shop.a.b", Some(bson::rawdoc! { "_id": "x" })),
            ("shop", None),
        ] {
            let mut raw = bson::rawdoc! { "_id": { "_data": "01" }, "operationType": "insert" };
            let (db, coll) = ns.split_once('.').map_or((ns, None), |(d, c)| (d, Some(c)));
            let mut ns_doc = bson::rawdoc! { "db": db };
            if let Some(coll) = coll {
                ns_doc.append("coll", coll);
            }
            raw.append("ns", ns_doc);
            if let Some(key) = &key {
                raw.append("documentKey", key.clone());
            }
            let event = ChangeEvent::from_raw(raw).unwrap();
            let timer = herald_store::Timer {
                rule: "r".into(),
                name: "t".into(),
                due_ms: 0,
                set_at_ms: 0,
                payload: bson::Bson::Null,
                ns: ns.into(),
                document_key: key,
                version: 0,
            };
            for workers in 1..9 {
                assert_eq!(
                    partition(&event, workers),
                    timer_partition(&timer, workers),
                    "{ns} with {workers} workers"
                );
            }
        }
    }
}
