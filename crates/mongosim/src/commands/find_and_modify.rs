//! `findAndModify`.

use super::update::update_statement;
use super::{Ctx, collection_name, optional_doc, query};
use crate::error::{CommandError, CommandResult};
use crate::oplog::Ns;
use bson::{Bson, Document, doc};

/// `{findAndModify: coll, query, sort, remove | update, new, upsert, fields}`.
pub fn run(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let name = if cmd.contains_key("findAndModify") {
        "findAndModify"
    } else {
        "findandmodify"
    };
    let ns = Ns {
        db: ctx.db.clone(),
        coll: collection_name(cmd, name)?.to_owned(),
    };
    let filter_doc = optional_doc(cmd, "query")?.cloned().unwrap_or_default();
    let remove = cmd.get_bool("remove").unwrap_or(false);
    let update = optional_doc(cmd, "update")?;
    if remove == update.is_some() {
        return Err(CommandError::failed_to_parse(
            "Either an update or remove=true must be specified",
        ));
    }
    let return_new = cmd.get_bool("new").unwrap_or(false);
    let upsert = cmd.get_bool("upsert").unwrap_or(false);
    let mut state = ctx.lock();
    // Pick the target with sort applied, then address it by _id.
    let mut candidates: Vec<Document> = {
        let filter = query::filter(Some(&filter_doc))?;
        query::matching(&state, &ns.db, &ns.coll, &filter)
    };
    if let Some(sort) = optional_doc(cmd, "sort")? {
        query::sort(&mut candidates, sort)?;
    }
    let target_id = candidates.first().and_then(|d| d.get("_id")).cloned();
    let (value, last_error) = if remove {
        let removed = target_id.and_then(|id| {
            let slot = state
                .catalog
                .get(&ns.db, &ns.coll)?
                .find_one_slot(&herald_core::Filter::compile(&doc! { "_id": id }).ok()?)?;
            super::delete::delete_slot(&mut state, &ns, slot)
        });
        let n = i32::from(removed.is_some());
        (removed.map_or(Bson::Null, Bson::Document), doc! { "n": n })
    } else {
        let update = update.expect("checked above");
        let by_id = target_id.map_or(filter_doc.clone(), |id| doc! { "_id": id });
        let outcome = update_statement(&mut state, &ns, &by_id, update, false, upsert)?;
        let value = if return_new {
            outcome.after.clone()
        } else {
            outcome.before.clone()
        };
        let mut last_error = doc! { "n": 1, "updatedExisting": outcome.matched > 0 };
        if let Some(id) = &outcome.upserted {
            last_error.insert("upserted", id.clone());
        } else if outcome.matched == 0 {
            last_error.insert("n", 0);
        }
        (value.map_or(Bson::Null, Bson::Document), last_error)
    };
    ctx.shared.notify_writes(&state);
    let value = match (value, optional_doc(cmd, "fields")?) {
        (Bson::Document(d), Some(fields)) => Bson::Document(query::project(&d, fields)?),
        (other, _) => other,
    };
    Ok(doc! { "lastErrorObject": last_error, "value": value })
}
