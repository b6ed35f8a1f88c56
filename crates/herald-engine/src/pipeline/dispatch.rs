//! Handing a batch's events to the workers that own their documents, in
//! chunks, with backpressure; and queueing its notices and end position.

use super::Queue;
use super::partition::{event_partition, worker_of};
use super::run::{Origin, Run, Slot};
use super::worker::{Work, WorkItem, runs_here};
use crate::engine::{Engine, EngineError};
use crate::router::Candidates;
use herald_ingest::StreamNotice;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A chunk being filled for a worker, with its reserved queue slot.
type OpenChunk = (mpsc::OwnedPermit<Vec<WorkItem>>, Vec<WorkItem>);

impl Engine {
    /// Hands a batch's events to their workers, and queues its notices and end position in order.
    ///
    /// Waits while worker queues are full (backpressure), but not past a
    /// shutdown: then it returns false, and the rest of the batch (and its end
    /// position) is left for the next run.
    pub(super) async fn dispatch<F: Future>(
        &self,
        batch: herald_ingest::Batch,
        senders: &[Queue],
        run: &mut Run<'_>,
        shutdown: &mut std::pin::Pin<&mut F>,
    ) -> Result<bool, EngineError> {
        self.health.saw(&batch);
        let stream = batch.stream.clone();
        let scope = batch.scope.map(Arc::new);
        for bad in &batch.skipped {
            tracing::warn!(%bad, "skipped a malformed line");
            run.observer.bad_line(bad);
            run.summary.skipped_lines += 1;
        }
        // Each worker gets its events of the batch in chunks of at most
        // `queue`, in order: one hand-over (and at most one wake-up) per
        // chunk. A chunk's queue slot is reserved, in source order, before
        // its first event is added, so what is handed over when a shutdown
        // stops the dispatch is always a prefix of the batch: no event after
        // one left behind can run (its effects would be done again, since it
        // could not be checkpointed past the one left behind).
        let wall_bound = (self.core.options.timers == crate::timers::TimerClock::Wall).then(|| {
            run.ticks
                .wall_up_to(bson::DateTime::now().timestamp_millis())
        });
        let chunk = self.core.settings.queue.max(1);
        let mut open: Vec<Option<OpenChunk>> = senders.iter().map(|_| None).collect();
        for item in batch.events {
            let event = Arc::new(item.event);
            let home = event_partition(&event);
            let worker = worker_of(home, senders.len());
            if open[worker].is_none() {
                let stopped = || EngineError::Incomplete("a worker stopped unexpectedly");
                let permit = match senders[worker].clone().try_reserve_owned() {
                    Ok(permit) => permit,
                    Err(mpsc::error::TrySendError::Closed(_)) => return Err(stopped()),
                    Err(mpsc::error::TrySendError::Full(sender)) => {
                        // Its queue is full: let the others work on what they
                        // have while this one frees a slot.
                        self.hand_over(&mut open, run);
                        tokio::select! {
                            biased;
                            _ = shutdown.as_mut() => return Ok(false),
                            permit = sender.reserve_owned() => permit.map_err(|_| stopped())?,
                        }
                    }
                };
                open[worker] = Some((permit, Vec::with_capacity(chunk)));
            }
            let seq = self.take_seq(run);
            run.origins.insert(
                seq,
                Origin {
                    stream: stream.clone(),
                    position: item.position,
                    times: (event.cluster_time(), event.wall_time()),
                },
            );
            let time = event.time().map(|t| t.timestamp_millis());
            if let Some(ms) = time {
                run.last_event_ms = Some(run.last_event_ms.map_or(ms, |last| last.max(ms)));
            }
            // Timers due by the event's time fire before it; under the wall
            // clock, not past what every stream has read (another stream's
            // backlog may hold their cancel).
            let fire_by = match wall_bound {
                Some(bound) => time.zip(bound).map(|(t, b)| t.min(b)),
                None => time,
            };
            let (_, items) = open[worker].as_mut().expect("a slot was reserved above");
            items.push(WorkItem {
                seq,
                work: Work::Event {
                    // Routed here, on the reading thread, so the workers
                    // (the bound of a replay) only test the few rules found;
                    // not at all if another instance runs its rules.
                    candidates: if runs_here(&self.core, &event) {
                        self.core.router.candidate_indexes(&event)
                    } else {
                        Candidates::new()
                    },
                    event,
                    partition: home,
                    scope: scope.clone(),
                    stopped: run.stopped.clone(),
                    fire_by,
                },
            });
            if items.len() >= chunk
                && let Some((permit, items)) = open[worker].take()
            {
                run.in_flight += items.len();
                permit.send(items);
            }
        }
        self.hand_over(&mut open, run);
        for notice in batch.notices {
            // A stop takes effect here, in source order: events dispatched
            // after it no longer reach its targets' rules, whichever stream
            // carries them (a whole stream's targets too, in stream order).
            match &notice {
                StreamNotice::TargetStopped { target, .. } => {
                    Arc::make_mut(&mut run.stopped).push(target.clone());
                }
                StreamNotice::Stopped { targets, .. } => {
                    Arc::make_mut(&mut run.stopped).extend(targets.iter().cloned());
                }
                StreamNotice::Gap { .. }
                | StreamNotice::Retrying { .. }
                | StreamNotice::SnapshotOverlap { .. } => {}
            }
            let seq = self.take_seq(run);
            self.release(seq, Slot::Notice(stream.clone(), notice), run)?;
        }
        if let Some(end) = batch.end {
            let seq = self.take_seq(run);
            self.release(seq, Slot::End(stream, end), run)?;
        }
        Ok(true)
    }

    /// Hands over every chunk that holds a queue slot.
    fn hand_over(&self, open: &mut [Option<OpenChunk>], run: &mut Run<'_>) {
        for (permit, items) in open.iter_mut().filter_map(Option::take) {
            if items.is_empty() {
                continue;
            }
            run.in_flight += items.len();
            permit.send(items);
        }
    }
}
