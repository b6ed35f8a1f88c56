//! One atomic group of changes.

use crate::backend::Batch;
use crate::scope::{self, Scope};
use crate::{Checkpoint, DeadLetter, Gap, StoreError, Timer, keys};
use bson::{Bson, doc};
use herald_core::Position;

/// The changes caused by a group of events, applied in one atomic batch by
/// [`Store::commit`](crate::Store::commit): all of them or none survive a crash.
///
/// ```
/// use herald_core::Position;
/// let store = herald_store::Store::temporary()?;
/// let mut commit = store.begin();
/// commit.mark_done("approvals", b"token-1");
/// commit.set_state("approvals", "pending:1", &bson::Bson::Boolean(true))?;
/// commit.checkpoint("file:/events.jsonl", &Position::File { offset: 10, line: 1 });
/// store.commit(commit)?;
/// assert!(store.is_done("approvals", b"token-1")?);
/// # Ok::<(), herald_store::StoreError>(())
/// ```
#[derive(Debug, Default)]
pub struct Commit {
    pub(crate) batch: Batch,
    /// Ledger fingerprints, written as one record at commit (less those the
    /// ledger already holds).
    pub(crate) marks: Vec<u128>,
    pub(crate) len: usize,
    pub(crate) done_at: i64,
    /// New dead letters, encoded, in order: their ids are given when the
    /// commit is applied, under the commit lock, in the same batch.
    pub(crate) new_letters: Vec<Vec<u8>>,
    /// Timer changes, in order: each depends on the timer as the ones before
    /// it left it, so they are resolved when the commit is applied, under the
    /// commit lock (see `store/timers/apply.rs`).
    pub(crate) timer_ops: Vec<TimerOp>,
    /// The scope of the store that began it.
    pub(crate) scope: Option<std::sync::Arc<Scope>>,
}

/// One timer change of a [`Commit`], resolved against the store when applied.
#[derive(Debug)]
pub(crate) struct TimerOp {
    /// The rule owning the timer.
    pub(crate) rule: String,
    /// The timer's name within the rule.
    pub(crate) name: String,
    pub(crate) change: TimerChange,
}

/// What a [`TimerOp`] does to the timer of its (rule, name).
#[derive(Debug)]
pub(crate) enum TimerChange {
    /// Write the timer, replacing the one there.
    Set {
        due_ms: i64,
        version: u64,
        /// The encoded [`Timer`].
        bytes: Vec<u8>,
    },
    /// Remove the timer there, or (`Some`) only if it is that version.
    Remove { version: Option<u64> },
}

impl Commit {
    /// Records that `rule` completed the event with these token bytes.
    pub fn mark_done(&mut self, rule: &str, token: &[u8]) {
        self.mark(crate::ledger::fingerprint(rule, token));
    }

    /// Records a completed pair by its [fingerprint](crate::ledger::fingerprint).
    /// A pair the ledger already holds is not recorded again.
    pub fn mark(&mut self, fingerprint: u128) {
        self.marks.push(fingerprint);
        self.len += 1;
    }

    /// Sets a key of a rule's state.
    pub fn set_state(&mut self, rule: &str, key: &str, value: &Bson) -> Result<(), StoreError> {
        let mut bytes = Vec::new();
        doc! { "v": value.clone() }
            .to_writer(&mut bytes)
            .map_err(|e| StoreError::BadValue {
                what: "state value",
                reason: e.to_string(),
            })?;
        self.batch.insert(keys::state(rule, key), bytes);
        self.len += 1;
        Ok(())
    }

    /// Removes a key of a rule's state.
    pub fn del_state(&mut self, rule: &str, key: &str) {
        self.batch.remove(keys::state(rule, key));
        self.len += 1;
    }

    /// Moves a stream's checkpoint to a position (no event times).
    pub fn checkpoint(&mut self, stream: &str, position: &Position) {
        self.checkpoint_at(stream, &Checkpoint::new(position.clone()));
    }

    /// Moves a stream's checkpoint.
    pub fn checkpoint_at(&mut self, stream: &str, checkpoint: &Checkpoint) {
        let bytes = serde_json::to_vec(checkpoint).expect("checkpoints always serialise");
        self.batch.insert(
            scope::key(keys::CHECKPOINT, self.scope.as_deref(), stream),
            bytes,
        );
        self.len += 1;
    }

    /// Removes a stream's checkpoint (a stream an earlier plan read, now
    /// taken over by another).
    pub fn remove_checkpoint(&mut self, stream: &str) {
        self.batch
            .remove(scope::key(keys::CHECKPOINT, self.scope.as_deref(), stream));
        self.len += 1;
    }

    /// Records a gap (its `id` from [`Store::next_id`](crate::Store::next_id)).
    pub fn gap(&mut self, id: u64, gap: &Gap) {
        let bytes = serde_json::to_vec(gap).expect("gaps always serialise");
        self.batch.insert(keys::gap(id), bytes);
        self.len += 1;
    }

    /// Adds a new dead letter. Its `id` is ignored: [`Store::commit`](crate::Store::commit)
    /// gives it the next dead-letter id (1, 2, 3, ... in the order added) in
    /// the same atomic batch that writes it, so an id is never given twice,
    /// not even to a letter after a dropped one.
    ///
    /// ```
    /// # use bson::{RawDocumentBuf, doc};
    /// let store = herald_store::Store::temporary()?;
    /// let letter = herald_store::DeadLetter {
    ///     id: 0,
    ///     rule: "r".into(),
    ///     token: vec![1],
    ///     event: RawDocumentBuf::from_document(&doc! {"_id": 1}).unwrap(),
    ///     error: "boom".into(),
    ///     attempts: 1,
    ///     keys: Default::default(),
    ///     done: Vec::new(),
    ///     first_at: bson::DateTime::from_millis(0),
    ///     at: bson::DateTime::from_millis(0),
    /// };
    /// let mut commit = store.begin();
    /// commit.add_dead_letter(&letter)?;
    /// commit.add_dead_letter(&letter)?;
    /// store.commit(commit)?;
    /// let ids: Vec<u64> = store.dead_letters().map(|l| l.map(|l| l.id)).collect::<Result<_, _>>()?;
    /// assert_eq!(ids, [1, 2]);
    /// # Ok::<(), herald_store::StoreError>(())
    /// ```
    pub fn add_dead_letter(&mut self, letter: &DeadLetter) -> Result<(), StoreError> {
        self.new_letters.push(letter.to_bytes()?);
        self.len += 1;
        Ok(())
    }

    /// Writes a dead letter at its `id`: replaces an existing one (a retry
    /// that failed again). New letters go through [`Commit::add_dead_letter`].
    pub fn dead_letter(&mut self, letter: &DeadLetter) -> Result<(), StoreError> {
        self.batch
            .insert(keys::dead_letter(letter.id), letter.to_bytes()?);
        self.len += 1;
        Ok(())
    }

    /// Removes a dead letter (retried successfully, or dropped).
    pub fn remove_dead_letter(&mut self, id: u64) {
        self.batch.remove(keys::dead_letter(id));
        self.len += 1;
    }

    /// Sets a timer, replacing the rule's timer of the same name (whatever its
    /// due time or version). A rule name longer than 65,535 bytes is refused.
    ///
    /// ```
    /// let store = herald_store::Store::temporary()?;
    /// let timer = herald_store::Timer {
    ///     rule: "r".into(), name: "n".into(), due_ms: 10, set_at_ms: 0,
    ///     payload: bson::Bson::Null, ns: "db.c".into(), document_key: None, version: 1,
    /// };
    /// let mut commit = store.begin();
    /// commit.set_timer(&timer)?;
    /// commit.set_timer(&herald_store::Timer { due_ms: 20, version: 2, ..timer })?;
    /// store.commit(commit)?;
    /// let due: Vec<i64> = store.timers().map(|t| t.map(|t| t.due_ms)).collect::<Result<_, _>>()?;
    /// assert_eq!(due, [20]);
    /// # Ok::<(), herald_store::StoreError>(())
    /// ```
    pub fn set_timer(&mut self, timer: &Timer) -> Result<(), StoreError> {
        if timer.rule.len() > keys::MAX_PART {
            return Err(StoreError::BadValue {
                what: "timer",
                reason: format!(
                    "its rule name is {} bytes long, longer than the {} a store key holds; \
                     shorten the rule's name",
                    timer.rule.len(),
                    keys::MAX_PART
                ),
            });
        }
        self.timer_ops.push(TimerOp {
            rule: timer.rule.clone(),
            name: timer.name.clone(),
            change: TimerChange::Set {
                due_ms: timer.due_ms,
                version: timer.version,
                bytes: timer.to_bytes()?,
            },
        });
        self.len += 1;
        Ok(())
    }

    /// Removes `rule`'s timer called `name`, if it has one.
    pub fn cancel_timer(&mut self, rule: &str, name: &str) {
        self.timer_ops.push(TimerOp {
            rule: rule.into(),
            name: name.into(),
            change: TimerChange::Remove { version: None },
        });
        self.len += 1;
    }

    /// Removes `rule`'s timer called `name` once it has fired, only if it is
    /// still the setting that fired (its [`Timer::version`] is `version`): a
    /// timer set again meanwhile is kept.
    ///
    /// ```
    /// let store = herald_store::Store::temporary()?;
    /// let timer = herald_store::Timer {
    ///     rule: "r".into(), name: "n".into(), due_ms: 10, set_at_ms: 0,
    ///     payload: bson::Bson::Null, ns: "db.c".into(), document_key: None, version: 1,
    /// };
    /// let mut commit = store.begin();
    /// commit.set_timer(&herald_store::Timer { version: 2, ..timer })?;
    /// commit.fire_timer("r", "n", 1); // set again since version 1 fired: kept
    /// store.commit(commit)?;
    /// assert_eq!(store.timer("r", "n")?.map(|t| t.version), Some(2));
    /// # Ok::<(), herald_store::StoreError>(())
    /// ```
    pub fn fire_timer(&mut self, rule: &str, name: &str, version: u64) {
        self.timer_ops.push(TimerOp {
            rule: rule.into(),
            name: name.into(),
            change: TimerChange::Remove {
                version: Some(version),
            },
        });
        self.len += 1;
    }

    /// Stores an informational record (JSON), such as the streams a run opened.
    pub fn set_info(&mut self, name: &str, value: &serde_json::Value) {
        self.batch.insert(
            scope::key(keys::INFO, self.scope.as_deref(), name),
            value.to_string().into_bytes(),
        );
        self.len += 1;
    }

    /// Stores a rule's running counts.
    pub fn rule_counts(&mut self, rule: &str, counts: &crate::RuleCounts) {
        let bytes = serde_json::to_vec(counts).expect("counts always serialise");
        self.batch
            .insert(scope::key(keys::COUNTS, self.scope.as_deref(), rule), bytes);
        self.len += 1;
    }

    /// Number of changes in the group.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the group changes nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}
