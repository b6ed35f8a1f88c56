//! `count`.

use super::read_concern::{Level, ReadConcern};
use super::{Ctx, collection_name, number, optional_doc, query};
use crate::error::CommandResult;
use bson::{Document, doc};

/// `{count: coll, query, skip, limit}`.
pub fn run(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let coll = collection_name(cmd, "count")?;
    // count refuses snapshot reads (its supportsReadConcern), so a snapshot
    // session's estimatedDocumentCount fails as on the server.
    let read_concern = ReadConcern::parse(cmd)?;
    if read_concern.level == Some(Level::Snapshot) {
        return Err(read_concern.unsupported("count", "read concern snapshot not supported"));
    }
    let filter = query::filter(optional_doc(cmd, "query")?)?;
    let state = ctx.shared.lock();
    let mut n = 0i64;
    if let Some(c) = state.catalog.get(&ctx.db, coll) {
        for d in c.iter() {
            n += i64::from(filter.matches(d)?);
        }
    }
    n = (n - cmd.get("skip").and_then(number).unwrap_or(0)).max(0);
    let limit = cmd.get("limit").and_then(number).unwrap_or(0).abs();
    if limit > 0 {
        n = n.min(limit);
    }
    Ok(doc! { "n": n as i32 })
}
