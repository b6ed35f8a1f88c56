//! `getMore`: the next batch of a find cursor, or of a change stream
//! (waiting up to `maxTimeMS` for new events, as awaitData cursors do).

use super::cursor_reply::reply;
use super::{Ctx, number};
use crate::error::{CommandError, CommandResult};
use crate::state::Cursor;
use bson::{Bson, Document};
use std::time::Duration;

/// How long a change stream getMore waits without `maxTimeMS` (the server's awaitData default).
pub const DEFAULT_AWAIT: Duration = Duration::from_secs(1);

/// `{getMore: id, collection, batchSize, maxTimeMS}`.
pub async fn run(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let Some(Bson::Int64(id)) = cmd.get("getMore") else {
        return Err(CommandError::type_mismatch(
            "BSON field 'getMore.getMore' is the wrong type, expected type 'long'",
        ));
    };
    let id = *id;
    let batch_size = cmd
        .get("batchSize")
        .and_then(number)
        .filter(|n| *n > 0)
        .map(|n| n as usize);
    let wait = cmd
        .get("maxTimeMS")
        .and_then(number)
        .map_or(DEFAULT_AWAIT, |ms| Duration::from_millis(ms.max(0) as u64));
    // Take the cursor out, so that waiting does not hold the lock; it stays
    // registered as in flight, and a killCursors meanwhile is honoured.
    let cursor = {
        let mut state = ctx.shared.lock();
        let cursor = state
            .cursors
            .remove(&id)
            .ok_or_else(|| CommandError::cursor_not_found(id))?;
        if matches!(cursor, Cursor::ChangeStream(_)) {
            state.in_flight.insert(id);
        }
        cursor
    };
    match cursor {
        Cursor::Find {
            ns,
            mut remaining,
            read_at,
        } => {
            // The server reopens its storage snapshot at the cursor's read
            // time on each getMore; once history has moved past it, the
            // getMore fails with SnapshotTooOld and the cursor is gone.
            if let Some(at) = read_at {
                ctx.shared.lock().history.check(at)?;
            }
            let n = batch_size.unwrap_or(remaining.len()).min(remaining.len());
            let batch: Vec<Document> = remaining.drain(..n).collect();
            let id = if remaining.is_empty() {
                0
            } else {
                ctx.shared.lock().cursors.insert(
                    id,
                    Cursor::Find {
                        ns: ns.clone(),
                        remaining,
                        read_at,
                    },
                );
                id
            };
            Ok(reply(false, batch, id, &ns, None))
        }
        Cursor::ChangeStream(stream) => {
            let result = change_stream_batch(ctx, id, stream, batch_size, wait).await;
            let mut state = ctx.shared.lock();
            state.in_flight.remove(&id);
            let killed = state.killed.remove(&id);
            match result {
                Ok((reply_doc, Some(stream))) if !killed => {
                    state.cursors.insert(id, Cursor::ChangeStream(stream));
                    Ok(reply_doc)
                }
                Ok((reply_doc, _)) => Ok(reply_doc),
                Err(e) => Err(e),
            }
        }
    }
}

/// Reads a change stream batch, waiting for events; returns the reply and the cursor if it stays open.
async fn change_stream_batch(
    ctx: &Ctx<'_>,
    id: i64,
    mut stream: Box<crate::change_stream::ChangeStreamCursor>,
    batch_size: Option<usize>,
    wait: Duration,
) -> Result<
    (
        Document,
        Option<Box<crate::change_stream::ChangeStreamCursor>>,
    ),
    CommandError,
> {
    {
        {
            let deadline = tokio::time::Instant::now() + wait;
            let mut tail = ctx.shared.oplog_tail.subscribe();
            let limit = batch_size.unwrap_or(usize::MAX);
            let batch = loop {
                let batch = {
                    let state = ctx.shared.lock();
                    stream
                        .read(&state.oplog, &state.catalog, limit)
                        .map_err(|e| e.with_context("Executor error during getMore"))?
                };
                if !batch.events.is_empty() || stream.invalidated {
                    break batch;
                }
                tail.borrow_and_update();
                let unread = stream.has_unread(&ctx.shared.lock().oplog);
                if !unread
                    && !matches!(
                        tokio::time::timeout_at(deadline, tail.changed()).await,
                        Ok(Ok(()))
                    )
                {
                    break batch;
                }
            };
            let ns = stream.reply_ns.clone();
            let (reply_id, keep) = if stream.invalidated {
                (0, None)
            } else {
                (id, Some(stream))
            };
            Ok((
                reply(
                    false,
                    batch.events,
                    reply_id,
                    &ns,
                    Some(batch.post_batch_resume_token),
                ),
                keep,
            ))
        }
    }
}
