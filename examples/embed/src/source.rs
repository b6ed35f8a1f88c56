//! A [`Source`] fed by an in-process `mpsc` channel of change events.
//!
//! This is the smallest source herald accepts: one stream, events handed on
//! in the order they were sent, each with the position just after it. It
//! shows the contract a real source (a message queue, a poller, another
//! database's change feed) has to keep.

use bson::{DateTime, RawDocumentBuf, doc};
use herald_core::{ChangeEvent, Position};
use herald_ingest::{Batch, Source, SourceError, SourcedEvent};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Events handed to the engine at a time, at most: whatever has queued up
/// since the last batch, so a burst costs one hand-over, not one per event.
const BATCH_SIZE: usize = 64;

/// Events the producer may send before the engine has taken them: a full
/// channel makes `send` wait, so a fast producer cannot outrun the rules.
pub const CHANNEL_CAPACITY: usize = 256;

/// A source reading the change events sent into a channel.
pub struct ChannelSource {
    /// The stream's name: its checkpoint is stored under it.
    stream: Arc<str>,
    /// Where the events arrive; closed (every sender dropped) ends the stream.
    events: mpsc::Receiver<ChangeEvent>,
}

impl ChannelSource {
    /// A source named `stream`, and the sender that feeds it.
    pub fn new(stream: &str) -> (mpsc::Sender<ChangeEvent>, Self) {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let source = Self {
            stream: format!("channel:{stream}").into(),
            events: rx,
        };
        (tx, source)
    }
}

impl Source for ChannelSource {
    fn streams(&self) -> Vec<String> {
        vec![self.stream.to_string()]
    }

    /// An in-memory channel cannot go back: events handed out before a
    /// restart are gone with the process. So a stored checkpoint is refused
    /// rather than silently ignored (this example uses a temporary store,
    /// which never has one). A real source seeks here: a change stream
    /// reopens with `resumeAfter` the stored token.
    fn resume_from(&mut self, stream: &str, position: &Position) -> Result<(), SourceError> {
        Err(SourceError::BadPosition {
            path: stream.into(),
            position: Box::new(position.clone()),
            reason: "an in-memory channel cannot replay what it handed out before; use a new store"
                .into(),
        })
    }

    /// Cancel-safe, as the engine needs (it drops this future to commit on
    /// time or to stop): `recv_many` takes nothing from the channel unless
    /// it returns.
    async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        let mut received = Vec::with_capacity(BATCH_SIZE);
        if self.events.recv_many(&mut received, BATCH_SIZE).await == 0 {
            // Every sender is gone: the stream has ended.
            return Ok(None);
        }
        let events = received
            .into_iter()
            .map(|event| SourcedEvent {
                // The position after an event is what a restart would resume
                // from. Each event carries its resume token (`_id`), so the
                // simplest correct position is that token, as herald's own
                // MongoDB source stores it: a change stream reopened with
                // `resumeAfter` it starts just after this event. A queue
                // would checkpoint its offset instead, a poller its last
                // `(updatedAt, _id)`: whatever lets it start just after the
                // event, and never past one the engine has not completed
                // (the engine only stores positions of completed events).
                position: Position::Token {
                    bytes: event.token().as_bytes().to_vec(),
                },
                event,
            })
            .collect();
        Ok(Some(Batch {
            stream: self.stream.clone(),
            events,
            // Each event has its own position; a source that can advance
            // without events (a change stream's `postBatchResumeToken`) sets
            // `end` so a quiet stream's checkpoint still moves.
            end: None,
            ..Batch::default()
        }))
    }
}

/// The change event of an insert of order `id` into `shop.orders`, as a
/// change stream would deliver it (with `fullDocument`).
pub fn order_inserted(id: i64, customer: &str, total: i64) -> ChangeEvent {
    let raw = RawDocumentBuf::from_document(&doc! {
        // The resume token: unique per event, since it keys the ledger and
        // the effects' idempotency keys.
        "_id": { "_data": format!("order-{id:08}") },
        "operationType": "insert",
        "ns": { "db": "shop", "coll": "orders" },
        "documentKey": { "_id": id },
        "fullDocument": { "_id": id, "customer": customer, "total": total },
        "wallTime": DateTime::now(),
    })
    .expect("a document built in code is valid BSON");
    ChangeEvent::from_raw(raw).expect("an insert with _id, operationType and ns is a change event")
}
