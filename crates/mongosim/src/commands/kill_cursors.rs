//! `killCursors`.

use super::{Ctx, collection_name};
use crate::error::{CommandError, CommandResult};
use bson::{Bson, Document, doc};

/// `{killCursors: coll, cursors: [ids]}`.
pub fn run(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    collection_name(cmd, "killCursors")?;
    let ids = cmd.get_array("cursors").map_err(|_| {
        CommandError::failed_to_parse(
            "BSON field 'killCursors.cursors' is missing but a required field",
        )
    })?;
    let mut state = ctx.shared.lock();
    let (mut killed, mut not_found) = (Vec::new(), Vec::new());
    for id in ids {
        let Bson::Int64(id) = id else {
            return Err(CommandError::type_mismatch("cursor ids must be int64"));
        };
        if state.cursors.remove(id).is_some() {
            killed.push(*id)
        } else {
            not_found.push(*id)
        }
    }
    Ok(
        doc! { "cursorsKilled": killed, "cursorsNotFound": not_found, "cursorsAlive": Vec::<i64>::new(), "cursorsUnknown": Vec::<i64>::new() },
    )
}
