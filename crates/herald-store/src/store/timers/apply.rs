//! A commit's timer changes, resolved into its batch.
//!
//! Each change depends on the timer as the changes before it left it: a
//! replacement must remove the old record (keyed by the old due time), a fire
//! must compare versions. So they are resolved when the commit is applied,
//! under the commit lock (nothing else changes timers meanwhile), against
//! the tree overlaid with this commit's earlier changes: the batch holds the
//! net result, as if each change had been applied in turn.

use crate::backend::Batch;
use crate::commit::{TimerChange, TimerOp};
use crate::store::Store;
use crate::{StoreError, keys};
use std::collections::HashMap;

impl Store {
    /// Adds to `batch` the writes and removals of `ops`, in order.
    pub(in crate::store) fn apply_timer_ops(
        &self,
        batch: &mut Batch,
        ops: Vec<TimerOp>,
    ) -> Result<(), StoreError> {
        // (rule, name) -> its timer's (due, version) as the ops so far left
        // it (None: removed); names not in it are as the tree has them.
        let mut overlay: HashMap<(String, String), Option<(i64, u64)>> = HashMap::new();
        for TimerOp { rule, name, change } in ops {
            let current = match overlay.get(&(rule.clone(), name.clone())) {
                Some(entry) => *entry,
                None => self.timer_entry(&rule, &name)?,
            };
            let next = match change {
                TimerChange::Set {
                    due_ms,
                    version,
                    bytes,
                } => {
                    if let Some((old_due, _)) = current {
                        batch.remove(keys::timer_due(old_due, &rule, &name));
                    }
                    // After the removal: the same due time is the same key.
                    batch.insert(keys::timer_due(due_ms, &rule, &name), bytes);
                    batch.insert(
                        keys::timer(&rule, &name),
                        keys::timer_entry(due_ms, version),
                    );
                    Some((due_ms, version))
                }
                TimerChange::Remove { version: only } => match current {
                    Some((due_ms, version)) if only.is_none_or(|only| only == version) => {
                        batch.remove(keys::timer_due(due_ms, &rule, &name));
                        batch.remove(keys::timer(&rule, &name));
                        None
                    }
                    // No timer, or one set again since the version that fired.
                    kept => kept,
                },
            };
            overlay.insert((rule, name), next);
        }
        Ok(())
    }
}
