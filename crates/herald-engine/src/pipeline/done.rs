//! Where workers put what they complete, for the run to release in order.
//!
//! Each completion is put in the queue as soon as its item is done, so the
//! run can take it at any time (at a shutdown deadline too) and a slow item
//! behind it never holds it back. Waking the run is another matter: the run
//! waits on its own runtime, and waking it from a worker thread is a system
//! call. Woken for every event, the run would take completions one by one
//! while the worker paid a wake-up each time. So a worker wakes the run
//! every [`WAKE_EVERY`] completions, and whenever it has nothing more to do;
//! the run also looks at the queue every [`LOOK_EVERY`] while events are in
//! flight, so completions put there just before a slow item are taken.

use super::worker::Completion;
use crate::engine::EngineError;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// What a worker puts in the queue for each item: (sequence number, result).
pub(crate) type Completed = (u64, Result<Completion, EngineError>);

/// Completions a worker puts in the queue before it wakes the run.
pub(crate) const WAKE_EVERY: usize = 32;

/// How often the run looks at the queue, woken or not, while events are in flight.
pub(crate) const LOOK_EVERY: Duration = Duration::from_millis(2);

#[derive(Default)]
struct Shared {
    queue: Mutex<Queued>,
    wake: Notify,
}

#[derive(Default)]
struct Queued {
    items: Vec<Completed>,
    /// Workers that can still put completions here.
    senders: usize,
    /// The run stopped taking completions.
    closed: bool,
}

/// A worker's end of the queue. Dropping the last one wakes the run.
pub(crate) struct Done {
    shared: Arc<Shared>,
    /// Completions put since the run was last woken.
    unwoken: usize,
}

/// The run's end of the queue. Dropping it closes the queue.
pub(crate) struct Completions {
    shared: Arc<Shared>,
}

/// The run stopped taking completions.
#[derive(Debug)]
pub(crate) struct Closed;

/// A queue with no sender yet: [`Completions::sender`] makes one per worker.
pub(crate) fn queue() -> Completions {
    Completions {
        shared: Arc::default(),
    }
}

impl Completions {
    /// A new sender, for one worker.
    pub(crate) fn sender(&self) -> Done {
        self.shared.queue.lock().expect("done queue").senders += 1;
        Done {
            shared: self.shared.clone(),
            unwoken: 0,
        }
    }

    /// Waits until the queue holds completions, and moves them all to
    /// `into`, in the order put; 0 once every sender is gone and the queue
    /// is empty. Cancel-safe: nothing is taken unless it returns.
    pub(crate) async fn recv_many(&self, into: &mut Vec<Completed>) -> usize {
        loop {
            let woken = self.shared.wake.notified();
            let n = self.try_take(into);
            if n > 0 || self.shared.queue.lock().expect("done queue").senders == 0 {
                return n;
            }
            woken.await;
        }
    }

    /// Moves every completion in the queue now to `into`, without waiting.
    pub(crate) fn try_take(&self, into: &mut Vec<Completed>) -> usize {
        let mut queued = self.shared.queue.lock().expect("done queue");
        let n = queued.items.len();
        into.append(&mut queued.items);
        n
    }
}

impl Drop for Completions {
    fn drop(&mut self) {
        self.shared.queue.lock().expect("done queue").closed = true;
    }
}

impl Done {
    /// Puts a completion in the queue (the run sees it from now on), and
    /// wakes the run if [`WAKE_EVERY`] are waiting unwoken.
    pub(crate) fn send(&mut self, completed: Completed) -> Result<(), Closed> {
        {
            let mut queued = self.shared.queue.lock().expect("done queue");
            if queued.closed {
                return Err(Closed);
            }
            queued.items.push(completed);
        }
        self.unwoken += 1;
        if self.unwoken >= WAKE_EVERY {
            self.wake();
        }
        Ok(())
    }

    /// Wakes the run if completions were put since it was last woken.
    pub(crate) fn wake(&mut self) {
        if self.unwoken > 0 {
            self.unwoken = 0;
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        self.shared.queue.lock().expect("done queue").senders -= 1;
        self.shared.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn completions_arrive_in_order_and_the_end_when_every_sender_is_gone() {
        let completions = queue();
        let mut done = completions.sender();
        for seq in 0..3 {
            done.send((seq, Ok(Completion::default()))).unwrap();
        }
        let mut got = Vec::new();
        // Put but not woken: still there to take.
        assert_eq!(completions.try_take(&mut got), 3);
        done.send((3, Ok(Completion::default()))).unwrap();
        drop(done);
        assert_eq!(completions.recv_many(&mut got).await, 1);
        assert_eq!(
            got.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert_eq!(completions.recv_many(&mut got).await, 0, "no sender left");
    }

    #[test]
    fn a_closed_queue_refuses_completions() {
        let completions = queue();
        let mut done = completions.sender();
        drop(completions);
        assert!(done.send((1, Ok(Completion::default()))).is_err());
    }
}
