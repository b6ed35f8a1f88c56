//! Counting what a snapshot read without its point in time may repeat.
//!
//! When a snapshot is read at the current time instead of its time T (see
//! [`super::snapshot`]), a document changed while it was read may reach the
//! rules twice: as the read's insert, and as the change, which the stream
//! (starting after T) delivers too. The stream counts the changes from T to
//! the end of the read and reports the count once it is past that window.

use crate::source::{SourcedEvent, StreamNotice};

/// The window of a snapshot read without its point in time, and the
/// changes seen in it so far.
#[derive(Debug, Clone)]
pub struct Overlap {
    /// The end of the window (the server's time when the read ended).
    until: bson::Timestamp,
    /// Why the read lost its point in time.
    reason: String,
    /// The changes seen so far in the window.
    count: u64,
}

impl Overlap {
    /// The window up to `until`, for the read that lost its time (`reason`).
    pub fn new(until: bson::Timestamp, reason: String) -> Self {
        Self {
            until,
            reason,
            count: 0,
        }
    }

    /// Counts `events` in the window. Once the stream is past it (an event,
    /// or the batch's end at `end_time`, after `until`), the notice that
    /// reports the count; the window is then done with.
    ///
    /// ```
    /// use bson::Timestamp;
    /// use herald_ingest::mongo::overlap::Overlap;
    /// let mut window = Overlap::new(Timestamp { time: 10, increment: 1 }, "239".into());
    /// assert!(window.count(&[], Some(Timestamp { time: 10, increment: 1 })).is_none());
    /// assert!(window.count(&[], Some(Timestamp { time: 10, increment: 2 })).is_some());
    /// ```
    pub fn count(
        &mut self,
        events: &[SourcedEvent],
        end_time: Option<bson::Timestamp>,
    ) -> Option<StreamNotice> {
        let until = (self.until.time, self.until.increment);
        let within = |t: bson::Timestamp| (t.time, t.increment) <= until;
        let mut past = end_time.is_some_and(|t| !within(t));
        for event in events {
            match event.event.cluster_time() {
                Some(t) if within(t) => self.count += 1,
                Some(_) => past = true,
                None => {}
            }
        }
        past.then(|| StreamNotice::SnapshotOverlap {
            count: self.count,
            reason: self.reason.clone(),
        })
    }
}
