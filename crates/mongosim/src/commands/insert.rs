//! `insert`.

use super::{Ctx, collection_name};
use crate::data::Collection;
use crate::error::{CommandError, CommandResult};
use crate::oplog::{Ns, Op};
use crate::state::State;
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

/// Inserts one document and logs it.
pub fn insert_one(state: &mut State, ns: &Ns, doc: Document) -> Result<Bson, CommandError> {
    let doc = with_id(doc);
    let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
    ensure_collection(state, ns);
    let coll = state
        .catalog
        .get_mut(&ns.db, &ns.coll)
        .expect("just ensured");
    let slot = coll.insert(&ns.to_string(), doc.clone())?;
    let (ts, _) = state.log(Op::Insert {
        ns: ns.clone(),
        key: doc! { "_id": id.clone() },
        doc,
    });
    state.remember(ts, ns, slot, None);
    Ok(id)
}

/// `{insert: coll, documents: [...], ordered}`.
pub fn run(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let ns = Ns {
        db: ctx.db.clone(),
        coll: collection_name(cmd, "insert")?.to_owned(),
    };
    let documents = cmd.get_array("documents").map_err(|_| {
        CommandError::failed_to_parse(
            "BSON field 'insert.documents' is missing but a required field",
        )
    })?;
    let ordered = cmd.get_bool("ordered").unwrap_or(true);
    let mut state = ctx.lock();
    let mut n = 0;
    let mut write_errors = Vec::new();
    for (index, doc) in documents.iter().enumerate() {
        let Bson::Document(doc) = doc else {
            return Err(CommandError::type_mismatch("documents must be objects"));
        };
        match insert_one(&mut state, &ns, doc.clone()) {
            Ok(_) => n += 1,
            Err(e) => {
                write_errors.push(super::write_error(index, &e));
                if ordered {
                    break;
                }
            }
        }
    }
    ctx.shared.notify_writes(&state);
    let mut reply = doc! { "n": n };
    if !write_errors.is_empty() {
        reply.insert("writeErrors", write_errors);
    }
    Ok(reply)
}
