//! `aggregate`: change streams, and simple read pipelines
//! (`$match $sort $skip $limit $project $count`).

use super::find::first_batch;
use super::{Ctx, number, query};
use crate::change_stream::{ChangeStreamCursor, spec};
use crate::error::{CommandError, CommandResult};
use crate::state::Cursor;
use bson::{Bson, Document, doc};

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
        return open_change_stream(ctx, coll.as_deref(), pipeline, batch_size);
    }
    let Some(coll) = coll else {
        return Err(CommandError::invalid_namespace(
            "mongosim supports aggregate: 1 only for change streams",
        ));
    };
    let mut docs: Vec<Document> = ctx
        .shared
        .lock()
        .catalog
        .get(&ctx.db, &coll)
        .map(|c| c.iter().cloned().collect())
        .unwrap_or_default();
    for stage in pipeline {
        let Bson::Document(stage) = stage else {
            return Err(CommandError::type_mismatch(
                "Each element of the 'pipeline' array must be an object",
            ));
        };
        let (name, spec) = stage.iter().next().ok_or_else(|| {
            CommandError::location(
                40323,
                "A pipeline stage specification object must contain exactly one field.",
            )
        })?;
        match (name.as_str(), spec) {
            ("$match", Bson::Document(q)) => {
                let filter = query::filter(Some(q))?;
                docs.retain(|d| crate::data::matches(&filter, d));
            }
            ("$sort", Bson::Document(s)) => query::sort(&mut docs, s)?,
            ("$skip", n) => {
                let n = number(n).unwrap_or(0).max(0) as usize;
                docs.drain(..n.min(docs.len()));
            }
            ("$limit", n) => docs.truncate(number(n).unwrap_or(0).max(0) as usize),
            ("$project", Bson::Document(p)) => {
                docs = docs
                    .iter()
                    .map(|d| query::project(d, p))
                    .collect::<Result<_, _>>()?
            }
            ("$group", Bson::Document(g)) => docs = group(&docs, g)?,
            ("$count", Bson::String(field)) => {
                docs = if docs.is_empty() {
                    vec![]
                } else {
                    vec![doc! { field: docs.len() as i32 }]
                }
            }
            (other, _) => {
                return Err(CommandError::location(
                    40324,
                    format!(
                        "Unrecognized pipeline stage name: '{other}' (mongosim supports $match, $sort, $skip, $limit, $project, $group, $count)"
                    ),
                ));
            }
        }
    }
    Ok(first_batch(
        ctx,
        format!("{}.{coll}", ctx.db),
        docs,
        batch_size,
        false,
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

/// `$group` with a constant or field-path `_id` and `$sum` accumulators (what drivers'
/// `countDocuments` sends: `{$group: {_id: 1, n: {$sum: 1}}}`).
fn group(docs: &[Document], spec: &Document) -> Result<Vec<Document>, CommandError> {
    let key_of = |d: &Document| -> Bson {
        match spec.get("_id") {
            Some(Bson::String(path)) if path.starts_with('$') => crate::paths::get(d, &path[1..])
                .cloned()
                .unwrap_or(Bson::Null),
            Some(other) => other.clone(),
            None => Bson::Null,
        }
    };
    let mut groups: Vec<(Bson, Document)> = Vec::new();
    for d in docs {
        let key = key_of(d);
        let index = match groups.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                groups.push((key.clone(), doc! { "_id": key }));
                groups.len() - 1
            }
        };
        for (field, acc) in spec.iter().filter(|(f, _)| *f != "_id") {
            let Some(Bson::Document(acc)) = Some(acc) else {
                continue;
            };
            let Some(sum) = acc.get("$sum") else {
                return Err(CommandError::location(
                    15952,
                    format!("mongosim supports only $sum in $group, not {acc}"),
                ));
            };
            let add = match sum {
                Bson::String(path) if path.starts_with('$') => crate::paths::get(d, &path[1..])
                    .and_then(number)
                    .unwrap_or(0),
                other => number(other).unwrap_or(0),
            };
            let current = groups[index].1.get(field).and_then(number).unwrap_or(0);
            let total = current + add;
            groups[index].1.insert(
                field.clone(),
                i32::try_from(total).map_or(Bson::Int64(total), Bson::Int32),
            );
        }
    }
    Ok(groups.into_iter().map(|(_, d)| d).collect())
}
