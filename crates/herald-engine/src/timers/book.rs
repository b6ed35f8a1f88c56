//! Timers as workers see them: the store's, overlaid with the changes not
//! committed yet, and which of them each worker fires.
//!
//! A timer runs in the worker that owns the document whose event set it
//! ([`timer_partition`]), so it is ordered with that document's events. Only
//! that worker sets timers in its share (a handler's new timers belong to the
//! document it handled), so each worker keeps a lower bound of its share's
//! next due time and looks in the store only when a timer may be due: a
//! million pending timers cost a range scan when one comes due, not memory.
//!
//! Fired timers stay in the store until their group commits, so each worker
//! also remembers how far it has handed out its share since the last commit
//! ([`Uncommitted::handed_out_to`]) and reads the store from there: firing a
//! backlog costs each timer one read, not a rescan of every one fired
//! before it in the same group.

use crate::pipeline::partition::timer_partition;
use herald_store::{Store, StoreError, Timer};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// A timer's identity: (rule, name).
pub(crate) type TimerId = (Arc<str>, String);

/// How far past a due time a worker looks for its share's next timer before
/// settling for a lower bound.
const LOOK_AHEAD: usize = 256;

/// The store's timers plus the changes of calls done but not committed.
pub(crate) struct TimerBook {
    store: Store,
    workers: usize,
    /// The rules loaded: timers of other rules stay pending, unfired.
    rules: HashSet<Arc<str>>,
    /// What is not committed yet; the store is read under this lock too.
    pending: Mutex<Uncommitted>,
    /// Per worker: no timer of its share is due before this.
    next_due: Vec<AtomicI64>,
    /// Rules whose timers were skipped (not loaded), warned about once.
    warned: Mutex<HashSet<String>>,
}

/// Changes (and reads) since the last commit.
struct Uncommitted {
    /// Changes not committed yet: (sequence number of the item that made
    /// them, the timer as set; `None`: cancelled or fired). A later item's wins.
    changes: HashMap<TimerId, (u64, Option<Timer>)>,
    /// Per worker: every timer of its share that the store holds due before
    /// this has been handed out by [`TimerBook::due`] since the last commit,
    /// so it is fired (in `changes`), and the next look starts here. Only a
    /// commit adds timers to the store, so it resets this to the start.
    handed_out_to: Vec<i64>,
}

impl TimerBook {
    /// A book over `store` for `workers` workers and the loaded `rules`.
    pub(crate) fn new(
        store: Store,
        workers: usize,
        rules: impl IntoIterator<Item = Arc<str>>,
    ) -> Result<Self, StoreError> {
        let book = Self {
            store,
            workers: workers.max(1),
            rules: rules.into_iter().collect(),
            pending: Mutex::new(Uncommitted {
                changes: HashMap::new(),
                handed_out_to: vec![i64::MIN; workers.max(1)],
            }),
            next_due: (0..workers.max(1))
                .map(|_| AtomicI64::new(i64::MIN))
                .collect(),
            warned: Mutex::new(HashSet::new()),
        };
        let pending = HashMap::new();
        for worker in 0..book.workers {
            let next = book.next_of(worker, i64::MIN, &pending)?;
            book.next_due[worker].store(next, Ordering::Relaxed);
        }
        Ok(book)
    }

    /// Records a change by the item with sequence number `seq`: `Some` sets
    /// (or replaces) the timer, `None` cancels or fires it.
    pub(crate) fn write(&self, seq: u64, id: TimerId, timer: Option<Timer>) {
        if let Some(timer) = &timer {
            let owner = timer_partition(timer, self.workers);
            self.next_due[owner].fetch_min(timer.due_ms, Ordering::Relaxed);
        }
        let mut pending = self.pending.lock().expect("timer book lock");
        let entry = pending.changes.entry(id).or_insert((seq, None));
        if seq >= entry.0 {
            *entry = (seq, timer);
        }
    }

    /// Forgets the changes of items up to `seq`, now committed. Call it only
    /// after the commit, so a timer fired is never out of both.
    pub(crate) fn committed(&self, seq: u64) {
        let mut pending = self.pending.lock().expect("timer book lock");
        pending.changes.retain(|_, (written, _)| *written > seq);
        // The store may now hold timers set before where workers had got to.
        pending.handed_out_to.fill(i64::MIN);
    }

    /// Up to `limit` timers of `worker`'s share due at or before `up_to`, in
    /// (due, rule, name) order. Cheap when none can be due. The caller fires
    /// every one (records it with [`Self::write`]) before it asks again: the
    /// next look at the store starts after them.
    pub(crate) fn due(
        &self,
        worker: usize,
        up_to: i64,
        limit: usize,
    ) -> Result<Vec<Timer>, StoreError> {
        if up_to < self.next_due[worker].load(Ordering::Relaxed) {
            return Ok(Vec::new());
        }
        // The store is read under the lock: a commit that removes fired
        // timers is followed by `committed`, which must not fall between
        // this read and the look at what is pending.
        let mut pending = self.pending.lock().expect("timer book lock");
        let from = pending.handed_out_to[worker];
        // From `from` on, inclusive: timers due at the same time as the last
        // one handed out may not all have been.
        let stored: Box<dyn Iterator<Item = Result<Timer, StoreError>> + '_> =
            match from.checked_sub(1) {
                Some(after) => Box::new(self.store.timers_after(after)),
                None => Box::new(self.store.timers_due(up_to)),
            };
        let mut due = Vec::new();
        for timer in stored {
            let timer = timer?;
            if due.len() >= limit || timer.due_ms > up_to {
                break;
            }
            let id = (Arc::<str>::from(timer.rule.as_str()), timer.name.clone());
            if self.mine(worker, &timer) && !pending.changes.contains_key(&id) {
                due.push(timer);
            }
        }
        due.extend(
            pending
                .changes
                .values()
                .filter_map(|(_, timer)| timer.as_ref())
                .filter(|t| t.due_ms <= up_to && self.mine(worker, t))
                .cloned(),
        );
        due.sort_by(|a, b| (a.due_ms, &a.rule, &a.name).cmp(&(b.due_ms, &b.rule, &b.name)));
        due.truncate(limit);
        // The caller fires all of them: every stored one of this share due
        // before the last is among them, or was handed out before.
        if let Some(last) = due.last() {
            pending.handed_out_to[worker] = from.max(last.due_ms);
        }
        if due.len() < limit {
            // All of them: the next one of this share is after `up_to`
            // (the worker's own new timers lower the bound as they are set).
            let next = self.next_of(worker, up_to, &pending.changes)?;
            self.next_due[worker].store(next, Ordering::Relaxed);
        }
        Ok(due)
    }

    /// The latest due time of `worker`'s pending timers (`None`: it has
    /// none). Reads every timer: for the end of a replay (`--until all`).
    pub(crate) fn latest_due_of(&self, worker: usize) -> Result<Option<i64>, StoreError> {
        let pending = self.pending.lock().expect("timer book lock");
        let mut latest = None;
        for timer in self.store.timers() {
            let timer = timer?;
            let id = (Arc::<str>::from(timer.rule.as_str()), timer.name.clone());
            if self.mine(worker, &timer) && !pending.changes.contains_key(&id) {
                latest = latest.max(Some(timer.due_ms));
            }
        }
        let set = pending
            .changes
            .values()
            .filter_map(|(_, timer)| timer.as_ref())
            .filter(|t| self.mine(worker, t))
            .map(|t| t.due_ms)
            .max();
        Ok(latest.max(set))
    }

    /// True if `timer` is for `worker` to fire: its share, and its rule loaded.
    fn mine(&self, worker: usize, timer: &Timer) -> bool {
        if timer_partition(timer, self.workers) != worker {
            return false;
        }
        if self.rules.contains(timer.rule.as_str()) {
            return true;
        }
        let mut warned = self.warned.lock().expect("timer book lock");
        if warned.insert(timer.rule.clone()) {
            tracing::warn!(
                rule = %timer.rule,
                "timers of a rule that is not loaded stay pending; restore the rule, or cancel them with `herald timers cancel`"
            );
        }
        false
    }

    /// A lower bound of the due time of `worker`'s next timer after `after`
    /// (`i64::MAX`: none), from at most [`LOOK_AHEAD`] timers of the store.
    fn next_of(
        &self,
        worker: usize,
        after: i64,
        pending: &HashMap<TimerId, (u64, Option<Timer>)>,
    ) -> Result<i64, StoreError> {
        let mut bound = i64::MAX;
        let mut scanned = 0;
        for timer in self.store.timers_after(after) {
            let timer = timer?;
            scanned += 1;
            if scanned > LOOK_AHEAD {
                bound = timer.due_ms;
                break;
            }
            if self.mine(worker, &timer) {
                bound = timer.due_ms;
                break;
            }
        }
        let pending_next = pending
            .values()
            .filter_map(|(_, timer)| timer.as_ref())
            .filter(|t| t.due_ms > after && self.mine(worker, t))
            .map(|t| t.due_ms)
            .min()
            .unwrap_or(i64::MAX);
        Ok(bound.min(pending_next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(name: &str, due_ms: i64) -> Timer {
        Timer {
            rule: "r".into(),
            name: name.into(),
            due_ms,
            set_at_ms: 0,
            payload: bson::Bson::Null,
            ns: "db.c".into(),
            document_key: None,
            version: 1,
        }
    }

    fn set(store: &Store, timers: &[Timer]) {
        let mut commit = store.begin();
        for t in timers {
            commit.set_timer(t).unwrap();
        }
        store.commit(commit).unwrap();
    }

    /// Hands out up to `limit` due timers and fires them, as a worker does.
    fn fire(book: &TimerBook, seq: u64, up_to: i64, limit: usize) -> Vec<String> {
        let due = book.due(0, up_to, limit).unwrap();
        for t in &due {
            book.write(seq, (Arc::from(t.rule.as_str()), t.name.clone()), None);
        }
        due.into_iter().map(|t| t.name).collect()
    }

    /// A backlog is handed out once, in due order, across uncommitted
    /// batches; timers due at the same time as the end of a batch are not
    /// skipped; after a commit, a timer set earlier than where the worker
    /// had got to comes first.
    #[test]
    fn a_backlog_is_handed_out_once_in_order_and_a_commit_starts_over() {
        let store = Store::temporary().unwrap();
        // Three timers per millisecond, so batches end between ties.
        let timers: Vec<Timer> = (0..30)
            .map(|i| timer(&format!("t{i:02}"), 10 + i / 3))
            .collect();
        set(&store, &timers);
        let book = TimerBook::new(store.clone(), 1, [Arc::from("r")]).unwrap();
        let mut fired = Vec::new();
        for seq in 1.. {
            let batch = fire(&book, seq, 100, 4);
            if batch.is_empty() {
                break;
            }
            fired.extend(batch);
        }
        let names: Vec<String> = timers.iter().map(|t| t.name.clone()).collect();
        assert_eq!(fired, names);

        // The group commits: the fired timers leave the store, and one set
        // meanwhile, due before them all, enters it.
        let early = timer("early", 5);
        book.write(
            99,
            (Arc::from("r"), early.name.clone()),
            Some(early.clone()),
        );
        let mut commit = store.begin();
        for t in &timers {
            commit.fire_timer("r", &t.name, t.version);
        }
        commit.set_timer(&early).unwrap();
        store.commit(commit).unwrap();
        book.committed(99);
        assert_eq!(fire(&book, 100, 100, 4), ["early"]);
        assert!(fire(&book, 101, 100, 4).is_empty());
    }
}
