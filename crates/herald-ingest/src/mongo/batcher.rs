//! Gathering a stream's events into batches for the engine.
//!
//! A reader task keeps calling the driver while the batcher gathers what it
//! reads: a batch is handed on when it is full, when the driver has nothing
//! more buffered (it is waiting on a getMore), or `max_batch_delay` after its
//! first event; never held for a getMore that is awaiting new events. Split
//! events are joined here, before anything sees them.

use super::reader::{AbortOnDrop, Read, read_ahead};
use super::split::Reassembler;
use crate::source::SourcedEvent;
use bson::RawDocumentBuf;
use herald_core::{ChangeEvent, OperationType, Position};
use mongodb::change_stream::ChangeStream;
use mongodb::change_stream::event::ResumeToken as DriverToken;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Why a gathered batch ended.
pub(super) enum BatchEnd {
    /// Full, the driver waiting on the server, or the batch's time is up:
    /// there is more to read.
    More,
    /// The last event is the stream's `invalidate`.
    Invalidated,
    /// The last event asked for the batch to end there (it stops a target).
    AtEvent,
    /// The server's batch ran dry: its post-batch token, and whether the
    /// cursor is still open.
    Drained {
        token: Option<DriverToken>,
        alive: bool,
    },
    /// The driver failed; the reader has stopped.
    Failed(mongodb::error::Error),
    /// The reader is gone: the cursor closed.
    Closed,
    /// An event herald cannot read: nothing after it can be trusted.
    Malformed(String),
}

/// A batch of events and why it ended.
pub(super) struct Gathered {
    pub(super) events: Vec<SourcedEvent>,
    pub(super) end: BatchEnd,
}

/// Gathers one open change stream's events into batches.
pub(super) struct Batcher {
    rx: mpsc::Receiver<Read>,
    /// Events received from the reader but not yet put in a batch.
    pending: VecDeque<RawDocumentBuf>,
    /// Fragments of a split event, until it is whole.
    fragments: Reassembler,
    max_batch: usize,
    max_delay: Duration,
    /// Stops the reader task when the batcher goes.
    _reader: AbortOnDrop,
}

impl Batcher {
    /// Starts reading `stream` ahead of the batches.
    pub(super) fn start(
        stream: ChangeStream<RawDocumentBuf>,
        max_batch: usize,
        max_delay: Duration,
    ) -> Self {
        let max_batch = max_batch.max(1);
        let (tx, rx) = mpsc::channel(4);
        let reader = AbortOnDrop(tokio::spawn(read_ahead(stream, tx, max_batch)));
        Self {
            rx,
            pending: VecDeque::new(),
            fragments: Reassembler::default(),
            max_batch,
            max_delay,
            _reader: reader,
        }
    }

    /// True while a split event is incomplete: no position inside it may be
    /// handed on, as it could not be resumed from.
    pub(super) fn mid_event(&self) -> bool {
        self.fragments.is_pending()
    }

    /// Gathers the next batch. `ends_batch` sees each event as it is added,
    /// and says whether the batch must end after it.
    pub(super) async fn gather(
        &mut self,
        mut ends_batch: impl FnMut(&ChangeEvent) -> bool,
    ) -> Gathered {
        let mut events = Vec::new();
        let mut deadline: Option<Instant> = None;
        let end = loop {
            let raw = match self.pending.pop_front() {
                Some(raw) => raw,
                None => {
                    let received = match deadline {
                        None => self.rx.recv().await,
                        Some(at) => match tokio::time::timeout_at(at, self.rx.recv()).await {
                            Ok(received) => received,
                            Err(_) => break BatchEnd::More,
                        },
                    };
                    match received {
                        Some(Read::Events(chunk)) => {
                            self.pending.extend(chunk);
                            continue;
                        }
                        Some(Read::Waiting) if events.is_empty() => continue,
                        Some(Read::Waiting) => break BatchEnd::More,
                        Some(Read::Drained { token, alive }) => {
                            break BatchEnd::Drained { token, alive };
                        }
                        Some(Read::Failed(error)) => break BatchEnd::Failed(error),
                        None => break BatchEnd::Closed,
                    }
                }
            };
            let event = match self.join(raw) {
                // A fragment of a split event: read on until it is whole.
                Ok(None) => continue,
                Ok(Some(event)) => event,
                Err(reason) => break BatchEnd::Malformed(reason),
            };
            let invalidated = *event.operation_type() == OperationType::Invalidate;
            let at_event = ends_batch(&event);
            let position = Position::Token {
                bytes: event.token().as_bytes().to_vec(),
            };
            events.push(SourcedEvent { event, position });
            deadline.get_or_insert_with(|| Instant::now() + self.max_delay);
            if invalidated {
                break BatchEnd::Invalidated;
            }
            if at_event {
                break BatchEnd::AtEvent;
            }
            if events.len() >= self.max_batch {
                break BatchEnd::More;
            }
        };
        Gathered { events, end }
    }

    /// Adds an event or fragment; an event once it is whole.
    fn join(&mut self, raw: RawDocumentBuf) -> Result<Option<ChangeEvent>, String> {
        let whole = self.fragments.push(raw).map_err(|e| e.to_string())?;
        let event = whole
            .map(ChangeEvent::from_raw)
            .transpose()
            .map_err(|e| format!("malformed change event: {e}"))?;
        if let Some(event) = &event {
            missing_field(event).map_or(Ok(()), Err)?;
        }
        Ok(event)
    }
}

/// Why a change event from a stream lacks what herald needs of it: a server
/// always sends these, so only a configured stage can have removed one.
fn missing_field(event: &ChangeEvent) -> Option<String> {
    use herald_core::OperationType::*;
    let operation = event.operation_type();
    let missing = if event.cluster_time().is_none() {
        "clusterTime"
    } else if event.namespace().is_none() && *operation != Invalidate {
        "ns"
    } else if matches!(operation, Insert | Update | Replace | Delete)
        && event.document_key().is_none()
    {
        "documentKey"
    } else {
        return None;
    };
    Some(format!(
        "malformed change event {}: `{missing}` is missing; herald needs _id, operationType, ns, documentKey and clusterTime in every event, so a stage configured for this target (a $redact or $project) must not remove them",
        event.token()
    ))
}

#[cfg(test)]
mod tests {
    use super::missing_field;
    use bson::doc;
    use herald_core::ChangeEvent;

    fn event(doc: bson::Document) -> ChangeEvent {
        ChangeEvent::from_raw(bson::RawDocumentBuf::from_document(&doc).unwrap()).unwrap()
    }

    #[test]
    fn an_event_a_stage_pruned_is_refused_naming_the_field() {
        let t = bson::Timestamp {
            time: 1,
            increment: 1,
        };
        let whole = doc! {"_id": {"_data": "01"}, "operationType": "insert", "clusterTime": t, "ns": {"db": "d", "coll": "c"}, "documentKey": {"_id": 1}};
        assert_eq!(missing_field(&event(whole.clone())), None);
        for field in ["ns", "documentKey", "clusterTime"] {
            let mut pruned = whole.clone();
            pruned.remove(field);
            let why = missing_field(&event(pruned)).unwrap();
            assert!(why.contains(&format!("`{field}` is missing")), "{why}");
        }
        let invalidate =
            doc! {"_id": {"_data": "02"}, "operationType": "invalidate", "clusterTime": t};
        assert_eq!(missing_field(&event(invalidate)), None);
        let drop = doc! {"_id": {"_data": "03"}, "operationType": "drop", "clusterTime": t, "ns": {"db": "d", "coll": "c"}};
        assert_eq!(missing_field(&event(drop)), None);
    }
}
