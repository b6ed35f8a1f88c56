//! The change event for an oplog entry, shaped field by field as the server shapes it.

use super::spec::{BeforeChange, FullDocument};
use super::token::TokenData;
use crate::data::Catalog;
use crate::error::CommandError;
use crate::oplog::{Entry, Ns, Op};
use bson::{Bson, Document, doc};

fn ns_doc(ns: &Ns) -> Document {
    doc! { "db": &ns.db, "coll": &ns.coll }
}

fn missing_image(what: &str) -> CommandError {
    CommandError::new(
        47,
        "NoMatchingDocument",
        format!(
            "Change stream was configured to require a {what} for all update, delete and replace events, but the {what} was not found"
        ),
    )
}

/// Options that shape events.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// `fullDocument`.
    pub full_document: FullDocument,
    /// `fullDocumentBeforeChange`.
    pub before_change: BeforeChange,
    /// `showExpandedEvents`.
    pub show_expanded: bool,
}

fn header(entry: &Entry, op_type: &str, invalidate: bool) -> Document {
    let token = TokenData {
        invalidate,
        ..TokenData::at(entry.ts, entry.seq)
    };
    let mut event = doc! {
        "_id": token.to_document(),
        "operationType": op_type,
        "clusterTime": entry.ts,
        "wallTime": entry.wall,
    };
    if let Some((lsid, txn_number)) = &entry.txn {
        event.insert("lsid", lsid.clone());
        event.insert("txnNumber", *txn_number);
    }
    event
}

fn pre_image(pre: &Option<Document>, shape: Shape) -> Result<Option<Bson>, CommandError> {
    Ok(match (shape.before_change, pre) {
        (BeforeChange::Off, _) => None,
        (_, Some(doc)) => Some(Bson::Document(doc.clone())),
        (BeforeChange::WhenAvailable, None) => Some(Bson::Null),
        (BeforeChange::Required, None) => return Err(missing_image("pre-image")),
    })
}

/// The event for `entry`, reading the current document for `updateLookup` from `catalog`.
pub fn build(entry: &Entry, shape: Shape, catalog: &Catalog) -> Result<Document, CommandError> {
    Ok(match &entry.op {
        Op::Insert { ns, key, doc } => {
            let mut e = header(entry, "insert", false);
            e.insert("fullDocument", doc.clone());
            e.insert("ns", ns_doc(ns));
            e.insert("documentKey", key.clone());
            e
        }
        Op::Update {
            ns,
            key,
            description,
            pre,
            post,
        } => {
            let mut e = header(entry, "update", false);
            let full = match shape.full_document {
                FullDocument::Default => None,
                FullDocument::UpdateLookup => Some(
                    catalog
                        .get(&ns.db, &ns.coll)
                        .and_then(|c| c.get_by_id(key.get("_id")?))
                        .map_or(Bson::Null, |d| Bson::Document(d.clone())),
                ),
                FullDocument::WhenAvailable => {
                    Some(post.clone().map_or(Bson::Null, Bson::Document))
                }
                FullDocument::Required => Some(Bson::Document(
                    post.clone().ok_or_else(|| missing_image("post-image"))?,
                )),
            };
            if let Some(full) = full {
                e.insert("fullDocument", full);
            }
            e.insert("ns", ns_doc(ns));
            e.insert("documentKey", key.clone());
            e.insert("updateDescription", description.clone());
            if let Some(before) = pre_image(pre, shape)? {
                e.insert("fullDocumentBeforeChange", before);
            }
            e
        }
        Op::Replace { ns, key, doc, pre } => {
            let mut e = header(entry, "replace", false);
            e.insert("fullDocument", doc.clone());
            e.insert("ns", ns_doc(ns));
            e.insert("documentKey", key.clone());
            if let Some(before) = pre_image(pre, shape)? {
                e.insert("fullDocumentBeforeChange", before);
            }
            e
        }
        Op::Delete { ns, key, pre } => {
            let mut e = header(entry, "delete", false);
            e.insert("ns", ns_doc(ns));
            e.insert("documentKey", key.clone());
            if let Some(before) = pre_image(pre, shape)? {
                e.insert("fullDocumentBeforeChange", before);
            }
            e
        }
        Op::Create { ns } => {
            let mut e = header(entry, "create", false);
            e.insert("ns", ns_doc(ns));
            e.insert(
                "operationDescription",
                doc! { "idIndex": { "v": 2, "key": { "_id": 1 }, "name": "_id_" } },
            );
            e
        }
        Op::CreateIndexes { ns, indexes } | Op::DropIndexes { ns, indexes } => {
            let op_type = if matches!(entry.op, Op::CreateIndexes { .. }) {
                "createIndexes"
            } else {
                "dropIndexes"
            };
            let mut e = header(entry, op_type, false);
            e.insert("ns", ns_doc(ns));
            e.insert("operationDescription", doc! { "indexes": indexes.clone() });
            e
        }
        Op::Drop { ns } => {
            let mut e = header(entry, "drop", false);
            e.insert("ns", ns_doc(ns));
            e
        }
        Op::Rename { from, to } => {
            let mut e = header(entry, "rename", false);
            e.insert("ns", ns_doc(from));
            e.insert("to", ns_doc(to));
            if shape.show_expanded {
                e.insert("operationDescription", doc! { "to": ns_doc(to) });
            }
            e
        }
        Op::DropDatabase { db } => {
            let mut e = header(entry, "dropDatabase", false);
            e.insert("ns", doc! { "db": db });
            e
        }
    })
}

/// The invalidate event that follows `entry`.
pub fn invalidate(entry: &Entry) -> Document {
    header(entry, "invalidate", true)
}
