//! `herald timers cancel RULE NAME` and `herald timers cancel RULE --all`.
//!
//! A cancel is the store change a rule's `cancel_timer(NAME)` makes
//! ([`Commit::cancel_timer`](herald_store::Commit::cancel_timer)): the timer's
//! record and its index entry go in one commit, and the rule is never called
//! for it.

use super::rules_with_timers;
use crate::exit::{Failure, Outcome, store_failure};
use crate::logging::say;
use crate::time::rfc3339;
use anyhow::anyhow;
use herald_store::Store;
use std::path::Path;

/// The most timers `cancel --all` removes in one commit. A commit holds its
/// changes in memory until it is applied, so a rule with a million timers is
/// cancelled in commits of this many, and the memory stays bounded.
pub const CANCEL_BATCH: usize = 10_000;

/// Cancels `rule`'s timer `name`; one that is not pending is bad input (2).
pub(super) fn one(store: &Store, dir: &Path, rule: &str, name: &str) -> Outcome {
    let timer = store
        .timer(rule, name)
        .map_err(|e| store_failure(dir, e))?
        .ok_or_else(|| {
            Failure::BadInput(anyhow!(
                "rule {rule:?} has no pending timer named {name:?} (`herald timers list --rule {rule}` lists its timers)"
            ))
        })?;
    let mut commit = store.begin();
    commit.cancel_timer(rule, name);
    store.commit(commit).map_err(|e| store_failure(dir, e))?;
    println!(
        "cancelled timer {name:?} of rule {rule:?} (it was due at {})",
        rfc3339(timer.due_ms)
    );
    Ok(())
}

/// Cancels every pending timer of `rule`, [`CANCEL_BATCH`] to a commit; a
/// rule without any is bad input (2), so a misspelt name is not "done".
pub(super) fn all(store: &Store, dir: &Path, rule: &str) -> Outcome {
    let stats = store.timer_stats().map_err(|e| store_failure(dir, e))?;
    let Some(pending) = stats.iter().find(|s| s.rule == rule).map(|s| s.pending) else {
        return Err(Failure::BadInput(anyhow!(
            "no pending timers for rule {rule:?} (rules with pending timers: {})",
            rules_with_timers(&stats)
        )));
    };
    let mut batch = Batch::new(store, dir);
    // One scan in due order, committing as it goes: a commit removes only
    // timers the scan has passed, so the scan neither misses nor repeats one.
    for timer in store.timers() {
        let timer = timer.map_err(|e| batch.failed(store_failure(dir, e)))?;
        if timer.rule != rule {
            continue;
        }
        batch.cancel(rule, &timer.name)?;
        if batch.total() == pending {
            break; // the index counted no more
        }
    }
    let cancelled = batch.finish()?;
    println!("cancelled {cancelled} timer(s) of rule {rule:?}");
    Ok(())
}

/// The cancels of `--all`, committed every [`CANCEL_BATCH`].
struct Batch<'a> {
    store: &'a Store,
    dir: &'a Path,
    /// The cancels not yet committed.
    commit: herald_store::Commit,
    /// How many are in `commit`.
    open: u64,
    /// How many are committed.
    committed: u64,
}

impl<'a> Batch<'a> {
    fn new(store: &'a Store, dir: &'a Path) -> Self {
        Self {
            store,
            dir,
            commit: store.begin(),
            open: 0,
            committed: 0,
        }
    }

    /// Adds a cancel; commits when the batch is full.
    fn cancel(&mut self, rule: &str, name: &str) -> Result<(), Failure> {
        self.commit.cancel_timer(rule, name);
        self.open += 1;
        if self.open == CANCEL_BATCH as u64 {
            self.flush()?;
        }
        Ok(())
    }

    /// Cancels added so far, committed or not.
    fn total(&self) -> u64 {
        self.committed + self.open
    }

    /// Commits the rest; how many were cancelled in all.
    fn finish(mut self) -> Result<u64, Failure> {
        self.flush()?;
        Ok(self.committed)
    }

    fn flush(&mut self) -> Result<(), Failure> {
        if self.open == 0 {
            return Ok(());
        }
        let commit = std::mem::replace(&mut self.commit, self.store.begin());
        if let Err(e) = self.store.commit(commit) {
            return Err(self.failed(store_failure(self.dir, e)));
        }
        self.committed += self.open;
        self.open = 0;
        Ok(())
    }

    /// `failure`, after a warning of how many timers were cancelled before
    /// it: those commits stand, and running the command again cancels the rest.
    fn failed(&self, failure: Failure) -> Failure {
        if self.committed > 0 {
            say::warn(
                format!(
                    "{} timer(s) were cancelled before the error below; run the command again to cancel the rest",
                    self.committed
                ),
                serde_json::json!({ "cancelled": self.committed }),
            );
        }
        failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_store::{Timer, TimerStats};

    fn timer(rule: &str, n: i64) -> Timer {
        Timer {
            rule: rule.into(),
            name: format!("t{n}"),
            due_ms: n,
            set_at_ms: 0,
            payload: bson::Bson::Null,
            ns: "db.c".into(),
            document_key: None,
            version: 1,
        }
    }

    #[test]
    fn all_commits_in_batches_and_keeps_other_rules_timers() {
        let store = Store::temporary().unwrap();
        let mut commit = store.begin();
        let many = 2 * CANCEL_BATCH as i64 + 1;
        for n in 0..many {
            commit.set_timer(&timer("a", n)).unwrap();
            if n % 1000 == 0 {
                commit.set_timer(&timer("b", n)).unwrap();
            }
        }
        store.commit(commit).unwrap();

        let mut batch = Batch::new(&store, Path::new("store"));
        for n in 0..CANCEL_BATCH as i64 {
            batch.cancel("a", &format!("t{n}")).unwrap();
        }
        assert_eq!((batch.committed, batch.open), (CANCEL_BATCH as u64, 0));
        assert_eq!(batch.finish().unwrap(), CANCEL_BATCH as u64);

        all(&store, Path::new("store"), "a").unwrap();
        assert_eq!(
            store.timer_stats().unwrap(),
            [TimerStats {
                rule: "b".into(),
                pending: (many as u64).div_ceil(1000),
                next_due_ms: 0,
            }]
        );
        assert!(all(&store, Path::new("store"), "a").is_err());
    }
}
