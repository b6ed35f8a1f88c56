//! `find`.

use super::cursor_reply::first_reply;
use super::read_concern::ReadConcern;
use super::{Ctx, collection_name, number, optional_doc, query};
use crate::error::CommandResult;
use crate::oplog::Ns;
use crate::state::Cursor;
use bson::{Document, Timestamp};
use std::collections::VecDeque;

/// The first batch when a client does not say: 101 documents, as the server does.
pub const DEFAULT_FIRST_BATCH: usize = 101;

/// Returns the first batch and registers a cursor for the rest; `read_at`
/// is the time of a snapshot read.
pub fn first_batch(
    ctx: &Ctx<'_>,
    ns: String,
    docs: Vec<Document>,
    batch_size: Option<usize>,
    single_batch: bool,
    read_at: Option<Timestamp>,
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
            read_at,
        })
    };
    first_reply(first, id, &ns, read_at)
}

/// `{find: coll, filter, projection, sort, skip, limit, batchSize, singleBatch}`.
pub fn run(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let coll = collection_name(cmd, "find")?.to_owned();
    let filter = query::filter(optional_doc(cmd, "filter")?)?;
    let read_concern = ReadConcern::parse(cmd)?;
    let ns = Ns {
        db: ctx.db.clone(),
        coll: coll.clone(),
    };
    let (mut docs, read_at) = {
        let state = ctx.lock();
        let read_at = read_concern.read_at(&state, ctx.shared.set_name.is_some())?;
        let docs = state.documents(&ns, read_at, |d| crate::data::matches(&filter, d))?;
        (docs, read_at)
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
    // A find that picks its own snapshot time and finds nothing does not
    // name the time (SERVER-83472, open: aggregate does, find does not), so
    // a backfill should take T from an operationTime and pass atClusterTime.
    let read_at = read_at.filter(|_| read_concern.at_cluster_time.is_some() || !docs.is_empty());
    Ok(first_batch(
        ctx,
        format!("{}.{coll}", ctx.db),
        docs,
        batch_size,
        single,
        read_at,
    ))
}
