//! The `cursor` sub-document of find, aggregate and getMore replies.

use bson::{Document, doc};

/// `{cursor: {firstBatch|nextBatch, [postBatchResumeToken], id, ns}}`; the id is always int64.
pub fn reply(
    first: bool,
    batch: Vec<Document>,
    id: i64,
    ns: &str,
    post_batch_resume_token: Option<Document>,
) -> Document {
    let mut cursor = Document::new();
    cursor.insert(if first { "firstBatch" } else { "nextBatch" }, batch);
    if let Some(token) = post_batch_resume_token {
        cursor.insert("postBatchResumeToken", token);
    }
    cursor.insert("id", id);
    cursor.insert("ns", ns);
    doc! { "cursor": cursor }
}
