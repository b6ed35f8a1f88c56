//! Dead letters in the store: their numbering and reading them.

use super::Store;
use crate::backend::{Batch, KeyRange};
use crate::{DeadLetter, StoreError, keys};

impl Store {
    /// The dead letters, oldest first.
    pub fn dead_letters(&self) -> impl Iterator<Item = Result<DeadLetter, StoreError>> + '_ {
        self.scan_prefix(keys::DEAD_LETTER).map(|item| {
            let (key, value) = item?;
            let id = <[u8; 8]>::try_from(&key[1..])
                .map(u64::from_be_bytes)
                .map_err(|_| {
                    self.damaged(StoreError::BadValue {
                        what: "dead letter key",
                        reason: format!("{} bytes", key.len()),
                    })
                })?;
            DeadLetter::from_bytes(id, &value).map_err(|e| self.damaged(e))
        })
    }

    /// One dead letter.
    pub fn dead_letter(&self, id: u64) -> Result<Option<DeadLetter>, StoreError> {
        self.backend
            .get(&keys::dead_letter(id))?
            .map(|bytes| DeadLetter::from_bytes(id, &bytes).map_err(|e| self.damaged(e)))
            .transpose()
    }

    /// Adds new dead letters to `batch` with the next ids, and the last id
    /// given. The next id follows both the last one given (so a dropped
    /// letter's id is not reused) and the newest letter stored (a store
    /// written before herald numbered letters, whose ids came from
    /// [`Store::next_id`]), so ids only grow and letters list in order. On a
    /// shared backend, ids come from its `dead_letters` counter instead.
    /// Called under the commit lock.
    pub(super) fn number_dead_letters(
        &self,
        batch: &mut Batch,
        letters: Vec<Vec<u8>>,
    ) -> Result<(), StoreError> {
        if letters.is_empty() {
            return Ok(());
        }
        if self.backend.shared() {
            // Other instances add letters meanwhile: ids come from the shared
            // counter, not from the last id read here.
            let first = self.backend.reserve("dead_letters", letters.len() as u64)?;
            for (id, letter) in (first..).zip(letters) {
                batch.insert(keys::dead_letter(id), letter);
            }
            return Ok(());
        }
        let given = match self.backend.get(keys::DEAD_LETTER_LAST)? {
            None => 0,
            Some(bytes) => <[u8; 8]>::try_from(bytes.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| {
                    self.damaged(StoreError::BadValue {
                        what: "last dead-letter id",
                        reason: format!("{} bytes", bytes.len()),
                    })
                })?,
        };
        let newest = match self
            .backend
            .scan(KeyRange::prefix(&[keys::DEAD_LETTER]), true)
            .next()
        {
            None => 0,
            Some(item) => {
                let (key, _) = item?;
                <[u8; 8]>::try_from(&key[1..]).map_or(0, u64::from_be_bytes)
            }
        };
        let mut last = given.max(newest);
        for letter in letters {
            last += 1;
            batch.insert(keys::dead_letter(last), letter);
        }
        batch.insert(keys::DEAD_LETTER_LAST, last.to_be_bytes());
        Ok(())
    }
}
