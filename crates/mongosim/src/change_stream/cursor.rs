//! A change stream cursor: where it stands in the oplog and how it reads.

use super::event::{self, Shape};
use super::scope::Scope;
use super::spec::{Spec, Start};
use super::stages::{self, Stage};
use super::token::TokenData;
use crate::data::Catalog;
use crate::error::CommandError;
use crate::oplog::Oplog;
use bson::{Document, Timestamp};

/// An open change stream.
#[derive(Debug, Clone)]
pub struct ChangeStreamCursor {
    /// What it watches.
    pub scope: Scope,
    /// `ns` in cursor replies: `db.coll`, or `db.$cmd.aggregate` for `aggregate: 1`.
    pub reply_ns: String,
    shape: Shape,
    stages: Vec<Stage>,
    /// The next oplog position to read.
    next_seq: u64,
    /// The position (and its time) of the last entry read: the high-water mark.
    read_up_to: TokenData,
    /// Set once an invalidate was returned: the cursor then closes.
    pub invalidated: bool,
}

/// A batch of events stays under this many bytes (the server's 16 MiB).
pub const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;

/// One batch read from a stream.
#[derive(Debug)]
pub struct Batch {
    /// Events, in order.
    pub events: Vec<Document>,
    /// Resuming after this token continues after the batch.
    pub post_batch_resume_token: Document,
}

impl ChangeStreamCursor {
    /// Opens a stream, checking its start point against the oplog window.
    pub fn open(
        spec: Spec,
        reply_ns: String,
        oplog: &Oplog,
        cluster_time: Timestamp,
    ) -> Result<Self, CommandError> {
        let here = |seq: u64| {
            let ts = oplog.get(seq).map_or(cluster_time, |e| e.ts);
            TokenData {
                ts,
                seq,
                invalidate: false,
            }
        };
        let (next_seq, read_up_to) = match spec.start {
            Start::Now => (oplog.last_seq() + 1, here(oplog.last_seq())),
            Start::ResumeAfter(token) | Start::StartAfter(token) => {
                // The resume point itself must still be in the oplog (or be the very start of it).
                let in_window = oplog.get(token.seq).is_some()
                    || (token.seq == 0 && !oplog.has_rolled_over())
                    || token.seq > oplog.last_seq();
                if !in_window {
                    return Err(CommandError::history_lost());
                }
                (
                    token.seq + 1,
                    TokenData {
                        invalidate: false,
                        ..token
                    },
                )
            }
            Start::AtOperationTime(ts) => {
                if oplog.has_rolled_over()
                    && oplog
                        .oldest()
                        .is_some_and(|e| (ts.time, ts.increment) < (e.ts.time, e.ts.increment))
                {
                    return Err(CommandError::history_lost());
                }
                let seq = oplog
                    .first_at_or_after(ts)
                    .map_or(oplog.last_seq() + 1, |e| e.seq);
                (
                    seq,
                    TokenData {
                        ts,
                        seq: seq - 1,
                        invalidate: false,
                    },
                )
            }
        };
        Ok(Self {
            scope: spec.scope,
            reply_ns,
            shape: Shape {
                full_document: spec.full_document,
                before_change: spec.before_change,
                show_expanded: spec.show_expanded,
            },
            stages: spec.stages,
            next_seq,
            read_up_to,
            invalidated: false,
        })
    }

    /// True if entries this stream has not read yet exist.
    pub fn has_unread(&self, oplog: &Oplog) -> bool {
        self.next_seq <= oplog.last_seq()
    }

    /// Reads up to `limit` events (and under 16 MiB) without waiting.
    pub fn read(
        &mut self,
        oplog: &Oplog,
        catalog: &Catalog,
        limit: usize,
    ) -> Result<Batch, CommandError> {
        let mut events = Vec::new();
        let mut last_event_token = None;
        // Like the server, a batch stops short of 16 MiB of events (the next
        // event is assumed as large as the last).
        let (mut bytes, mut last_size) = (0usize, 0usize);
        let mut encoded = Vec::new();
        while !self.invalidated
            && events.len() < limit
            && bytes + last_size <= MAX_BATCH_BYTES
            && self.next_seq <= oplog.last_seq()
        {
            // The window rolled past an entry this stream had not read yet.
            let entry = oplog
                .get(self.next_seq)
                .ok_or_else(CommandError::history_lost)?;
            self.next_seq += 1;
            self.read_up_to = TokenData {
                ts: entry.ts,
                seq: entry.seq,
                invalidate: false,
            };
            if !self.scope.sees(entry, self.shape.show_expanded) {
                continue;
            }
            let built = event::build(entry, self.shape, catalog)?;
            if let Some(out) = self.transform(built)? {
                last_event_token = Some(out.get_document("_id").cloned().unwrap_or_default());
                encoded.clear();
                if out.to_writer(&mut encoded).is_ok() {
                    last_size = encoded.len();
                    bytes += last_size;
                }
                events.push(out);
            }
            if self.scope.invalidated_by(entry) {
                self.invalidated = true;
                if let Some(out) = self.transform(event::invalidate(entry))? {
                    last_event_token = Some(out.get_document("_id").cloned().unwrap_or_default());
                    events.push(out);
                }
            }
        }
        let post_batch_resume_token = match last_event_token {
            // The last event is the last entry read: its token is the high-water mark.
            Some(token)
                if self.invalidated
                    || TokenData::parse(&bson::Bson::Document(token.clone()))
                        .is_ok_and(|t| t.seq == self.read_up_to.seq) =>
            {
                token
            }
            _ => self.read_up_to.to_document(),
        };
        Ok(Batch {
            events,
            post_batch_resume_token,
        })
    }

    /// Applies the user's stages and checks that the resume token survived them.
    fn transform(&self, event: Document) -> Result<Option<Document>, CommandError> {
        let token = event.get("_id").cloned();
        let out = stages::apply(&self.stages, event)?;
        if let Some(out) = &out
            && out.get("_id") != token.as_ref()
        {
            return Err(CommandError::change_stream_fatal(
                "Encountered an event whose _id field, which contains the resume token, was modified by the pipeline. Modifying the _id field of an event makes it impossible to resume the stream from that point. Only transformations that retain the unmodified _id field are allowed.",
            ));
        }
        Ok(out)
    }
}
