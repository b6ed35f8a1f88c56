//! Which worker owns an event, or a timer: by namespace and document key,
//! so one document's events and timers are handled in order, by one worker.
//!
//! Documents hash into [`PARTITIONS`] fixed partitions, and partition `p`
//! belongs to worker `p % workers`. A worker fires a partition's timers
//! before that partition's events, so where a timer fires in a replay
//! depends on the partitions, which do not change with the worker count:
//! a replay prints the same on any machine (and build: the hash is fixed).

use herald_core::ChangeEvent;

/// The number of partitions documents (and their timers) hash into.
pub(crate) const PARTITIONS: usize = 64;

/// The worker that owns partition `partition`.
pub(crate) fn worker_of(partition: usize, workers: usize) -> usize {
    partition % workers.max(1)
}

/// The partition of an event's document.
pub(crate) fn event_partition(event: &ChangeEvent) -> usize {
    let ns = event.namespace();
    partition_of(
        ns.map(|n| n.db.as_str()),
        ns.and_then(|n| n.coll.as_deref()),
        event.document_key().map(|k| k.as_bytes()),
    )
}

/// The partition of a timer: that of the document whose event set it
/// (`ns` as `db.coll`, empty for none).
pub(crate) fn timer_partition(timer: &herald_store::Timer) -> usize {
    let (db, coll) = match timer.ns.split_once('.') {
        Some((db, coll)) => (Some(db), Some(coll)),
        None if timer.ns.is_empty() => (None, None),
        None => (Some(timer.ns.as_str()), None),
    };
    partition_of(db, coll, timer.document_key.as_ref().map(|k| k.as_bytes()))
}

fn partition_of(db: Option<&str>, coll: Option<&str>, key: Option<&[u8]>) -> usize {
    // FNV-1a: fixed for good (Rust's default hasher may change between
    // releases), so a replay places timers the same way on every build.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |byte: u8| {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    };
    // Each part ends with a byte no name or BSON document starts a part with.
    for part in [db.map(str::as_bytes), coll.map(str::as_bytes), key] {
        part.into_iter().flatten().copied().for_each(&mut feed);
        feed(0xff);
    }
    (hash % PARTITIONS as u64) as usize
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
            assert_eq!(event_partition(&event), timer_partition(&timer), "{ns}");
            for workers in 1..9 {
                assert_eq!(
                    worker_of(event_partition(&event), workers),
                    worker_of(timer_partition(&timer), workers),
                    "{ns} with {workers} workers"
                );
            }
        }
    }
}
