//! Rule state as handlers read it: committed values, overlaid with the
//! writes of events that are done but not committed yet.

use bson::Bson;
use herald_script::StateRead;
use herald_store::Store;
use std::collections::HashMap;
use std::sync::RwLock;

/// Committed state plus the writes not committed yet.
pub(crate) struct StateView {
    store: Store,
    /// `rule \0 key` → (event sequence number, value; `None`: deleted) for writes not yet committed.
    pending: RwLock<HashMap<String, (u64, Option<Bson>)>>,
}

fn pending_key(rule: &str, key: &str) -> String {
    format!("{rule}\0{key}")
}

impl StateView {
    pub(crate) fn new(store: Store) -> Self {
        Self {
            store,
            pending: RwLock::new(HashMap::new()),
        }
    }

    /// Records a write by the event with sequence number `seq` (a later event's write wins).
    pub(crate) fn write(&self, seq: u64, rule: &str, key: &str, value: Option<Bson>) {
        let mut pending = self.pending.write().expect("state lock");
        let entry = pending.entry(pending_key(rule, key)).or_insert((seq, None));
        if seq >= entry.0 {
            *entry = (seq, value);
        }
    }

    /// Forgets the writes of events up to `seq`, now committed.
    pub(crate) fn committed(&self, seq: u64) {
        self.pending
            .write()
            .expect("state lock")
            .retain(|_, (written, _)| *written > seq);
    }
}

impl StateRead for StateView {
    fn get_state(&self, rule: &str, key: &str) -> Option<Bson> {
        if let Some((_, pending)) = self
            .pending
            .read()
            .expect("state lock")
            .get(&pending_key(rule, key))
        {
            return pending.clone();
        }
        match self.store.get_state(rule, key) {
            Ok(value) => value,
            Err(e) => {
                tracing::error!(rule, key, error = %e, "cannot read rule state; the handler sees none");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_writes_win_and_commits_forget_only_what_they_cover() {
        let view = StateView::new(Store::temporary().unwrap());
        view.write(5, "r", "k", Some(Bson::Int32(5)));
        view.write(3, "r", "k", Some(Bson::Int32(3)));
        assert_eq!(view.get_state("r", "k"), Some(Bson::Int32(5)));
        view.committed(4);
        assert_eq!(
            view.get_state("r", "k"),
            Some(Bson::Int32(5)),
            "seq 5 is not committed yet"
        );
        view.committed(5);
        assert_eq!(
            view.get_state("r", "k"),
            None,
            "committed values come from the store"
        );
    }
}
