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
//! a sled flush would. Calls from several threads run at once (each batch
//! its own session and transaction), so one batch waiting on the server
//! holds up no other.
//!
//! - `mongodb/records.rs`: the collection of each kind, and records as documents.
//! - `mongodb/scan.rs`: key ranges read a page at a time.
//! - `mongodb/transaction.rs`: a batch as one transaction.
//! - `mongodb/fence.rs`: the lease check inside that transaction.

mod fence;
mod records;
mod scan;
mod transaction;

use super::{Backend, Batch, Entries, KeyRange};
use crate::StoreError;
use bson::{Bson, Document, doc};
use mongodb::options::{ReadConcern, WriteConcern};
use mongodb::{Client, Collection, Database};
use records::{KINDS, entry, split};
use std::future::Future;
use std::sync::{Arc, Mutex};

/// The collection of herald's counters: `{_id: NAME, next: <the last value taken>}`.
const COUNTERS: &str = "counters";

/// The collection of cluster mode's leases: `{_id: NAME, owner, epoch, expires, commits}`.
pub const LEASES: &str = "leases";

/// A backend's ids are `number << ID_BITS | n`: its own range, above every
/// range taken before, so no other backend (another instance, or this one
/// before a restart) gives the same id, and the store's range deletes of its
/// own ledger records never reach another's.
const ID_BITS: u32 = 40;

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
        wait(self.runtime(), work).map_err(|e| mongo_error(&self.inner.location, &e))
    }

    /// The backend's runtime.
    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.inner
            .runtime
            .as_ref()
            .expect("taken only when dropped")
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
        scan::scan(self, range, reverse)
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        self.apply_batch(batch)
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
}
