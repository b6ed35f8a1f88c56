//! The `cursor` sub-document of find, aggregate and getMore replies.

use bson::{Document, Timestamp, doc};

/// A first batch's reply with the time a snapshot read used, as
/// `cursor.atClusterTime` (the server's `CursorResponseBuilder` adds it to
/// find and aggregate replies under `readConcern: {level: "snapshot"}`;
/// the driver's snapshot sessions read it from there).
pub fn first_reply(
    batch: Vec<Document>,
    id: i64,
    ns: &str,
    read_at: Option<Timestamp>,
) -> Document {
    let mut out = reply(true, batch, id, ns, None);
    if let (Some(at), Ok(cursor)) = (read_at, out.get_document_mut("cursor")) {
        cursor.insert("atClusterTime", at);
    }
    out
}

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
