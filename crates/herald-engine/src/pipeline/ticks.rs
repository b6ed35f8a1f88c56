//! Ticks: items that fire a worker's due timers when no event does.
//!
//! A worker fires a partition's timers before each of its events, by the
//! event's time. Ticks fire the rest: under the wall clock (`herald run`),
//! about every second, those due by now — but never past the time every
//! stream has read up to, so while herald catches up on a backlog, timers
//! wait for the events before them (a decision made while herald was down
//! still comes first). Under event time, the end of the source is no tick:
//! once every event is done, the run hands the timers due by its last event
//! (or `--until`) to their workers itself, in rounds, each round the next
//! due ones in (due, rule, name) order, so a replay prints the same whatever
//! the worker count.

use super::Queue;
use super::partition::{PARTITIONS, timer_partition, worker_of};
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
    /// The end of an event-time source: what is left to fire once every
    /// event is done.
    pub(super) ending: Option<Ending>,
    /// How often each timer fired at the end (one that sets itself due at
    /// once, every time, would never let the end finish).
    end_fires: HashMap<crate::timers::book::TimerId, u32>,
}

/// The most times one timer fires at the end of a source; past it, it stays
/// pending for the next run.
const END_FIRES_PER_TIMER: u32 = 1_000;

/// How far the end of an event-time source fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// The timers due by this time.
    At(i64),
    /// Every timer pending when the events are done (resolved then to the
    /// latest due time among them).
    All,
}

/// The most timers one round of the end hands out.
const END_ROUND: usize = 1_000;

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
        let before = before.filter(|(was, _)| *was > i64::MIN);
        self.heard.insert(batch.stream.clone(), (read, drained));
        drained && !before.is_some_and(|(_, was_drained)| was_drained)
    }

    /// Expects these streams: until each has read something, the wall
    /// clock fires nothing (one of them may hold a cancel).
    pub(super) fn expect(&mut self, streams: impl IntoIterator<Item = String>) {
        for stream in streams {
            self.heard
                .entry(Arc::from(stream.as_str()))
                .or_insert((i64::MIN, false));
        }
    }

    /// How far the wall clock may fire now: to `now`, but not past the time
    /// any stream has read up to; `None` before every stream has read.
    pub(super) fn wall_up_to(&self, now: i64) -> Option<i64> {
        self.heard
            .values()
            .map(|(read, _)| *read)
            .min()
            .filter(|read| *read > i64::MIN)
            .map(|read| read.min(now))
    }

    /// Queues a wall-clock tick for every worker without one in flight or queued.
    pub(super) fn queue_wall(&mut self, workers: usize, up_to: i64) {
        for worker in 0..workers {
            let busy = |t: &Tick| t.worker == worker && !t.must;
            if !(self.in_flight.values().any(busy) || self.queued.iter().any(busy)) {
                self.queued.push(Tick {
                    worker,
                    up_to,
                    must: false,
                });
            }
        }
    }

    /// True if no tick is queued or in flight.
    pub(super) fn idle(&self) -> bool {
        self.queued.is_empty() && self.in_flight.is_empty() && self.ending.is_none()
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
    /// One round of the end of an event-time source (every event done):
    /// hands the next due timers, in order, each to its partition's worker,
    /// and marks them fired so the next round does not take them again.
    /// When none is left, the end is over. False if a shutdown stopped it.
    pub(super) async fn fire_the_end<F: Future>(
        &self,
        senders: &[Queue],
        run: &mut Run<'_>,
        shutdown: &mut std::pin::Pin<&mut F>,
    ) -> Result<bool, EngineError> {
        let up_to = match run.ticks.ending {
            Some(Ending::At(up_to)) => up_to,
            Some(Ending::All) => match run.book.latest_due()? {
                Some(latest) => {
                    run.ticks.ending = Some(Ending::At(latest));
                    latest
                }
                None => i64::MIN,
            },
            None => return Ok(true),
        };
        let all: Vec<usize> = (0..PARTITIONS).collect();
        let mut due = run.book.due(&all, up_to, END_ROUND)?;
        due.retain(|timer| {
            let id = (std::sync::Arc::from(timer.rule.as_str()), timer.name.clone());
            let fires = run.ticks.end_fires.entry(id).or_default();
            *fires += 1;
            if *fires == END_FIRES_PER_TIMER + 1 {
                tracing::warn!(rule = %timer.rule, timer = %timer.name, "a timer kept coming due again at once at the end of the events; it stays pending");
            }
            *fires <= END_FIRES_PER_TIMER
        });
        if due.is_empty() {
            run.ticks.ending = None;
            run.ticks.end_fires.clear();
            return Ok(true);
        }
        let stopped = || EngineError::Incomplete("a worker stopped unexpectedly");
        for timer in due {
            let worker = worker_of(timer_partition(&timer), senders.len());
            let permit = tokio::select! {
                biased;
                _ = shutdown.as_mut() => return Ok(false),
                permit = senders[worker].reserve() => permit.map_err(|_| stopped())?,
            };
            // Not marked fired here: the worker fires it only if no timer
            // before it in this round changed it (`TimerBook::is_current`),
            // and the next round starts when this one is done.
            let seq = self.take_seq(run);
            run.ticks.in_flight.insert(
                seq,
                Tick {
                    worker,
                    up_to,
                    must: true,
                },
            );
            run.in_flight += 1;
            permit.send(vec![WorkItem {
                seq,
                work: Work::Fire(Box::new(timer)),
            }]);
        }
        Ok(true)
    }

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
                work: Work::Tick { up_to: tick.up_to },
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
        ticks.expect(["a".to_owned(), "b".to_owned(), "c".to_owned()]);
        assert!(ticks.heard(&batch("c", vec![], true), 800), "c caught up");
        assert_eq!(ticks.wall_up_to(1_000), None, "a and b have not read yet");
        assert!(!ticks.heard(&batch("a", vec![event_at(100), event_at(300)], true), 850));
        assert_eq!(ticks.wall_up_to(1_000), None, "b has not read yet");
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
        assert_eq!(ticks.wall_up_to(1_000), Some(800), "c caught up at 800");
        assert!(
            !ticks.heard(&batch("a", vec![], true), 995),
            "already caught up"
        );
        let mut stopped = batch("c", vec![], true);
        stopped.notices.push(StreamNotice::Stopped {
            targets: vec![],
            reason: "dropped".into(),
            failed: false,
        });
        ticks.heard(&stopped, 996);
        assert_eq!(ticks.wall_up_to(1_000), Some(900), "c no longer counts");
        assert_eq!(ticks.wall_up_to(500), Some(500), "never past now");
    }

    /// Wall ticks: one per worker at a time.
    #[test]
    fn one_wall_tick_per_worker_at_a_time() {
        let mut wall = Ticks::default();
        wall.queue_wall(2, 7);
        wall.queue_wall(2, 8);
        assert_eq!(wall.queued.len(), 2);
    }
}
