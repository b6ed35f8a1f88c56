//! `insert_doc`: writes to MongoDB with `_id` = the effect's idempotency key.

use super::{BoxFuture, Channel, EffectError};
use herald_core::{Effect, Intent};
use mongodb::Client;
use mongodb::error::{ErrorKind, WriteFailure};

/// The server's duplicate-key error code.
const DUPLICATE_KEY: i32 = 11000;

/// Inserts `insert_doc` documents. The `_id` is the idempotency key, so a
/// repeat after a crash or replay hits a duplicate key, which counts as done
/// when the document with that `_id` is there. A duplicate on another unique
/// index is a failure (retried, then dead-lettered): nothing was written.
#[derive(Debug, Clone)]
pub struct InsertDocChannel {
    client: Client,
}

impl InsertDocChannel {
    /// Writes through this client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl Channel for InsertDocChannel {
    fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(async move {
            let Intent::InsertDoc { ns, doc } = &effect.intent else {
                return Err(EffectError::permanent(
                    "the MongoDB channel only executes insert_doc",
                ));
            };
            let mut document = bson::doc! { "_id": effect.key.as_str() };
            document.extend(
                doc.iter()
                    .filter(|(k, _)| *k != "_id")
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
            let coll = self
                .client
                .database(&ns.db)
                .collection::<bson::Document>(ns.coll.as_deref().unwrap_or_default());
            match coll.insert_one(document).await {
                Ok(_) => Ok(()),
                Err(e) => match e.kind.as_ref() {
                    ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == DUPLICATE_KEY => {
                        // Which index? The driver does not say, so look: if our
                        // `_id` is there, an earlier attempt wrote it.
                        let ours = coll
                            .find_one(bson::doc! { "_id": effect.key.as_str() })
                            .await
                            .map_err(|e| {
                                EffectError::transient(format!("insert into {ns}: {e}"))
                            })?;
                        match ours {
                            Some(_) => Ok(()),
                            None => Err(EffectError::transient(format!(
                                "insert into {ns}: a unique index other than _id refused it: {}",
                                w.message
                            ))),
                        }
                    }
                    ErrorKind::Write(_) | ErrorKind::InvalidArgument { .. } => {
                        Err(EffectError::permanent(format!("insert into {ns}: {e}")))
                    }
                    _ => Err(EffectError::transient(format!("insert into {ns}: {e}"))),
                },
            }
        })
    }
}
