//! Timers in the store: reading them (by due time, by name, counted per
//! rule). Applying a commit's timer changes is in `timers/apply.rs`.

mod apply;

use super::Store;
use crate::backend::KeyRange;
use crate::{StoreError, Timer, TimerStats, keys};

impl Store {
    /// The timers due at or before `up_to_ms`, in (due, rule, name) order
    /// (see [`keys::timer_due`]), read as they are iterated.
    ///
    /// ```
    /// let store = herald_store::Store::temporary()?;
    /// let timer = |name: &str, due_ms| herald_store::Timer {
    ///     rule: "r".into(), name: name.into(), due_ms, set_at_ms: 0,
    ///     payload: bson::Bson::Null, ns: "db.c".into(), document_key: None, version: 1,
    /// };
    /// let mut commit = store.begin();
    /// commit.set_timer(&timer("later", 20))?;
    /// commit.set_timer(&timer("now", 10))?;
    /// store.commit(commit)?;
    /// let due: Vec<String> = store.timers_due(10).map(|t| t.map(|t| t.name)).collect::<Result<_, _>>()?;
    /// assert_eq!(due, ["now"]);
    /// # Ok::<(), herald_store::StoreError>(())
    /// ```
    pub fn timers_due(
        &self,
        up_to_ms: i64,
    ) -> impl Iterator<Item = Result<Timer, StoreError>> + '_ {
        self.backend
            .scan(keys::timers_due_by(up_to_ms).into(), false)
            .map(|item| self.decode_timer(&item?.1))
    }

    /// The timers due after `after_ms`, earliest first, read as they are iterated.
    ///
    /// ```
    /// # let store = herald_store::Store::temporary()?;
    /// assert!(store.timers_after(0).next().is_none());
    /// # Ok::<(), herald_store::StoreError>(())
    /// ```
    pub fn timers_after(
        &self,
        after_ms: i64,
    ) -> impl Iterator<Item = Result<Timer, StoreError>> + '_ {
        self.backend
            .scan(keys::timers_due_after(after_ms).into(), false)
            .map(|item| self.decode_timer(&item?.1))
    }

    /// Every timer, latest due first, read as they are iterated.
    ///
    /// ```
    /// # let store = herald_store::Store::temporary()?;
    /// assert!(store.timers_latest_first().next().is_none());
    /// # Ok::<(), herald_store::StoreError>(())
    /// ```
    pub fn timers_latest_first(&self) -> impl Iterator<Item = Result<Timer, StoreError>> + '_ {
        self.backend
            .scan(KeyRange::prefix(&[keys::TIMER_DUE]), true)
            .map(|item| self.decode_timer(&item?.1))
    }

    /// Every timer, in (due, rule, name) order, read as they are iterated.
    pub fn timers(&self) -> impl Iterator<Item = Result<Timer, StoreError>> + '_ {
        self.scan_prefix(keys::TIMER_DUE)
            .map(|item| self.decode_timer(&item?.1))
    }

    /// `rule`'s timer called `name`, if it has one.
    pub fn timer(&self, rule: &str, name: &str) -> Result<Option<Timer>, StoreError> {
        let Some((due_ms, _)) = self.timer_entry(rule, name)? else {
            return Ok(None);
        };
        match self.backend.get(&keys::timer_due(due_ms, rule, name))? {
            Some(bytes) => self.decode_timer(&bytes).map(Some),
            None => Err(self.damaged(StoreError::BadValue {
                what: "timer",
                reason: format!("rule {rule}, timer {name}: indexed, but its record is missing"),
            })),
        }
    }

    /// Each rule's pending timers and the soonest due, sorted by rule; rules
    /// without timers are not listed. Reads only the index by name (16 bytes
    /// a timer), not the records.
    ///
    /// ```
    /// let store = herald_store::Store::temporary()?;
    /// let timer = |name: &str, due_ms| herald_store::Timer {
    ///     rule: "r".into(), name: name.into(), due_ms, set_at_ms: 0,
    ///     payload: bson::Bson::Null, ns: "db.c".into(), document_key: None, version: 1,
    /// };
    /// let mut commit = store.begin();
    /// commit.set_timer(&timer("a", 20))?;
    /// commit.set_timer(&timer("b", 10))?;
    /// store.commit(commit)?;
    /// let stats = store.timer_stats()?;
    /// assert_eq!(stats, [herald_store::TimerStats { rule: "r".into(), pending: 2, next_due_ms: 10 }]);
    /// # Ok::<(), herald_store::StoreError>(())
    /// ```
    pub fn timer_stats(&self) -> Result<Vec<TimerStats>, StoreError> {
        // A rule's entries are adjacent (its key part is the same bytes), so
        // one pass groups them; the rules then sort by name.
        let mut stats: Vec<TimerStats> = Vec::new();
        for item in self.scan_prefix(keys::TIMER) {
            let (key, value) = item?;
            let damaged = |what| {
                self.damaged(StoreError::BadValue {
                    what,
                    reason: format!("key {:?}", String::from_utf8_lossy(&key)),
                })
            };
            let (rule, _) = keys::parse_timer(&key).ok_or_else(|| damaged("timer index key"))?;
            let (due_ms, _) =
                keys::parse_timer_entry(&value).ok_or_else(|| damaged("timer index entry"))?;
            match stats.last_mut() {
                Some(last) if last.rule == rule => {
                    last.pending += 1;
                    last.next_due_ms = last.next_due_ms.min(due_ms);
                }
                _ => stats.push(TimerStats {
                    rule: rule.to_owned(),
                    pending: 1,
                    next_due_ms: due_ms,
                }),
            }
        }
        stats.sort_by(|a, b| a.rule.cmp(&b.rule));
        Ok(stats)
    }

    /// The due time and version of `rule`'s timer `name` in the index by name.
    fn timer_entry(&self, rule: &str, name: &str) -> Result<Option<(i64, u64)>, StoreError> {
        if rule.len() > keys::MAX_PART {
            return Ok(None); // no key holds it, so no timer was set
        }
        let Some(entry) = self.backend.get(&keys::timer(rule, name))? else {
            return Ok(None);
        };
        keys::parse_timer_entry(&entry).map(Some).ok_or_else(|| {
            self.damaged(StoreError::BadValue {
                what: "timer index entry",
                reason: format!("rule {rule}, timer {name}: {} bytes, not 16", entry.len()),
            })
        })
    }

    /// A timer record, or the damage it shows.
    fn decode_timer(&self, bytes: &[u8]) -> Result<Timer, StoreError> {
        Timer::from_bytes(bytes).map_err(|e| self.damaged(e))
    }
}

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
