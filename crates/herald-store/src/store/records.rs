//! Reading the records a commit writes: checkpoints (the scope's), gaps,
//! rule state, rule counts (the scope's) and informational records (the
//! scope's).

use super::Store;
use crate::backend::KeyRange;
use crate::scope;
use crate::{Checkpoint, Gap, RuleCounts, StoreError, keys};
use bson::Bson;
use herald_core::Position;

impl Store {
    /// A stream's checkpoint position.
    pub fn checkpoint(&self, stream: &str) -> Result<Option<Position>, StoreError> {
        Ok(self.checkpoint_record(stream)?.map(|c| c.position))
    }

    /// A stream's checkpoint with its times.
    pub fn checkpoint_record(&self, stream: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.backend
            .get(&scope::key(keys::CHECKPOINT, self.scope(), stream))?
            .map(|bytes| {
                Checkpoint::decode(&bytes).map_err(|e| {
                    self.damaged(StoreError::BadValue {
                        what: "checkpoint",
                        reason: format!("stream {stream}: {e}"),
                    })
                })
            })
            .transpose()
    }

    /// All checkpoints, by stream id.
    pub fn checkpoints(&self) -> Result<Vec<(String, Checkpoint)>, StoreError> {
        let mut all = Vec::new();
        let prefix = scope::prefix(keys::CHECKPOINT, self.scope());
        for item in self.backend.scan(KeyRange::prefix(&prefix), false) {
            let (key, value) = item?;
            let stream = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            let checkpoint = Checkpoint::decode(&value).map_err(|e| {
                self.damaged(StoreError::BadValue {
                    what: "checkpoint",
                    reason: format!("stream {stream}: {e}"),
                })
            })?;
            all.push((stream, checkpoint));
        }
        Ok(all)
    }

    /// Recorded gaps, oldest first.
    pub fn gaps(&self) -> Result<Vec<Gap>, StoreError> {
        let mut all = Vec::new();
        for item in self.scan_prefix(keys::GAP) {
            let (_, value) = item?;
            all.push(serde_json::from_slice(&value).map_err(|e| {
                self.damaged(StoreError::BadValue {
                    what: "gap",
                    reason: e.to_string(),
                })
            })?);
        }
        Ok(all)
    }

    /// A rule's state value.
    pub fn get_state(&self, rule: &str, key: &str) -> Result<Option<Bson>, StoreError> {
        let Some(bytes) = self.backend.get(&keys::state(rule, key))? else {
            return Ok(None);
        };
        let doc = bson::Document::from_reader(bytes.as_slice()).map_err(|e| {
            self.damaged(StoreError::BadValue {
                what: "state value",
                reason: format!("rule {rule}, key {key}: {e}"),
            })
        })?;
        Ok(doc.get("v").cloned())
    }

    /// One rule's counts, if any were stored.
    pub fn rule_count(&self, rule: &str) -> Result<Option<RuleCounts>, StoreError> {
        self.backend
            .get(&scope::key(keys::COUNTS, self.scope(), rule))?
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| {
                    self.damaged(StoreError::BadValue {
                        what: "rule counts",
                        reason: e.to_string(),
                    })
                })
            })
            .transpose()
    }

    /// Every rule's counts, by rule name.
    pub fn rule_counts(&self) -> Result<Vec<(String, RuleCounts)>, StoreError> {
        let mut all = Vec::new();
        let prefix = scope::prefix(keys::COUNTS, self.scope());
        for item in self.backend.scan(KeyRange::prefix(&prefix), false) {
            let (key, value) = item?;
            let counts = serde_json::from_slice(&value).map_err(|e| {
                self.damaged(StoreError::BadValue {
                    what: "rule counts",
                    reason: e.to_string(),
                })
            })?;
            all.push((
                String::from_utf8_lossy(&key[prefix.len()..]).into_owned(),
                counts,
            ));
        }
        Ok(all)
    }

    /// An informational record set with [`Commit::set_info`].
    pub fn info(&self, name: &str) -> Result<Option<serde_json::Value>, StoreError> {
        self.backend
            .get(&scope::key(keys::INFO, self.scope(), name))?
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| {
                    self.damaged(StoreError::BadValue {
                        what: "info record",
                        reason: format!("{name}: {e}"),
                    })
                })
            })
            .transpose()
    }
}
