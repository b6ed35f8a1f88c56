//! The cluster backend: records as documents in a MongoDB database, each
//! batch one transaction with majority write concern.
//!
//! A record's key starts with a one-byte kind (see [`crate::keys`]); each kind
//! has its own collection (`checkpoints`, `ledger`, `state`, `timers`, ...),
//! in which a record is `{_id: <the rest of the key in lowercase hex>, v:
//! <the value, binary>}`. Hex keeps the key order: MongoDB compares strings
//! byte by byte (no collation is set), where binary `_id`s would compare by
//! length first.
//!
//! The driver is async and the store is not: the backend runs its own small
//! runtime on a thread of its own, and each call waits for its answer there.
//! A caller on an async runtime's thread blocks that thread for the call, as
//! a sled flush would.

use super::{Backend, Batch, Entries, Entry, KeyRange};
use crate::StoreError;
use bson::{Binary, Bson, Document, doc, spec::BinarySubtype};
use futures_util::{FutureExt, TryStreamExt};
use mongodb::options::{Acknowledgment, ReadConcern, TransactionOptions, WriteConcern};
use mongodb::{Client, Collection, Database};
use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

/// The collection of each kind of record, by its key's first byte, in byte
/// order (a scan across kinds visits them in this order).
const KINDS: &[(u8, &str)] = &[
    (crate::keys::LEDGER_GROUP, "ledger"),
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

/// The collection of herald's counters: `{_id: NAME, next: <the last value taken>}`.
const COUNTERS: &str = "counters";

/// The collection of cluster mode's leases: `{_id: NAME, owner, epoch, expires, commits}`.
pub const LEASES: &str = "leases";

/// A fenced batch whose lease is not held (the transaction's error payload).
#[derive(Debug)]
struct NotHeld;

/// A backend's ids are `number << ID_BITS | n`: its own range, above every
/// range taken before, so no other backend (another instance, or this one
/// before a restart) gives the same id, and the store's range deletes of its
/// own ledger records never reach another's.
const ID_BITS: u32 = 40;

/// Records read from the server per round trip while scanning.
const PAGE: i64 = 1000;

/// herald's records in a MongoDB database.
///
/// ```no_run
/// use herald_store::backend::{Backend, MongoBackend};
/// let backend = MongoBackend::connect("mongodb://localhost:27017/?replicaSet=rs0", "herald")?;
/// assert_eq!(backend.get(b"c-none")?, None);
/// # Ok::<(), herald_store::StoreError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MongoBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Taken only when dropped (a runtime may not be dropped on another
    /// runtime's thread; it is shut down in the background instead).
    runtime: Option<tokio::runtime::Runtime>,
    database: Database,
    /// Where the store is, for messages: `mongodb database NAME`.
    location: String,
    /// This backend's ids not yet given: (next, end).
    ids: Mutex<(u64, u64)>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl MongoBackend {
    /// Connects to the deployment at `uri` and keeps the records in `database`.
    /// The deployment must be a replica set (transactions need one).
    pub fn connect(uri: &str, database: &str) -> Result<Self, StoreError> {
        let location = format!("mongodb database {database}");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("herald-store-mongodb")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Mongo {
                location: location.clone(),
                reason: format!("cannot start its runtime: {e}"),
            })?;
        let uri = uri.to_owned();
        let client = wait(&runtime, async move { Client::with_uri_str(uri).await })
            .map_err(|e| mongo_error(&location, &e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                // The primary's majority-committed records: never a lagging
                // secondary's (whatever the URI's read preference says).
                database: client.database_with_options(
                    database,
                    mongodb::options::DatabaseOptions::builder()
                        .selection_criteria(mongodb::options::SelectionCriteria::ReadPreference(
                            mongodb::options::ReadPreference::Primary,
                        ))
                        .read_concern(ReadConcern::majority())
                        .write_concern(WriteConcern::majority())
                        .build(),
                ),
                runtime: Some(runtime),
                location,
                ids: Mutex::new((0, 0)),
            }),
        })
    }

    /// True if any collection of herald's holds a record: the store was
    /// made before (so a missing format marker means damage).
    pub fn has_records(&self) -> Result<bool, StoreError> {
        let database = self.inner.database.clone();
        self.call(async move {
            for (_, name) in KINDS {
                let found = database
                    .collection::<Document>(name)
                    .find_one(doc! {})
                    .await?;
                if found.is_some() {
                    return Ok(true);
                }
            }
            Ok(false)
        })
    }

    /// Where the store is, for messages.
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// Runs `work` on the backend's runtime and waits for its result.
    fn call<T: Send + 'static>(
        &self,
        work: impl Future<Output = mongodb::error::Result<T>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let runtime = self
            .inner
            .runtime
            .as_ref()
            .expect("taken only when dropped");
        wait(runtime, work).map_err(|e| mongo_error(&self.inner.location, &e))
    }
}

/// Runs `work` on `runtime` and waits for it on this thread, whatever this
/// thread is (blocking on a channel is allowed where `block_on` is not).
fn wait<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    work: impl Future<Output = mongodb::error::Result<T>> + Send + 'static,
) -> mongodb::error::Result<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(work.await);
    });
    rx.recv().unwrap_or_else(|_| {
        Err(mongodb::error::Error::custom(
            "the store's runtime stopped before answering",
        ))
    })
}

fn mongo_error(location: &str, error: &mongodb::error::Error) -> StoreError {
    StoreError::Mongo {
        location: location.to_owned(),
        reason: error.to_string(),
    }
}

/// The collection of a key's kind, and the rest of the key as its `_id`.
fn split(key: &[u8]) -> Result<(&'static str, String), StoreError> {
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

fn binary(bytes: Vec<u8>) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    })
}

/// A record read back: its key (kind byte, then the decoded `_id`) and value.
fn entry(kind: u8, document: &Document) -> Result<Entry, String> {
    let id = document.get_str("_id").map_err(|e| e.to_string())?;
    let mut key = vec![kind];
    key.extend(hex::decode(id).map_err(|e| format!("_id {id:?}: {e}"))?);
    let value = match document.get("v") {
        Some(Bson::Binary(binary)) => binary.bytes.clone(),
        other => return Err(format!("_id {id:?}: v is {other:?}, not binary")),
    };
    Ok((key, value))
}

/// The `_id` filter selecting the part of `range` within kind `kind`, or
/// `None` if none of the range is.
fn id_filter(kind: u8, range: &KeyRange) -> Option<Document> {
    let mut filter = Document::new();
    // A bound in an earlier kind leaves this one unbounded on that side; one
    // in a later kind excludes all of it (and the mirror for the upper bound).
    match &range.start {
        Bound::Unbounded => {}
        Bound::Included(key) | Bound::Excluded(key) => match key.split_first() {
            None => {}
            Some((&first, _)) if first < kind => {}
            Some((&first, _)) if first > kind => return None,
            Some((_, rest)) => {
                let op = if matches!(range.start, Bound::Included(_)) {
                    "$gte"
                } else {
                    "$gt"
                };
                filter.insert(op, hex::encode(rest));
            }
        },
    }
    match &range.end {
        Bound::Unbounded => {}
        Bound::Included(key) | Bound::Excluded(key) => match key.split_first() {
            None => return None,
            Some((&first, _)) if first > kind => {}
            Some((&first, _)) if first < kind => return None,
            Some((_, rest)) => {
                if rest.is_empty() && matches!(range.end, Bound::Excluded(_)) {
                    return None; // below the kind's smallest key
                }
                let op = if matches!(range.end, Bound::Included(_)) {
                    "$lte"
                } else {
                    "$lt"
                };
                filter.insert(op, hex::encode(rest));
            }
        },
    }
    Some(if filter.is_empty() {
        doc! {}
    } else {
        doc! {"_id": filter}
    })
}

impl Backend for MongoBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let (name, id) = split(key)?;
        let collection: Collection<Document> = self.inner.database.collection(name);
        let found = self.call(async move { collection.find_one(doc! {"_id": id}).await })?;
        let Some(document) = found else {
            return Ok(None);
        };
        entry(key[0], &document)
            .map(|(_, value)| Some(value))
            .map_err(|reason| self.damaged(reason))
    }

    fn scan(&self, range: KeyRange, reverse: bool) -> Entries<'_> {
        let mut kinds: Vec<(u8, &'static str)> = KINDS
            .iter()
            .copied()
            .filter(|&(kind, _)| id_filter(kind, &range).is_some())
            .collect();
        if reverse {
            kinds.reverse();
        }
        Box::new(Scan {
            backend: self,
            range,
            reverse,
            kinds: kinds.into_iter(),
            current: None,
            page: Vec::new().into_iter(),
            last_id: None,
            done: false,
        })
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        // The last change to each key wins; grouped by collection.
        let (changes, fences) = batch.into_parts();
        let mut net: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        for (key, value) in changes {
            net.insert(key, value);
        }
        let mut groups: BTreeMap<&'static str, (Vec<Bson>, Vec<Document>)> = BTreeMap::new();
        for (key, value) in net {
            let (name, id) = split(&key)?;
            let (touched, written) = groups.entry(name).or_default();
            touched.push(Bson::String(id.clone()));
            if let Some(value) = value {
                written.push(doc! {"_id": id, "v": binary(value)});
            }
        }
        if groups.is_empty() && fences.is_empty() {
            return Ok(());
        }
        let fenced: Vec<Bson> = fences
            .iter()
            .map(|f| Bson::Document(doc! {"_id": &f.lease, "owner": &f.owner, "epoch": f.epoch}))
            .collect();
        let client = self.inner.database.client().clone();
        let database = self.inner.database.clone();
        let runtime = self
            .inner
            .runtime
            .as_ref()
            .expect("taken only when dropped");
        let applied = wait(runtime, async move {
            let mut session = client.start_session().await?;
            let options = TransactionOptions::builder()
                .read_concern(ReadConcern::snapshot())
                .write_concern(
                    WriteConcern::builder()
                        .w(Acknowledgment::Majority)
                        .journal(true)
                        .build(),
                )
                .build();
            session
                .start_transaction()
                .with_options(options)
                .and_run(
                    (database, groups, fenced),
                    |session, (database, groups, fenced)| {
                        async move {
                            if !fenced.is_empty() {
                                // A write, not a read: a take-over that raises an
                                // epoch meanwhile conflicts with it, so one of the
                                // two transactions fails (a read would not see it).
                                let held = database
                                    .collection::<Document>(LEASES)
                                    .update_many(
                                        doc! {"$or": fenced.clone()},
                                        doc! {"$inc": {"commits": 1_i64}},
                                    )
                                    .session(&mut *session)
                                    .await?;
                                if held.matched_count != fenced.len() as u64 {
                                    return Err(mongodb::error::Error::custom(NotHeld));
                                }
                            }
                            for (name, (touched, written)) in groups.iter() {
                                let collection = database.collection::<Document>(name);
                                collection
                                    .delete_many(doc! {"_id": {"$in": touched.clone()}})
                                    .session(&mut *session)
                                    .await?;
                                if !written.is_empty() {
                                    collection
                                        .insert_many(written.clone())
                                        .session(&mut *session)
                                        .await?;
                                }
                            }
                            Ok(())
                        }
                        .boxed()
                    },
                )
                .await
        });
        match applied {
            Ok(()) => Ok(()),
            Err(e) if e.get_custom::<NotHeld>().is_some() => Err(StoreError::Fenced {
                lease: fences
                    .iter()
                    .map(|f| f.lease.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                reason: "another instance took it over, or it was let go".into(),
            }),
            Err(e) => Err(mongo_error(&self.inner.location, &e)),
        }
    }

    fn generate_id(&self) -> Result<u64, StoreError> {
        let mut ids = self.inner.ids.lock().expect("id lock");
        if ids.0 >= ids.1 {
            let number = self.reserve("backends", 1)?;
            let start = number
                .checked_shl(ID_BITS)
                .filter(|start| start >> ID_BITS == number)
                .ok_or_else(|| self.damaged(format!("the backend counter reads {number}")))?;
            *ids = (start, start + (1 << ID_BITS));
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    fn shared(&self) -> bool {
        true
    }

    fn reserve(&self, counter: &str, n: u64) -> Result<u64, StoreError> {
        let counters = self.inner.database.collection::<Document>(COUNTERS);
        let step = i64::try_from(n).map_err(|_| self.damaged(format!("{n} ids asked for")))?;
        let id = counter.to_owned();
        let after = self.call(async move {
            counters
                .find_one_and_update(doc! {"_id": id}, doc! {"$inc": {"next": step}})
                .upsert(true)
                .return_document(mongodb::options::ReturnDocument::After)
                .write_concern(WriteConcern::majority())
                .await
        })?;
        after
            .as_ref()
            .and_then(|d| d.get_i64("next").ok())
            .and_then(|last| u64::try_from(last).ok())
            .filter(|&last| last >= n)
            .map(|last| last - n + 1)
            .ok_or_else(|| self.damaged(format!("the counter {counter} reads {after:?}")))
    }

    fn size(&self) -> Result<u64, StoreError> {
        let database = self.inner.database.clone();
        let stats = self.call(async move { database.run_command(doc! {"dbStats": 1}).await })?;
        Ok(match stats.get("dataSize") {
            Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or(0),
            Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or(0),
            Some(Bson::Double(n)) => *n as u64,
            _ => 0,
        })
    }
}

impl MongoBackend {
    fn damaged(&self, reason: String) -> StoreError {
        StoreError::Corrupt {
            path: self.inner.location.clone().into(),
            reason,
        }
    }

    /// One page of a kind's records after `last_id`, in `range`.
    fn page(
        &self,
        kind: (u8, &'static str),
        range: &KeyRange,
        reverse: bool,
        last_id: Option<&str>,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut filter = id_filter(kind.0, range).unwrap_or_default();
        if let Some(last) = last_id {
            let op = if reverse { "$lt" } else { "$gt" };
            let mut id = match filter.remove("_id") {
                Some(Bson::Document(id)) => id,
                _ => Document::new(),
            };
            // Both bounds on one side: the page's own is the tighter.
            id.remove(op);
            id.remove(if reverse { "$lte" } else { "$gte" });
            id.insert(op, last);
            filter.insert("_id", id);
        }
        let collection = self.inner.database.collection::<Document>(kind.1);
        let found: Vec<Document> = self.call(async move {
            collection
                .find(filter)
                .sort(doc! {"_id": if reverse { -1 } else { 1 }})
                .limit(PAGE)
                .await?
                .try_collect()
                .await
        })?;
        found
            .iter()
            .map(|document| entry(kind.0, document).map_err(|reason| self.damaged(reason)))
            .collect()
    }
}

/// A scan in progress: kind by kind, a page at a time.
struct Scan<'a> {
    backend: &'a MongoBackend,
    range: KeyRange,
    reverse: bool,
    kinds: std::vec::IntoIter<(u8, &'static str)>,
    current: Option<(u8, &'static str)>,
    page: std::vec::IntoIter<Entry>,
    /// The `_id` of the last record given from the current kind.
    last_id: Option<String>,
    done: bool,
}

impl Iterator for Scan<'_> {
    type Item = Result<Entry, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if let Some(entry) = self.page.next() {
                self.last_id = Some(hex::encode(&entry.0[1..]));
                return Some(Ok(entry));
            }
            // The page is used up: the next page of this kind, if the last
            // one was full, else the next kind.
            let kind = match self.current {
                Some(kind) if self.last_id.is_some() => kind,
                _ => {
                    let Some(kind) = self.kinds.next() else {
                        self.done = true;
                        return None;
                    };
                    self.current = Some(kind);
                    self.last_id = None;
                    kind
                }
            };
            match self
                .backend
                .page(kind, &self.range, self.reverse, self.last_id.as_deref())
            {
                Ok(page) => {
                    if (page.len() as i64) < PAGE {
                        // The last page of this kind: move on once it is given.
                        self.current = None;
                    }
                    if page.is_empty() {
                        self.current = None;
                        self.last_id = None;
                        continue;
                    }
                    self.page = page.into_iter();
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
