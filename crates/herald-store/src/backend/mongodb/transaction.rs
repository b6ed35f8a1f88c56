//! A batch as one transaction: snapshot reads, majority and journaled
//! writes, the fences checked first, then each collection's records
//! replaced; retried by the driver on transient errors (a write conflict).

use super::records::{binary, split};
use super::{MongoBackend, fence, mongo_error, wait};
use crate::StoreError;
use crate::backend::Batch;
use bson::{Bson, Document, doc};
use futures_util::FutureExt;
use mongodb::options::{Acknowledgment, ReadConcern, TransactionOptions, WriteConcern};
use std::collections::BTreeMap;

impl MongoBackend {
    /// Applies `batch` in one transaction (see [`Backend::apply`](crate::backend::Backend::apply)).
    pub(super) fn apply_batch(&self, batch: Batch) -> Result<(), StoreError> {
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
        let fenced = fence::filters(&fences);
        let client = self.inner.database.client().clone();
        let database = self.inner.database.clone();
        let applied = wait(self.runtime(), async move {
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
                            fence::check(database, &mut *session, fenced).await?;
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
            Err(e) if e.get_custom::<fence::NotHeld>().is_some() => Err(fence::refused(&fences)),
            Err(e) => Err(mongo_error(&self.inner.location, &e)),
        }
    }
}
