//! `find`.

use super::cursor_reply::reply;
use super::{Ctx, collection_name, number, optional_doc, query};
use crate::error::CommandResult;
use crate::state::Cursor;
use bson::Document;
use std::collections::VecDeque;

/// The first batch when a client does not say: 101 documents, as the server does.
pub const DEFAULT_FIRST_BATCH: usize = 101;

/// Returns the first batch and registers a cursor for the rest.
pub fn first_batch(
    ctx: &Ctx<'_>,
    ns: String,
    docs: Vec<Document>,
    batch_size: Option<usize>,
    single_batch: bool,
) -> Document {
    let size = batch_size.unwrap_or(DEFAULT_FIRST_BATCH);
    let mut docs: VecDeque<Document> = docs.into();
    let first: Vec<Document> = docs.drain(..size.min(docs.len())).collect();
    let id = if docs.is_empty() || single_batch {
        0
    } else {
        ctx.shared.lock().add_cursor(Cursor::Find {
            ns: ns.clone(),
            remaining: docs,
        })
    };
    reply(true, first, id, &ns, None)
}

/// `{find: coll, filter, projection, sort, skip, limit, batchSize, singleBatch}`.
pub fn run(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let coll = collection_name(cmd, "find")?.to_owned();
    let filter = query::filter(optional_doc(cmd, "filter")?)?;
    let mut docs: Vec<Document> = {
        let state = ctx.shared.lock();
        query::matching(&state, &ctx.db, &coll, &filter)
    };
    if let Some(sort) = optional_doc(cmd, "sort")? {
        query::sort(&mut docs, sort)?;
    }
    let skip = cmd.get("skip").and_then(number).unwrap_or(0).max(0) as usize;
    docs.drain(..skip.min(docs.len()));
    let limit = cmd.get("limit").and_then(number).unwrap_or(0);
    if limit != 0 {
        docs.truncate(limit.unsigned_abs() as usize);
    }
    if let Some(projection) = optional_doc(cmd, "projection")? {
        docs = docs
            .iter()
            .map(|d| query::project(d, projection))
            .collect::<Result<_, _>>()?;
    }
    let batch_size = cmd
        .get("batchSize")
        .and_then(number)
        .map(|n| n.max(0) as usize);
    let single = cmd.get_bool("singleBatch").unwrap_or(false) || limit < 0;
    Ok(first_batch(
        ctx,
        format!("{}.{coll}", ctx.db),
        docs,
        batch_size,
        single,
    ))
}
