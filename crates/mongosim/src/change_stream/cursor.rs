//! A change stream cursor: where it stands in the oplog and how it reads.
//!
//! Entries become events (through the user's stages, and for a pipeline
//! ending with `$changeStreamSplitLargeEvent` possibly several fragments)
//! queued in `pending`, from which batches are taken: a batch may end
//! between the fragments of one event.

use super::event::{self, Shape};
use super::scope::Scope;
use super::spec::{Spec, Start};
use super::split;
use super::stages::{self, Stage};
use super::token::TokenData;
use crate::data::Catalog;
use crate::error::CommandError;
use crate::oplog::Oplog;
use bson::{Bson, Document, Timestamp};
use std::collections::VecDeque;

/// An open change stream.
#[derive(Debug, Clone)]
pub struct ChangeStreamCursor {
    /// What it watches.
    pub scope: Scope,
    /// `ns` in cursor replies: `db.coll`, or `db.$cmd.aggregate` for `aggregate: 1`.
    pub reply_ns: String,
    shape: Shape,
    stages: Vec<Stage>,
    /// True if the pipeline ends with `$changeStreamSplitLargeEvent`.
    splits: bool,
    /// The next oplog position to read.
    next_seq: u64,
    /// The position (and its time) of the last entry read: the high-water mark.
    read_up_to: TokenData,
    /// Events (or fragments) read but not returned yet, in order, with their BSON sizes.
    pending: VecDeque<(Document, usize)>,
    /// Set once an invalidate was read: nothing more is read.
    closing: bool,
    /// Resuming from a fragment's token: the event's position and the fragment's index.
    resume_split: Option<(u64, u32)>,
    /// The token of the last event returned.
    returned: Option<Document>,
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

fn fatal(message: impl Into<String>) -> CommandError {
    CommandError::change_stream_fatal(message)
}

impl ChangeStreamCursor {
    /// Opens a stream, checking its start point against the oplog window.
    pub fn open(
        spec: Spec,
        reply_ns: String,
        oplog: &Oplog,
        cluster_time: Timestamp,
    ) -> Result<Self, CommandError> {
        let here = |seq: u64| TokenData::at(oplog.get(seq).map_or(cluster_time, |e| e.ts), seq);
        let mut resume_split = None;
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
                let token = TokenData {
                    invalidate: false,
                    ..token
                };
                match token.fragment {
                    // The event is read again, and split again, to find the next fragment.
                    Some(fragment) => {
                        resume_split = Some((token.seq, fragment));
                        (token.seq, token)
                    }
                    None => (token.seq + 1, token),
                }
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
                (seq, TokenData::at(ts, seq - 1))
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
            splits: spec
                .stages
                .iter()
                .any(|s| matches!(s, Stage::SplitLargeEvent)),
            stages: spec.stages,
            next_seq,
            read_up_to,
            pending: VecDeque::new(),
            closing: false,
            resume_split,
            returned: None,
            invalidated: false,
        })
    }

    /// True if events this stream has not returned yet may exist.
    pub fn has_unread(&self, oplog: &Oplog) -> bool {
        !self.pending.is_empty() || self.closing || self.next_seq <= oplog.last_seq()
    }

    /// Reads up to `limit` events (and under 16 MiB) without waiting.
    pub fn read(
        &mut self,
        oplog: &Oplog,
        catalog: &Catalog,
        limit: usize,
    ) -> Result<Batch, CommandError> {
        let mut events: Vec<Document> = Vec::new();
        // As on the server, a batch stays under 16 MiB: an event (or fragment)
        // that would overflow it is kept for the next batch (the first always goes).
        let mut bytes = 0usize;
        while events.len() < limit {
            let Some((out, size)) = self.pending.pop_front() else {
                if self.closing || self.next_seq > oplog.last_seq() {
                    break;
                }
                self.read_entry(oplog, catalog)?;
                continue;
            };
            if !events.is_empty() && bytes + size > MAX_BATCH_BYTES {
                self.pending.push_front((out, size));
                break;
            }
            bytes += size;
            events.push(out);
        }
        if let Some(last) = events.last() {
            self.returned = last.get_document("_id").ok().cloned();
        }
        if self.closing && self.pending.is_empty() {
            self.invalidated = true;
        }
        let last_token = events.last().and_then(|e| e.get_document("_id").ok());
        let post_batch_resume_token = match last_token {
            // The batch ends inside what was read: resume after the last event returned.
            _ if !self.pending.is_empty() => self
                .returned
                .clone()
                .unwrap_or_else(|| self.read_up_to.to_document()),
            // The last event is the last entry read: its token is the high-water mark.
            Some(token)
                if self.invalidated
                    || TokenData::parse(&Bson::Document(token.clone()))
                        .is_ok_and(|t| t.seq == self.read_up_to.seq) =>
            {
                token.clone()
            }
            _ => self.read_up_to.to_document(),
        };
        Ok(Batch {
            events,
            post_batch_resume_token,
        })
    }

    /// Reads the next oplog entry, queueing the events it makes for this stream.
    fn read_entry(&mut self, oplog: &Oplog, catalog: &Catalog) -> Result<(), CommandError> {
        // The window rolled past an entry this stream had not read yet.
        let entry = oplog
            .get(self.next_seq)
            .ok_or_else(CommandError::history_lost)?;
        self.next_seq += 1;
        self.read_up_to = TokenData::at(entry.ts, entry.seq);
        if self.scope.sees(entry, self.shape.show_expanded) {
            let built = event::build(entry, self.shape, catalog)?;
            self.emit(built, self.read_up_to)?;
        }
        if self.scope.invalidated_by(entry) {
            self.closing = true;
            let token = TokenData {
                invalidate: true,
                ..self.read_up_to
            };
            self.emit(event::invalidate(entry), token)?;
        }
        Ok(())
    }

    /// Runs the user's stages on an event, then queues it, or its fragments.
    fn emit(&mut self, event: Document, token: TokenData) -> Result<(), CommandError> {
        let Some(out) = stages::apply(&self.stages, event)? else {
            return Ok(());
        };
        let resume = self.resume_split.take();
        if let Some((seq, _)) = resume
            && (seq != token.seq || token.invalidate)
        {
            let id = out.get_document("_id").cloned().unwrap_or_default();
            return Err(fatal(format!(
                "cannot resume stream; the resume token was not found. {}",
                render_token(&id)
            )));
        }
        let size = split::size_of(&out);
        if self.splits && size > split::MAX_CHANGE_EVENT_SIZE {
            let mut fragments = split::fragments(out, token)?;
            if let Some((_, index)) = resume {
                // Fragments up to the resume point were returned before.
                let index = index as usize;
                if fragments.len() <= index {
                    return Err(fatal(
                        "Attempted to resume from a split event, but the resumed stream produced a different split. Ensure that the pipeline used to resume is the same as the original",
                    ));
                }
                fragments.drain(..=index);
            }
            self.pending.extend(fragments.into_iter().map(|f| {
                let size = split::size_of(&f);
                (f, size)
            }));
            return Ok(());
        }
        if resume.is_some() {
            return Err(fatal(
                "Attempted to resume from a split event fragment, but the event in the resumed stream was not large enough to be split",
            ));
        }
        if out.get("_id") != Some(&Bson::Document(token.to_document())) {
            return Err(fatal(
                "Encountered an event whose _id field, which contains the resume token, was modified by the pipeline. Modifying the _id field of an event makes it impossible to resume the stream from that point. Only transformations that retain the unmodified _id field are allowed.",
            ));
        }
        if size > split::MAX_INTERNAL_SIZE {
            return Err(split::too_large(&out, size));
        }
        self.pending.push_back((out, size));
        Ok(())
    }
}

/// A token as the server's `Document::toString` prints it: `{_data: "..."}`.
fn render_token(token: &Document) -> String {
    let fields: Vec<String> = token
        .iter()
        .map(|(k, v)| match v {
            Bson::String(s) => format!("{k}: \"{s}\""),
            other => format!("{k}: {other}"),
        })
        .collect();
    format!("{{{}}}", fields.join(", "))
}
