//! The low watermark: events complete in any order, but are released (and
//! so checkpointed) strictly in source order, only once every earlier event
//! is complete.

use std::collections::VecDeque;

/// A sequence number completed a second time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompletedTwice(pub(crate) u64);

/// Orders completions by sequence number.
///
/// ```ignore
/// let mut w = Watermark::new(1);
/// assert!(w.complete(2, "b").unwrap().is_empty());  // 1 is still running
/// assert_eq!(w.complete(1, "a").unwrap(), vec![(1, "a"), (2, "b")]);
/// ```
///
/// Sequence numbers are handed out one after another and each completes
/// once, so the items waiting are a window from `next`: a ring indexed by
/// `seq - next`, not a tree. The run bounds that window (it reads no more
/// while too many items are unreleased), so the ring stays small.
#[derive(Debug)]
pub(crate) struct Watermark<T> {
    next: u64,
    /// Slot `i` holds item `next + i`, once complete.
    done: VecDeque<Option<T>>,
}

impl<T> Watermark<T> {
    /// Expects `first` to be the first sequence number.
    pub(crate) fn new(first: u64) -> Self {
        Self {
            next: first,
            done: VecDeque::new(),
        }
    }

    /// Records `seq` as complete; returns every item now releasable, in
    /// order, or [`CompletedTwice`] if `seq` was complete already (a bug:
    /// its first completion's work could be lost, so the run must stop).
    pub(crate) fn complete(&mut self, seq: u64, item: T) -> Result<Vec<(u64, T)>, CompletedTwice> {
        let offset = seq
            .checked_sub(self.next)
            .and_then(|d| usize::try_from(d).ok())
            .ok_or(CompletedTwice(seq))?;
        if offset == 0 && self.done.is_empty() {
            // In order, nothing waiting: the common case with one worker.
            self.next += 1;
            return Ok(vec![(seq, item)]);
        }
        if self.done.len() <= offset {
            self.done.resize_with(offset + 1, || None);
        }
        if self.done[offset].is_some() {
            return Err(CompletedTwice(seq));
        }
        self.done[offset] = Some(item);
        let mut released = Vec::new();
        while let Some(Some(_)) = self.done.front() {
            let item = self.done.pop_front().flatten().expect("checked");
            released.push((self.next, item));
            self.next += 1;
        }
        Ok(released)
    }

    /// Items complete but waiting for an earlier one.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.done.iter().filter(|slot| slot.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the completion order, items are released once each, in sequence
        /// order, and never before all earlier ones completed.
        #[test]
        fn releases_in_order_once(order in Just((1u64..=60).collect::<Vec<_>>()).prop_shuffle()) {
            let mut w = Watermark::new(1);
            let mut completed = std::collections::HashSet::new();
            let mut released = Vec::new();
            for seq in order {
                completed.insert(seq);
                for (s, item) in w.complete(seq, seq * 10).unwrap() {
                    prop_assert_eq!(item, s * 10);
                    prop_assert!((1..=s).all(|earlier| completed.contains(&earlier)), "released {} before an earlier one", s);
                    released.push(s);
                }
            }
            prop_assert_eq!(released, (1..=60).collect::<Vec<_>>());
            prop_assert_eq!(w.waiting(), 0);
        }
    }

    #[test]
    fn a_second_completion_is_refused_whether_released_or_waiting() {
        let mut w = Watermark::new(1);
        assert_eq!(w.complete(1, "a"), Ok(vec![(1, "a")]));
        assert_eq!(w.complete(1, "again"), Err(CompletedTwice(1)));
        assert_eq!(w.complete(3, "c"), Ok(vec![]));
        assert_eq!(w.complete(3, "again"), Err(CompletedTwice(3)));
        assert_eq!(w.waiting(), 1);
        assert_eq!(w.complete(2, "b"), Ok(vec![(2, "b"), (3, "c")]));
        assert_eq!(w.waiting(), 0);
    }
}
