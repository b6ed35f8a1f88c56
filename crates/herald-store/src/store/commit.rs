//! Committing a group: one atomic batch with the group's ledger record, and
//! who waits for whom.
//!
//! A commit holds its ledger's commit lock (one per scope; see
//! [`crate::ledger`]) from choosing its new marks until they are in the
//! window. On a backend that is not [shared](crate::backend::Backend::shared)
//! (sled: this process is its only writer), every commit of the store also
//! takes the store-wide turn: dead-letter numbers and timer changes are
//! resolved against records read before the batch, so two commits must not
//! interleave there. A shared backend (MongoDB) numbers dead letters from its
//! counters, and other instances commit to it at any time anyway, so there a
//! scope's commit, however long its transaction retries, holds up no other
//! scope's.

use super::Store;
use crate::{Commit, StoreError, ledger};

impl Store {
    /// Applies a group atomically and flushes it to disk.
    ///
    /// The batch also holds the group's ledger record (its marks that the
    /// ledger does not hold yet) and the deletion of the records the window
    /// let go since the last commit, so pruning costs no flush of its own.
    /// A [scoped](Store::scoped) store writes to its scope's ledger, under
    /// its scope's commit lock.
    pub fn commit(&self, commit: Commit) -> Result<(), StoreError> {
        if commit.is_empty() {
            return Ok(());
        }
        self.faults.check()?;
        let ledger = self.ledger()?;
        let _one_writer = (!self.backend.shared()).then(|| self.turn.lock().expect("commit turn"));
        // One commit of this ledger at a time: the marks found new here must
        // still be new when they reach the window, and record ids must reach
        // it in order.
        let _one_commit_at_a_time = ledger.lock_commits();
        let pending = ledger.pending(&commit.marks);
        // Every other change (timer changes too) counts in `len`.
        let only_old_marks = commit.len == commit.marks.len() && pending.fresh.is_empty();
        if only_old_marks && pending.doomed.is_empty() {
            return Ok(()); // nothing to write
        }
        let mut batch = commit.batch;
        if let Some(fence) = self.scope().and_then(|s| s.fence.clone()) {
            batch.fence(fence);
        }
        self.number_dead_letters(&mut batch, commit.new_letters)?;
        self.apply_timer_ops(&mut batch, commit.timer_ops)?;
        let records = ledger::Records::of(self.scope());
        let record = if pending.fresh.is_empty() {
            None
        } else {
            let id = self.backend.generate_id()?;
            batch.insert(
                records.key(id),
                ledger::encode(commit.done_at, &pending.fresh),
            );
            Some((id, commit.done_at))
        };
        for span in &pending.doomed {
            for item in self
                .backend
                .scan(records.span(span.first, span.last), false)
            {
                batch.remove(item?.0);
            }
        }
        self.backend.apply(batch)?;
        ledger.committed(pending, record);
        Ok(())
    }

    /// Makes every commit after the next `n` successful ones fail, as a
    /// failing disk would, applying nothing (`u64::MAX`: never). Replaces any
    /// earlier plan, including `HERALD_FAULT_STORE_COMMITS`.
    ///
    /// ```
    /// let store = herald_store::Store::temporary()?;
    /// store.fail_commits_after(1);
    /// let mut commit = store.begin();
    /// commit.mark_done("r", b"t1");
    /// store.commit(commit)?;
    /// let mut commit = store.begin();
    /// commit.mark_done("r", b"t2");
    /// assert!(store.commit(commit).unwrap_err().to_string().contains("injected store failure"));
    /// assert!(!store.is_done("r", b"t2")?);
    /// # Ok::<(), herald_store::StoreError>(())
    /// ```
    #[cfg(feature = "fault-injection")]
    pub fn fail_commits_after(&self, n: u64) {
        self.faults.fail_after(n);
    }

    /// Like [`Store::fail_commits_after`], but only the one commit after the
    /// next `n` fails; later commits succeed again (feature `fault-injection`).
    #[cfg(feature = "fault-injection")]
    pub fn fail_one_commit_after(&self, n: u64) {
        self.faults.fail_once_after(n);
    }
}
