//! `insert`.

use super::write_errors::WriteErrors;
use super::{Ctx, collection_name, wait};
use crate::data::Collection;
use crate::error::{CommandError, CommandResult};
use crate::oplog::{Ns, Op};
use crate::state::State;
use crate::writer::Writer;
use bson::{Bson, Document, doc, oid::ObjectId};

/// Creates a collection on first write, logging `create` as the server does.
pub fn ensure_collection(state: &mut State, ns: &Ns) {
    if !state.catalog.exists(&ns.db, &ns.coll) {
        state
            .catalog
            .dbs
            .entry(ns.db.clone())
            .or_default()
            .insert(ns.coll.clone(), Collection::default());
        state.log(Op::Create { ns: ns.clone() });
    }
}

/// Gives a document an `_id` (first) if it has none.
pub fn with_id(doc: Document) -> Document {
    if doc.contains_key("_id") {
        return doc;
    }
    let mut out = doc! { "_id": ObjectId::new() };
    out.extend(doc);
    out
}

/// Inserts one document (given an `_id` if it has none); returns the `_id`.
pub fn insert_one(w: &mut Writer<'_>, ns: &Ns, doc: Document) -> Result<Bson, CommandError> {
    let doc = with_id(doc);
    let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
    w.insert(ns, doc)?;
    Ok(id)
}

/// `{insert: coll, documents: [...], ordered}`.
pub async fn run(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let ns = Ns {
        db: ctx.db.clone(),
        coll: collection_name(cmd, "insert")?.to_owned(),
    };
    let documents = cmd.get_array("documents").map_err(|_| {
        CommandError::failed_to_parse(
            "BSON field 'insert.documents' is missing but a required field",
        )
    })?;
    let docs = documents
        .iter()
        .map(|d| match d {
            Bson::Document(d) => Ok(d.clone()),
            _ => Err(CommandError::type_mismatch("documents must be objects")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let txn = ctx.txn.clone();
    // Progress survives waiting for a transaction: the next document to insert.
    let mut next = 0;
    let mut n = 0;
    let mut write_errors = WriteErrors::new(cmd);
    wait::until_unblocked(ctx, wait::deadline(cmd), |state| {
        let mut w = Writer::new(state, txn.as_ref())?;
        while next < docs.len() {
            match insert_one(&mut w, &ns, docs[next].clone()) {
                Ok(_) => n += 1,
                Err(e) => {
                    if !write_errors.record(&mut w, next, e)? {
                        break;
                    }
                }
            }
            next += 1;
        }
        Ok(())
    })
    .await?;
    let mut reply = doc! { "n": n };
    write_errors.reply(&mut reply);
    Ok(reply)
}
