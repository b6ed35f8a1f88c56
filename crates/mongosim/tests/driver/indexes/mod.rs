//! Secondary indexes through the driver.
//!
//! - [`writes`]: unique constraints on every write path, with the server's E11000 errors.
//! - [`commands`]: createIndexes, listIndexes, dropIndexes, and their change events.

mod commands;
mod writes;

use crate::util::Target;
use futures_util::TryStreamExt;
use mongodb::IndexModel;
use mongodb::bson::{Document, doc};
use mongodb::error::{Error, ErrorKind, WriteFailure};
use mongodb::options::IndexOptions;

fn unique(keys: Document) -> IndexModel {
    IndexModel::builder()
        .keys(keys)
        .options(IndexOptions::builder().unique(true).build())
        .build()
}

fn plain(keys: Document) -> IndexModel {
    IndexModel::builder().keys(keys).build()
}

/// The code and message of a failed write or command.
fn failure(err: &Error) -> (i32, String) {
    match &*err.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) => (e.code, e.message.clone()),
        ErrorKind::Command(e) => (e.code, e.message.clone()),
        other => panic!("{other:?}"),
    }
}

/// The server's duplicate key message.
fn e11000(t: &Target, coll: &str, index: &str, key: &str) -> String {
    format!(
        "E11000 duplicate key error collection: {}.{coll} index: {index} dup key: {key}",
        t.db
    )
}

/// The write error of a one-document raw insert that fails, as the server sends it.
async fn insert_error(t: &Target, coll: &str, doc: Document) -> Document {
    let reply = t
        .db()
        .run_command(doc! {"insert": coll, "documents": [doc]})
        .await
        .unwrap();
    assert_eq!(reply.get_i32("n").unwrap(), 0, "{reply}");
    let errors = reply.get_array("writeErrors").unwrap();
    assert_eq!(errors.len(), 1, "{reply}");
    errors[0].as_document().unwrap().clone()
}

async fn all(t: &Target, coll: &str) -> Vec<Document> {
    t.coll(coll)
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

async fn listed(t: &Target, coll: &str) -> Vec<Document> {
    let reply = t
        .db()
        .run_command(doc! {"listIndexes": coll})
        .await
        .unwrap();
    let batch = reply
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap();
    batch
        .iter()
        .map(|d| d.as_document().unwrap().clone())
        .collect()
}

/// A command's reply without the fields every reply carries.
async fn command(t: &Target, cmd: Document) -> Result<Document, Error> {
    let mut reply = t.db().run_command(cmd).await?;
    reply.remove("$clusterTime");
    reply.remove("operationTime");
    Ok(reply)
}

fn id_index() -> Document {
    doc! {"v": 2, "key": {"_id": 1}, "name": "_id_"}
}
