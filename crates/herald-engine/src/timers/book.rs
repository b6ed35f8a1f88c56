//! Timers as workers see them: the store's, overlaid with the changes not
//! committed yet, and which of them are due in a partition.
//!
//! A timer belongs to the partition of the document whose event set it
//! ([`timer_partition`]), and only that partition's worker fires it, so it
//! is ordered with that document's events. Only calls of that partition
//! set timers in it (a call's new timers belong to the document it
//! handled), so the book keeps, per partition, a lower bound of the next
//! due time, and reads the store only when a timer may be due: a million
//! pending timers cost a range scan when one comes due, not memory.

use crate::pipeline::partition::{PARTITIONS, timer_partition};
use herald_core::partition::Partition;
use herald_store::{Store, StoreError, Timer};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// A timer's identity: (rule, name).
pub(crate) type TimerId = (Arc<str>, String);

/// How far past a due time the book looks for a partition's next timer
/// before settling for a lower bound.
const LOOK_AHEAD: usize = 256;

/// Changes not committed yet.
#[derive(Default)]
struct Pending {
    /// By timer: (sequence number of the item that made the change, the
    /// timer as set; `None`: cancelled or fired). A later item's wins.
    changes: HashMap<TimerId, (u64, Option<Timer>)>,
    /// Per partition, the timers set (the `Some`s above), by due time.
    by_due: Vec<BTreeSet<(i64, TimerId)>>,
    /// Per partition: every stored timer of it due before this has been
    /// handed out since the last commit (so it is fired, and hidden above);
    /// the next look at the store starts here, not at the first of the
    /// fired ones, which stay in the store until their group commits. Only
    /// a commit adds stored timers, so it starts these over.
    handed_out_to: Vec<i64>,
}

impl Pending {
    fn unindex(&mut self, id: &TimerId) {
        if let Some((_, Some(old))) = self.changes.get(id) {
            self.by_due[timer_partition(old)].remove(&(old.due_ms, id.clone()));
        }
    }

    /// The timers set in `partition` due in `range`, earliest first.
    fn set_in(
        &self,
        partition: usize,
        range: impl std::ops::RangeBounds<i64>,
    ) -> impl Iterator<Item = &Timer> {
        use std::ops::Bound;
        let start = match range.start_bound() {
            Bound::Included(t) => Bound::Included((*t, (Arc::from(""), String::new()))),
            Bound::Excluded(t) => match t.checked_add(1) {
                Some(t) => Bound::Included((t, (Arc::from(""), String::new()))),
                None => Bound::Excluded((i64::MAX, (Arc::from("\u{10ffff}"), String::new()))),
            },
            Bound::Unbounded => Bound::Unbounded,
        };
        let end = match range.end_bound() {
            Bound::Included(t) => *t,
            Bound::Excluded(t) => t.saturating_sub(1),
            Bound::Unbounded => i64::MAX,
        };
        self.by_due[partition]
            .range((start, Bound::Unbounded))
            .take_while(move |(due, _)| *due <= end)
            .filter_map(|(_, id)| self.changes.get(id).and_then(|(_, t)| t.as_ref()))
    }
}

/// The store's timers plus the changes of calls done but not committed.
pub(crate) struct TimerBook {
    store: Store,
    /// A dry run: nothing is committed, so what it fires of its own is
    /// forgotten at once (only the store's timers need hiding).
    dry_run: bool,
    /// The rules loaded: timers of other rules stay pending, unfired.
    rules: HashSet<Arc<str>>,
    /// Cluster mode: the partition of document keys whose timers are ours.
    cluster: Option<Partition>,
    pending: Mutex<Pending>,
    /// Per partition: no timer of it is due before this.
    next_due: Vec<AtomicI64>,
    /// Rules whose timers were skipped (not loaded), warned about once.
    warned: Mutex<HashSet<String>>,
    /// Rules that changed a timer of another partition, warned about once.
    crossed: Mutex<HashSet<Arc<str>>>,
}

impl TimerBook {
    /// A book over `store` for the loaded `rules`.
    pub(crate) fn new(
        store: Store,
        dry_run: bool,
        rules: impl IntoIterator<Item = Arc<str>>,
        cluster: Option<Partition>,
    ) -> Result<Self, StoreError> {
        let book = Self {
            store,
            dry_run,
            cluster,
            rules: rules.into_iter().collect(),
            pending: Mutex::new(Pending {
                changes: HashMap::new(),
                by_due: vec![BTreeSet::new(); PARTITIONS],
                handed_out_to: vec![i64::MIN; PARTITIONS],
            }),
            next_due: (0..PARTITIONS).map(|_| AtomicI64::new(i64::MIN)).collect(),
            warned: Mutex::new(HashSet::new()),
            crossed: Mutex::new(HashSet::new()),
        };
        {
            let pending = book.pending.lock().expect("timer book lock");
            let all: Vec<usize> = (0..PARTITIONS).collect();
            book.move_bounds(&all, i64::MIN, &pending)?;
        }
        Ok(book)
    }

    /// Records a change by the item with sequence number `seq`: `Some` sets
    /// (or replaces) the timer, `None` cancels or fires it.
    pub(crate) fn write(&self, seq: u64, id: TimerId, timer: Option<Timer>) {
        if let Some(timer) = &timer {
            self.next_due[timer_partition(timer)].fetch_min(timer.due_ms, Ordering::Relaxed);
        }
        let mut pending = self.pending.lock().expect("timer book lock");
        if pending.changes.get(&id).is_some_and(|(at, _)| seq < *at) {
            return;
        }
        pending.unindex(&id);
        // A dry run forgets a timer of its own once it is gone; one the store
        // holds must stay hidden.
        let forget = timer.is_none()
            && self.dry_run
            && !matches!(self.store.timer(&id.0, &id.1), Ok(Some(_)));
        if forget {
            pending.changes.remove(&id);
            return;
        }
        if let Some(timer) = &timer {
            pending.by_due[timer_partition(timer)].insert((timer.due_ms, id.clone()));
        }
        pending.changes.insert(id, (seq, timer));
    }

    /// Forgets the changes of items up to `seq`, now committed. Call it only
    /// after the commit, so a timer fired is never out of both.
    pub(crate) fn committed(&self, seq: u64) {
        let mut pending = self.pending.lock().expect("timer book lock");
        let done: Vec<TimerId> = pending
            .changes
            .iter()
            .filter(|(_, (written, _))| *written <= seq)
            .map(|(id, _)| id.clone())
            .collect();
        for id in done {
            pending.unindex(&id);
            if let Some((_, Some(set))) = pending.changes.remove(&id) {
                // Now stored: a partition's look must start no later than it.
                let p = timer_partition(&set);
                pending.handed_out_to[p] = pending.handed_out_to[p].min(set.due_ms);
            }
        }
    }

    /// True if `timer` (handed out by [`TimerBook::due`]) is still the
    /// timer of its name: not cancelled, fired or set again since (by an
    /// earlier timer's `on_timer` in the same batch, say).
    pub(crate) fn is_current(&self, timer: &Timer) -> bool {
        let id = (Arc::<str>::from(timer.rule.as_str()), timer.name.clone());
        match self
            .pending
            .lock()
            .expect("timer book lock")
            .changes
            .get(&id)
        {
            // A dry run forgets its own timers once gone: only the store
            // can say this one is still there.
            None if self.dry_run => matches!(
                self.store.timer(&timer.rule, &timer.name),
                Ok(Some(stored)) if stored.version == timer.version
            ),
            None => true,
            Some((_, Some(set))) => set.version == timer.version,
            Some((_, None)) => false,
        }
    }

    /// True the first time `rule` changes a timer of another partition (to warn once).
    pub(crate) fn first_cross_partition_change(&self, rule: &Arc<str>) -> bool {
        self.crossed
            .lock()
            .expect("timer book lock")
            .insert(rule.clone())
    }

    /// The partition of the timer `id` as it stands (pending or stored), if
    /// there is one.
    pub(crate) fn partition_of(&self, id: &TimerId) -> Result<Option<usize>, StoreError> {
        let pending = self.pending.lock().expect("timer book lock");
        if let Some((_, timer)) = pending.changes.get(id) {
            return Ok(timer.as_ref().map(timer_partition));
        }
        drop(pending);
        Ok(self
            .store
            .timer(&id.0, &id.1)?
            .as_ref()
            .map(timer_partition))
    }

    /// Up to `limit` timers of the `partitions` due at or before `up_to`,
    /// in (due, rule, name) order. Cheap when none can be due. The caller
    /// fires every timer returned (writes it `None`): the partitions'
    /// bounds move past them.
    pub(crate) fn due(
        &self,
        partitions: &[usize],
        up_to: i64,
        limit: usize,
    ) -> Result<Vec<Timer>, StoreError> {
        let may_be_due = partitions
            .iter()
            .any(|p| up_to >= self.next_due[*p].load(Ordering::Relaxed));
        if !may_be_due {
            return Ok(Vec::new());
        }
        let ours = |timer: &Timer| partitions.contains(&timer_partition(timer));
        // The store is read under the lock: a commit that removes fired
        // timers is followed by `committed`, which must not fall between
        // this read and the look at what is pending.
        let mut pending = self.pending.lock().expect("timer book lock");
        let from = partitions
            .iter()
            .map(|p| pending.handed_out_to[*p])
            .min()
            .unwrap_or(i64::MIN);
        let mut due = Vec::new();
        for timer in self.store.timers_after(from.saturating_sub(1)) {
            let timer = timer?;
            if timer.due_ms > up_to || due.len() >= limit {
                break;
            }
            let id = (Arc::<str>::from(timer.rule.as_str()), timer.name.clone());
            if ours(&timer) && self.loaded(&timer) && !pending.changes.contains_key(&id) {
                due.push(timer);
            }
        }

        for partition in partitions {
            due.extend(
                pending
                    .set_in(*partition, ..=up_to)
                    .filter(|t| self.loaded(t))
                    .take(limit)
                    .cloned(),
            );
        }
        due.sort_by(|a, b| (a.due_ms, &a.rule, &a.name).cmp(&(b.due_ms, &b.rule, &b.name)));
        due.truncate(limit);
        // Every stored timer of the partitions due before `reached` is handed
        // out now: all up to `up_to` if these are all, else those before the
        // last one's due time (more may share it, so it is looked at again).
        let reached = match due.last() {
            Some(last) if due.len() >= limit => last.due_ms,
            _ => up_to,
        };
        for p in partitions {
            pending.handed_out_to[*p] = pending.handed_out_to[*p].max(reached);
        }
        if due.len() < limit {
            // All of them: each partition's next one is after `up_to` (its
            // own new timers lower the bound as they are set).
            self.move_bounds(partitions, up_to, &pending)?;
        }
        Ok(due)
    }

    /// The latest due time of any timer that can fire (pending, of a loaded
    /// rule; `None`: there is none).
    pub(crate) fn latest_due(&self) -> Result<Option<i64>, StoreError> {
        let pending = self.pending.lock().expect("timer book lock");
        let set = pending
            .by_due
            .iter()
            .flat_map(|index| index.iter().rev())
            .filter_map(|(_, id)| pending.changes.get(id).and_then(|(_, t)| t.as_ref()))
            .filter(|t| self.loaded(t))
            .map(|t| t.due_ms)
            .max();
        let mut stored = None;
        for timer in self.store.timers_latest_first() {
            let timer = timer?;
            let id = (Arc::<str>::from(timer.rule.as_str()), timer.name.clone());
            if self.loaded(&timer) && !pending.changes.contains_key(&id) {
                stored = Some(timer.due_ms);
                break;
            }
        }
        Ok(stored.max(set))
    }

    /// True if `timer` is this engine's to fire: in its cluster partition,
    /// if it has one, and of a loaded rule (warns once per rule that is not).
    fn loaded(&self, timer: &Timer) -> bool {
        // A timer set for no document belongs with such events, to the first.
        if let Some(partition) = self.cluster
            && !partition.owns(timer.document_key.as_deref())
        {
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

    /// Moves each of the `partitions`' bounds to (a lower bound of) the due
    /// time of its next timer after `after` (`i64::MAX`: none), reading at
    /// most [`LOOK_AHEAD`] stored timers.
    fn move_bounds(
        &self,
        partitions: &[usize],
        after: i64,
        pending: &Pending,
    ) -> Result<(), StoreError> {
        let mut bounds: HashMap<usize, i64> = HashMap::new();
        let mut last = i64::MAX;
        for (scanned, timer) in self.store.timers_after(after).enumerate() {
            let timer = timer?;
            if scanned >= LOOK_AHEAD {
                last = timer.due_ms;
                break;
            }
            let partition = timer_partition(&timer);
            if partitions.contains(&partition) && self.loaded(&timer) {
                bounds.entry(partition).or_insert(timer.due_ms);
                if bounds.len() == partitions.len() {
                    break;
                }
            }
        }
        for partition in partitions {
            let stored = bounds.get(partition).copied().unwrap_or(last);
            let set = pending
                .set_in(
                    *partition,
                    (std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded),
                )
                .find(|t| self.loaded(t))
                .map_or(i64::MAX, |t| t.due_ms);
            self.next_due[*partition].store(stored.min(set), Ordering::Relaxed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
