//! `delete`.

use super::write_errors::WriteErrors;
use super::{Ctx, collection_name, number, query, wait};
use crate::error::{CommandError, CommandResult};
use crate::oplog::Ns;
use crate::writer::Writer;
use bson::{Bson, Document, doc};

/// `{delete: coll, deletes: [{q, limit}], ordered}`.
pub async fn run(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let ns = Ns {
        db: ctx.db.clone(),
        coll: collection_name(cmd, "delete")?.to_owned(),
    };
    let deletes = cmd.get_array("deletes").map_err(|_| {
        CommandError::failed_to_parse("BSON field 'delete.deletes' is missing but a required field")
    })?;
    let mut statements = Vec::with_capacity(deletes.len());
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
        statements.push((filter, limit == 1));
    }
    let txn = ctx.txn.clone();
    // Progress survives waiting: the statement under way (deleted documents no longer match).
    let mut next = 0;
    let mut n = 0;
    let mut write_errors = WriteErrors::new(cmd);
    wait::until_unblocked(ctx, wait::deadline(cmd), |state| {
        let mut w = Writer::new(state, txn.as_ref())?;
        while next < statements.len() {
            let (filter, one) = &statements[next];
            let outcome = (|| {
                for (slot, doc) in w.find(&ns, filter, *one)? {
                    w.delete(&ns, slot, doc)?;
                    n += 1;
                }
                Ok::<(), CommandError>(())
            })();
            if let Err(e) = outcome
                && !write_errors.record(&mut w, next, e)?
            {
                break;
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
