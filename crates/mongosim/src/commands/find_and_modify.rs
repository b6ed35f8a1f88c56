//! `findAndModify`.

use super::update::{Outcome, update_statement};
use super::{Ctx, collection_name, optional_doc, query, wait};
use crate::error::{CommandError, CommandResult};
use crate::oplog::Ns;
use crate::writer::Writer;
use bson::{Bson, Document, doc};

/// `{findAndModify: coll, query, sort, remove | update, new, upsert, fields}`.
pub async fn run(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
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
    let update = optional_doc(cmd, "update")?.cloned();
    if remove == update.is_some() {
        return Err(CommandError::failed_to_parse(
            "Either an update or remove=true must be specified",
        ));
    }
    let return_new = cmd.get_bool("new").unwrap_or(false);
    let upsert = cmd.get_bool("upsert").unwrap_or(false);
    let filter = query::filter(Some(&filter_doc))?;
    let sort = optional_doc(cmd, "sort")?.cloned();
    let fields = optional_doc(cmd, "fields")?.cloned();
    let txn = ctx.txn.clone();
    let (value, last_error) = wait::until_unblocked(ctx, wait::deadline(cmd), |state| {
        let mut w = Writer::new(state, txn.as_ref())?;
        // Pick the target with sort applied, then address it by _id.
        let mut candidates: Vec<(u64, Document)> = w.find(&ns, &filter, sort.is_none())?;
        if let Some(sort) = &sort {
            let mut docs: Vec<Document> = candidates.iter().map(|(_, d)| d.clone()).collect();
            query::sort(&mut docs, sort)?;
            let first = docs.into_iter().next();
            candidates.retain(|(_, d)| Some(d) == first.as_ref());
            candidates.truncate(1);
        }
        let target = candidates.into_iter().next();
        if remove {
            let n = i32::from(target.is_some());
            let value = match target {
                Some((slot, doc)) => {
                    w.delete(&ns, slot, doc.clone())?;
                    Bson::Document(doc)
                }
                None => Bson::Null,
            };
            return Ok((value, doc! { "n": n }));
        }
        let update = update.as_ref().expect("checked above");
        let by_id = target.as_ref().map_or(
            filter_doc.clone(),
            |(_, d)| doc! { "_id": d.get("_id").cloned().unwrap_or(Bson::Null) },
        );
        let mut outcome = Outcome::default();
        update_statement(&mut w, &ns, &by_id, update, false, upsert, &mut outcome)?;
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
        Ok((value.map_or(Bson::Null, Bson::Document), last_error))
    })
    .await?;
    let value = match (value, fields) {
        (Bson::Document(d), Some(fields)) => Bson::Document(query::project(&d, &fields)?),
        (other, _) => other,
    };
    Ok(doc! { "lastErrorObject": last_error, "value": value })
}
