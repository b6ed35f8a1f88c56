//! `delete`.

use super::{Ctx, collection_name, number, query};
use crate::error::{CommandError, CommandResult};
use crate::oplog::{Ns, Op};
use crate::state::State;
use bson::{Bson, Document, doc};

/// Deletes the document in a slot and logs it; returns the document.
pub fn delete_slot(state: &mut State, ns: &Ns, slot: u64) -> Option<Document> {
    let coll = state.catalog.get_mut(&ns.db, &ns.coll)?;
    let images = coll.pre_post_images;
    let doc = coll.remove(slot)?;
    let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
    let (ts, _) = state.log(Op::Delete {
        ns: ns.clone(),
        key: doc! { "_id": id },
        pre: images.then(|| doc.clone()),
    });
    state.remember(ts, ns, slot, Some(doc.clone()));
    Some(doc)
}

/// `{delete: coll, deletes: [{q, limit}]}`.
pub fn run(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let ns = Ns {
        db: ctx.db.clone(),
        coll: collection_name(cmd, "delete")?.to_owned(),
    };
    let deletes = cmd.get_array("deletes").map_err(|_| {
        CommandError::failed_to_parse("BSON field 'delete.deletes' is missing but a required field")
    })?;
    let mut state = ctx.lock();
    let mut n = 0;
    for statement in deletes {
        let Bson::Document(statement) = statement else {
            return Err(CommandError::type_mismatch("deletes must be objects"));
        };
        let filter = query::filter(Some(statement.get_document("q").map_err(|_| {
            CommandError::failed_to_parse(
                "BSON field 'delete.deletes.q' is missing but a required field",
            )
        })?))?;
        let limit = statement.get("limit").and_then(number).unwrap_or(0);
        let slots = match state.catalog.get(&ns.db, &ns.coll) {
            None => Vec::new(),
            Some(coll) if limit == 1 => coll.find_one_slot(&filter).into_iter().collect(),
            Some(coll) => coll.find_slots(&filter),
        };
        for slot in slots {
            if delete_slot(&mut state, &ns, slot).is_some() {
                n += 1;
            }
        }
    }
    ctx.shared.notify_writes(&state);
    Ok(doc! { "n": n })
}
