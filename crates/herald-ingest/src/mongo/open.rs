//! Opening one stream's change stream with the driver.

use super::options::StartAt;
use super::stream::StreamTask;
use bson::{Document, RawDocumentBuf};
use herald_core::{FullDocument, FullDocumentBeforeChange};
use mongodb::change_stream::ChangeStream;
use mongodb::options::{FullDocumentBeforeChangeType, FullDocumentType};

impl StreamTask {
    /// Opens the change stream: its pipeline and options, from the stored
    /// token (`startAfter`) or else at `start_at`.
    pub(super) async fn open(
        &self,
        start_at: StartAt,
    ) -> mongodb::error::Result<ChangeStream<RawDocumentBuf>> {
        let plan = &self.plan;
        let full_document = match plan.full_document {
            FullDocument::Default => None,
            FullDocument::UpdateLookup => Some(FullDocumentType::UpdateLookup),
            FullDocument::WhenAvailable => Some(FullDocumentType::WhenAvailable),
            FullDocument::Required => Some(FullDocumentType::Required),
        };
        let before = match plan.before_change {
            FullDocumentBeforeChange::Off => None,
            FullDocumentBeforeChange::WhenAvailable => {
                Some(FullDocumentBeforeChangeType::WhenAvailable)
            }
            FullDocumentBeforeChange::Required => Some(FullDocumentBeforeChangeType::Required),
        };
        let pipeline = plan.stages(self.options.split_large_events);
        macro_rules! configure {
            ($watch:expr) => {{
                let mut watch = $watch
                    .pipeline(pipeline.clone())
                    .max_await_time(self.options.max_await)
                    .batch_size(self.options.server_batch.max(1));
                if let Some(full) = full_document {
                    watch = watch.full_document(full);
                }
                if let Some(before) = before {
                    watch = watch.full_document_before_change(before);
                }
                if plan.show_expanded_events {
                    watch = watch.show_expanded_events(true);
                }
                // A stored token resumes with startAfter, which also works past an invalidate.
                match (&self.token, start_at) {
                    (Some(token), _) => watch = watch.start_after(token.clone()),
                    (None, StartAt::OperationTime(ts)) => watch = watch.start_at_operation_time(ts),
                    // A snapshot is read before the stream opens (see `MongoSource`);
                    // a stream with none to read starts now.
                    (None, StartAt::Now | StartAt::Snapshot) => {}
                }
                watch.await.map(|s| s.with_type::<RawDocumentBuf>())
            }};
        }
        match &plan.target {
            herald_core::WatchTarget::Collection(ns) => {
                let coll = self
                    .client
                    .database(&ns.db)
                    .collection::<Document>(ns.coll.as_deref().unwrap_or_default());
                configure!(coll.watch())
            }
            herald_core::WatchTarget::Database(db) => {
                let db = self.client.database(db);
                configure!(db.watch())
            }
            herald_core::WatchTarget::Cluster => configure!(self.client.watch()),
        }
    }
}
