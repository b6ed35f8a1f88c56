//! `insert_doc` and `upsert_doc`: the effects that write to MongoDB.
//!
//! Both are idempotent, so a repeat after a crash, a replay or a dead-letter
//! retry writes nothing twice: `insert_doc` uses the effect's idempotency key
//! as `_id`, `upsert_doc` replaces the document with its own `_id`, and
//! `upsert_doc(ns, filter, update)` takes only idempotent update operators.

use super::{BoxFuture, Channel, EffectError};
use bson::Document;
use herald_core::{Effect, Intent, Namespace};
use mongodb::error::{Error, ErrorKind, WriteFailure};
use mongodb::{Client, Collection};

/// The server's duplicate-key error code.
const DUPLICATE_KEY: i32 = 11000;

/// Executes `insert_doc` and `upsert_doc` intents.
///
/// `insert_doc` writes with `_id` = the idempotency key, so a repeat hits a
/// duplicate key, which counts as done when the document with that `_id` is
/// there; a duplicate on another unique index is a failure (retried, then
/// dead-lettered): nothing was written. A document with its own `_id` is
/// refused (the rule meant `upsert_doc`).
///
/// `upsert_doc` replaces the document with the given `_id` (inserting it if
/// there is none): doing it twice leaves the same document.
///
/// ```no_run
/// # async fn demo() -> mongodb::error::Result<()> {
/// use herald_engine::effects::DocWriteChannel;
/// let client = mongodb::Client::with_uri_str("mongodb://localhost:27017/?replicaSet=rs0").await?;
/// let channel = DocWriteChannel::new(client);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DocWriteChannel {
    client: Client,
}

impl DocWriteChannel {
    /// Writes through this client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    fn collection(&self, ns: &Namespace) -> Collection<Document> {
        self.client
            .database(&ns.db)
            .collection::<Document>(ns.coll.as_deref().unwrap_or_default())
    }

    async fn insert(
        &self,
        effect: &Effect,
        ns: &Namespace,
        doc: &Document,
    ) -> Result<(), EffectError> {
        if doc.contains_key("_id") {
            return Err(EffectError::permanent(format!(
                "insert into {ns}: the document has its own `_id`, but insert_doc keys it by the \
                 effect's idempotency key; use upsert_doc to write a document by its own `_id`"
            )));
        }
        let mut document = bson::doc! { "_id": effect.key.as_str() };
        document.extend(doc.iter().map(|(k, v)| (k.clone(), v.clone())));
        let coll = self.collection(ns);
        let Err(e) = coll.insert_one(document).await else {
            return Ok(());
        };
        match e.kind.as_ref() {
            ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == DUPLICATE_KEY => {
                // Which index? The driver does not say, so look: if our `_id`
                // is there, an earlier attempt wrote it.
                let ours = coll
                    .find_one(bson::doc! { "_id": effect.key.as_str() })
                    .await
                    .map_err(|e| classify("insert into", ns, e))?;
                match ours {
                    Some(_) => Ok(()),
                    None => Err(EffectError::transient(format!(
                        "insert into {ns}: a unique index other than _id refused it: {}",
                        w.message
                    ))),
                }
            }
            _ => Err(classify("insert into", ns, e)),
        }
    }

    async fn upsert(&self, ns: &Namespace, doc: &Document) -> Result<(), EffectError> {
        let Some(id) = doc.get("_id") else {
            return Err(EffectError::permanent(format!(
                "upsert into {ns}: the document has no `_id` to write it by"
            )));
        };
        self.collection(ns)
            .replace_one(bson::doc! { "_id": id.clone() }, doc)
            .upsert(true)
            .await
            .map(|_| ())
            // Two upserts of one new `_id` can race to insert it; the loser's
            // duplicate key is worth a retry, which then replaces.
            .map_err(|e| classify("upsert into", ns, e))
    }
}

impl DocWriteChannel {
    /// `upsert_doc(ns, filter, update)`: updates the document `filter`
    /// selects (operators) or replaces it (a replacement document), inserting
    /// it if there is none. The script admits only idempotent operators, so
    /// doing it twice leaves the same document.
    async fn upsert_where(
        &self,
        ns: &Namespace,
        filter: &Document,
        update: &Document,
    ) -> Result<(), EffectError> {
        let coll = self.collection(ns);
        let written = if update.keys().any(|k| k.starts_with('$')) {
            coll.update_one(filter.clone(), update.clone())
                .upsert(true)
                .await
                .map(|_| ())
        } else {
            coll.replace_one(filter.clone(), update)
                .upsert(true)
                .await
                .map(|_| ())
        };
        written.map_err(|e| classify("upsert into", ns, e))
    }
}

/// A write error the server will give again (a validation failure, a bad
/// document) is permanent, except a duplicate key (another writer may have
/// been first: a retry sees its document); anything else (network, election)
/// is worth a retry.
fn classify(what: &str, ns: &Namespace, e: Error) -> EffectError {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == DUPLICATE_KEY => {
            EffectError::transient(format!("{what} {ns}: {e}"))
        }
        ErrorKind::Write(_) | ErrorKind::InvalidArgument { .. } => {
            EffectError::permanent(format!("{what} {ns}: {e}"))
        }
        _ => EffectError::transient(format!("{what} {ns}: {e}")),
    }
}

impl Channel for DocWriteChannel {
    fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(async move {
            match &effect.intent {
                Intent::InsertDoc { ns, doc } => self.insert(effect, ns, doc).await,
                Intent::UpsertDoc { ns, doc } => self.upsert(ns, doc).await,
                Intent::UpsertWhere { ns, filter, update } => {
                    self.upsert_where(ns, filter, update).await
                }
                other => Err(EffectError::permanent(format!(
                    "the MongoDB channel writes insert_doc and upsert_doc, not {}",
                    other.kind()
                ))),
            }
        })
    }
}
