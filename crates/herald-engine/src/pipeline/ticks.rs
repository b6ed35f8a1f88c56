//! Ticks: items that fire a worker's due timers when no event does.
//!
//! A worker fires a partition's timers before each of its events, by the
//! event's time. Ticks fire the rest: under the wall clock (`herald run`),
//! about every second, those due by now — but never past the time every
//! stream has read up to, so while herald catches up on a backlog, timers
//! wait for the events before them (a decision made while herald was down
//! still comes first); under event time, at the end of the source, those
//! due by its last event (or `--until`), one partition after another, so a
//! replay prints the same whatever the worker count.

use super::Queue;
use super::partition::{PARTITIONS, worker_of};
use super::run::Run;
use super::worker::{Work, WorkItem};
use crate::engine::{Engine, EngineError};
use herald_ingest::{Batch, StreamNotice};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

/// One tick for one worker.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tick {
    pub(super) worker: usize,
    /// The partition to fire; `None`: every partition of the worker.
    pub(super) partition: Option<usize>,
    pub(super) up_to: i64,
    /// Must be handed over (the end of a source); a wall-clock tick is
    /// skipped when the worker's queue is full (the next one will do).
    pub(super) must: bool,
}

/// The run's ticks, and what the wall clock may fire.
#[derive(Default)]
pub(super) struct Ticks {
    in_flight: HashMap<u64, Tick>,
    queued: Vec<Tick>,
    /// Per stream: the time it has read up to (ms), and whether its last
    /// batch found it caught up.
    heard: HashMap<Arc<str>, (i64, bool)>,
    /// `--until all`: every pending timer fires once the events in flight
    /// are done (their timers counted).
    pub(super) until_all: bool,
}

impl Ticks {
    /// Notes how far `batch`'s stream has read: to now when the server had
    /// nothing more (an empty batch with its end position), else to its
    /// latest event's time. True if the stream has just caught up.
    pub(super) fn heard(&mut self, batch: &Batch, now: i64) -> bool {
        let stopped = batch
            .notices
            .iter()
            .any(|n| matches!(n, StreamNotice::Stopped { .. }));
        if stopped {
            self.heard.remove(&batch.stream);
            return false;
        }
        let drained = batch.events.is_empty() && batch.notices.is_empty() && batch.end.is_some();
        let read = if drained {
            Some(now)
        } else {
            batch
                .events
                .iter()
                .filter_map(|e| e.event.time())
                .map(|t| t.timestamp_millis())
                .max()
        };
        let before = self.heard.get(&batch.stream).copied();
        let Some(read) = read else {
            return false;
        };
        let read = before.map_or(read, |(was, _)| was.max(read));
        self.heard.insert(batch.stream.clone(), (read, drained));
        drained && !before.is_some_and(|(_, was_drained)| was_drained)
    }

    /// How far the wall clock may fire now: to `now`, but not past the time
    /// any stream has read up to; `None` before every stream has read.
    pub(super) fn wall_up_to(&self, now: i64) -> Option<i64> {
        self.heard
            .values()
            .map(|(read, _)| *read)
            .min()
            .map(|read| read.min(now))
    }

    /// Queues a wall-clock tick for every worker without one in flight or queued.
    pub(super) fn queue_wall(&mut self, workers: usize, up_to: i64) {
        for worker in 0..workers {
            let busy = |t: &Tick| t.worker == worker && t.partition.is_none();
            if !(self.in_flight.values().any(busy) || self.queued.iter().any(busy)) {
                self.queued.push(Tick {
                    worker,
                    partition: None,
                    up_to,
                    must: false,
                });
            }
        }
    }

    /// Queues the end of a source: a tick per partition, in partition order.
    pub(super) fn queue_end(&mut self, workers: usize, up_to: i64) {
        self.queued.extend((0..PARTITIONS).map(|partition| Tick {
            worker: worker_of(partition, workers),
            partition: Some(partition),
            up_to,
            must: true,
        }));
    }

    /// True if no tick is queued or in flight.
    pub(super) fn idle(&self) -> bool {
        self.queued.is_empty() && self.in_flight.is_empty() && !self.until_all
    }

    /// True if ticks wait to be handed over.
    pub(super) fn has_queued(&self) -> bool {
        !self.queued.is_empty()
    }

    /// A completed item: if it was a tick that stopped at its limit, the
    /// same tick is queued again. True if it was a tick.
    pub(super) fn completed(&mut self, seq: u64, more_due: Option<i64>) -> bool {
        let Some(tick) = self.in_flight.remove(&seq) else {
            return false;
        };
        if let Some(up_to) = more_due {
            self.queued.push(Tick { up_to, ..tick });
        }
        true
    }
}

impl Engine {
    /// Hands the queued ticks to their workers: a tick that must go waits
    /// for room in its queue (but not past a shutdown: then false), a
    /// wall-clock tick is dropped when its queue is full.
    pub(super) async fn send_ticks<F: Future>(
        &self,
        senders: &[Queue],
        run: &mut Run<'_>,
        shutdown: &mut std::pin::Pin<&mut F>,
    ) -> Result<bool, EngineError> {
        let stopped = || EngineError::Incomplete("a worker stopped unexpectedly");
        for tick in std::mem::take(&mut run.ticks.queued) {
            let sender = &senders[tick.worker];
            let permit = if tick.must {
                tokio::select! {
                    biased;
                    _ = shutdown.as_mut() => return Ok(false),
                    permit = sender.reserve() => permit.map_err(|_| stopped())?,
                }
            } else {
                match sender.try_reserve() {
                    Ok(permit) => permit,
                    Err(tokio::sync::mpsc::error::TrySendError::Full(())) => continue,
                    Err(tokio::sync::mpsc::error::TrySendError::Closed(())) => {
                        return Err(stopped());
                    }
                }
            };
            let seq = self.take_seq(run);
            run.ticks.in_flight.insert(seq, tick);
            run.in_flight += 1;
            permit.send(vec![WorkItem {
                seq,
                work: Work::Tick {
                    partition: tick.partition,
                    up_to: tick.up_to,
                },
            }]);
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::{ChangeEvent, Position};
    use herald_ingest::SourcedEvent;

    fn event_at(ms: i64) -> SourcedEvent {
        let raw = bson::rawdoc! {
            "_id": { "_data": "01" },
            "operationType": "insert",
            "wallTime": bson::DateTime::from_millis(ms),
        };
        SourcedEvent {
            event: ChangeEvent::from_raw(raw).unwrap(),
            position: Position::File { offset: 0, line: 1 },
        }
    }

    fn batch(stream: &str, events: Vec<SourcedEvent>, end: bool) -> Batch {
        Batch {
            stream: stream.into(),
            events,
            end: end.then_some(Position::File { offset: 0, line: 1 }),
            ..Batch::default()
        }
    }

    /// The wall clock fires no further than every stream has read: a
    /// stream reading a backlog holds it at its latest event's time until
    /// it comes back empty (caught up); a stream that stopped no longer counts.
    #[test]
    fn the_wall_clock_waits_for_the_slowest_stream() {
        let mut ticks = Ticks::default();
        assert_eq!(ticks.wall_up_to(1_000), None, "no stream has read yet");
        assert!(!ticks.heard(&batch("a", vec![event_at(100), event_at(300)], true), 1_000));
        assert_eq!(ticks.wall_up_to(1_000), Some(300));
        assert!(ticks.heard(&batch("b", vec![], true), 900), "b caught up");
        assert_eq!(ticks.wall_up_to(1_000), Some(300), "a is still behind");
        // A batch of notices only, or one that says nothing, moves nothing.
        let mut retrying = batch("a", vec![], false);
        retrying.notices.push(StreamNotice::Retrying {
            error: "x".into(),
            attempt: 1,
        });
        assert!(!ticks.heard(&retrying, 950));
        assert_eq!(ticks.wall_up_to(1_000), Some(300));
        assert!(ticks.heard(&batch("a", vec![], true), 990), "a caught up");
        assert_eq!(ticks.wall_up_to(1_000), Some(900));
        assert!(
            !ticks.heard(&batch("a", vec![], true), 995),
            "already caught up"
        );
        let mut stopped = batch("b", vec![], true);
        stopped.notices.push(StreamNotice::Stopped {
            targets: vec![],
            reason: "dropped".into(),
            failed: false,
        });
        ticks.heard(&stopped, 996);
        assert_eq!(ticks.wall_up_to(1_000), Some(995));
        assert_eq!(ticks.wall_up_to(500), Some(500), "never past now");
    }

    /// The end of a source ticks every partition, in order, each on its worker.
    #[test]
    fn the_end_ticks_every_partition_in_order() {
        let mut ticks = Ticks::default();
        ticks.queue_end(3, 42);
        let partitions: Vec<(usize, Option<usize>)> = ticks
            .queued
            .iter()
            .map(|t| (t.worker, t.partition))
            .collect();
        assert_eq!(partitions.len(), PARTITIONS);
        for (p, (worker, partition)) in partitions.into_iter().enumerate() {
            assert_eq!((worker, partition), (p % 3, Some(p)));
        }
        // Wall ticks: one per worker at a time.
        let mut wall = Ticks::default();
        wall.queue_wall(2, 7);
        wall.queue_wall(2, 8);
        assert_eq!(wall.queued.len(), 2);
    }
}
