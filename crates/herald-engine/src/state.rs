//! Rule state as handlers read it: committed values, overlaid with the
//! writes of the current, not yet committed group.

use bson::Bson;
use herald_script::StateRead;
use herald_store::Store;
use std::collections::HashMap;
use std::sync::RwLock;

/// Committed state plus the pending group's writes.
pub(crate) struct StateView {
    store: Store,
    /// `rule \0 key` → value (`None`: deleted) for writes not yet committed.
    pending: RwLock<HashMap<String, Option<Bson>>>,
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

    pub(crate) fn write(&self, rule: &str, key: &str, value: Option<Bson>) {
        self.pending
            .write()
            .expect("state lock")
            .insert(pending_key(rule, key), value);
    }

    /// Forgets pending writes once they are committed.
    pub(crate) fn committed(&self) {
        self.pending.write().expect("state lock").clear();
    }
}

impl StateRead for StateView {
    fn get_state(&self, rule: &str, key: &str) -> Option<Bson> {
        if let Some(pending) = self
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
