//! `aggregate`: change streams, and read pipelines on a collection
//! (see [`super::pipeline`]), at a point in time with `readConcern: snapshot`.

use super::find::first_batch;
use super::read_concern::ReadConcern;
use super::{Ctx, number, pipeline};
use crate::change_stream::{ChangeStreamCursor, spec};
use crate::error::{CommandError, CommandResult};
use crate::oplog::Ns;
use crate::state::Cursor;
use bson::{Bson, Document};

/// `{aggregate: coll | 1, pipeline, cursor: {batchSize}}`.
pub fn run(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let coll = match cmd.get("aggregate") {
        Some(Bson::String(c)) => Some(c.clone()),
        Some(v) if number(v) == Some(1) => None,
        _ => {
            return Err(CommandError::failed_to_parse(
                "aggregate needs a collection name or 1",
            ));
        }
    };
    let pipeline = cmd.get_array("pipeline").map_err(|_| {
        CommandError::failed_to_parse(
            "BSON field 'aggregate.pipeline' is missing but a required field",
        )
    })?;
    let cursor_opts = cmd
        .get_document("cursor")
        .map_err(|_| CommandError::failed_to_parse("The 'cursor' option is required"))?;
    let batch_size = cursor_opts
        .get("batchSize")
        .and_then(number)
        .map(|n| n.max(0) as usize);
    spec::check_not_later(pipeline)?;
    if spec::is_change_stream(pipeline) {
        ReadConcern::parse(cmd)?.check_change_stream()?;
        return open_change_stream(ctx, coll.as_deref(), pipeline, batch_size);
    }
    let Some(coll) = coll else {
        return Err(CommandError::invalid_namespace(
            "mongosim supports aggregate: 1 only for change streams",
        ));
    };
    let steps = pipeline::parse(pipeline)?;
    let read_concern = ReadConcern::parse(cmd)?;
    let ns = Ns {
        db: ctx.db.clone(),
        coll: coll.clone(),
    };
    let (docs, read_at) = {
        let state = ctx.lock();
        let read_at = read_concern.read_at(&state, ctx.shared.set_name.is_some())?;
        (state.documents(&ns, read_at, |_| true)?, read_at)
    };
    let docs = pipeline::run(&steps, docs)?;
    Ok(first_batch(
        ctx,
        format!("{}.{coll}", ctx.db),
        docs,
        batch_size,
        false,
        read_at,
    ))
}

/// The first batch's size when the command does not set `cursor.batchSize`.
const DEFAULT_FIRST_BATCH: usize = 101;

fn open_change_stream(
    ctx: &mut Ctx<'_>,
    coll: Option<&str>,
    pipeline: &[Bson],
    batch_size: Option<usize>,
) -> CommandResult {
    if ctx.shared.set_name.is_none() {
        return Err(CommandError::location(
            40573,
            "The $changeStream stage is only supported on replica sets",
        ));
    }
    let spec = spec::parse(&ctx.db, coll, pipeline)?;
    let reply_ns = match coll {
        Some(coll) => format!("{}.{coll}", ctx.db),
        None => format!("{}.$cmd.aggregate", ctx.db),
    };
    let mut state = ctx.shared.lock();
    let now = state.clock.now();
    let mut stream = ChangeStreamCursor::open(spec, reply_ns.clone(), &state.oplog, now)?;
    // As on the server, the first batch holds at most 101 events unless asked otherwise.
    let batch = stream
        .read(
            &state.oplog,
            &state.catalog,
            batch_size.unwrap_or(DEFAULT_FIRST_BATCH),
        )
        .map_err(|e| e.with_context("PlanExecutor error during aggregation"))?;
    let id = if stream.invalidated {
        0
    } else {
        state.add_cursor(Cursor::ChangeStream(Box::new(stream)))
    };
    Ok(super::cursor_reply::reply(
        true,
        batch.events,
        id,
        &reply_ns,
        Some(batch.post_batch_resume_token),
    ))
}
