//! The store's ledgers: its own, loaded at open, and one per scope, loaded
//! when the scope first needs it (see "Scopes" in [`crate::ledger`]).
//!
//! Handles of one scope share its ledger while any of them lives: clones,
//! and `scoped` called again with the same scope, fence included. A new
//! fence (a lease taken again, at a higher epoch) is a new scope here, so a
//! partition taken over loads its window afresh from the records, with
//! whatever the previous owner committed; a scope's window is freed with
//! its last handle. Memory is therefore one window per scope in use.

use super::Store;
use crate::ledger::{self, Ledger, LedgerStats};
use crate::{Scope, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// A ledger, loaded once, on first use.
#[derive(Debug, Default)]
pub(super) struct LazyLedger {
    loaded: OnceLock<Ledger>,
    /// Held while loading, so a scope's records are read once.
    loading: Mutex<()>,
}

impl LazyLedger {
    /// A ledger already loaded (the store's own, at open).
    pub(super) fn loaded(ledger: Ledger) -> Self {
        Self {
            loaded: OnceLock::from(ledger),
            loading: Mutex::new(()),
        }
    }

    /// The ledger, loaded by `load` if this is its first use; a failed load
    /// is tried again at the next use.
    fn get_or_load(
        &self,
        load: impl FnOnce() -> Result<Ledger, StoreError>,
    ) -> Result<&Ledger, StoreError> {
        if let Some(ledger) = self.loaded.get() {
            return Ok(ledger);
        }
        let _loading = self.loading.lock().expect("ledger load lock");
        if let Some(ledger) = self.loaded.get() {
            return Ok(ledger);
        }
        let ledger = load()?;
        // Under `loading`, and not loaded: this sets it.
        Ok(self.loaded.get_or_init(|| ledger))
    }
}

/// The scopes' ledgers in use, shared by a store's handles.
#[derive(Debug)]
pub(super) struct Ledgers {
    /// Every window's size: [`crate::StoreOptions::ledger_window`].
    pub(super) window: usize,
    /// By scope; an entry whose handles are all gone is replaced when asked
    /// for again, and swept when another scope is added.
    scopes: Mutex<HashMap<Scope, Weak<LazyLedger>>>,
}

impl Ledgers {
    /// No scope in use yet; windows of `window` marks.
    pub(super) fn new(window: usize) -> Self {
        Self {
            window,
            scopes: Mutex::new(HashMap::new()),
        }
    }

    /// `scope`'s ledger: the one in use, or a new one, not loaded yet.
    pub(super) fn of(&self, scope: &Scope) -> Arc<LazyLedger> {
        let mut scopes = self.scopes.lock().expect("scope ledgers lock");
        if let Some(ledger) = scopes.get(scope).and_then(Weak::upgrade) {
            return ledger;
        }
        scopes.retain(|_, ledger| ledger.strong_count() > 0);
        let ledger = Arc::new(LazyLedger::default());
        scopes.insert(scope.clone(), Arc::downgrade(&ledger));
        ledger
    }
}

impl Store {
    /// This store's ledger: its scope's (loaded now if this is its first
    /// use), or the store's own.
    pub(super) fn ledger(&self) -> Result<&Ledger, StoreError> {
        self.ledger.get_or_load(|| {
            let shown = self.location.clone().unwrap_or_default();
            let window = ledger::load(
                self.backend.as_ref(),
                &shown,
                self.ledgers.window,
                &ledger::Records::of(self.scope()),
                self.scope().and_then(|s| s.fence.clone()),
            )?;
            Ok(Ledger::new(window))
        })
    }

    /// Loads the ledger window of the store's scope now, if it is not yet
    /// (a [scoped](Store::scoped) store otherwise loads it at its first
    /// commit or lookup), and returns its size. A partition's engine calls
    /// this before its first event, on its own thread, so a failure to read
    /// the window stops the partition rather than a lookup.
    ///
    /// ```
    /// use herald_store::{Scope, Store};
    /// let store = Store::temporary()?;
    /// let p3 = store.scoped(Scope { name: "p3".into(), fence: None });
    /// assert_eq!(p3.load_ledger()?.marks, 0);
    /// # Ok::<(), herald_store::StoreError>(())
    /// ```
    pub fn load_ledger(&self) -> Result<LedgerStats, StoreError> {
        Ok(self.ledger()?.stats())
    }

    /// True if `rule` has completed the event with these token bytes (in
    /// this store's scope, if it has one).
    pub fn is_done(&self, rule: &str, token: &[u8]) -> Result<bool, StoreError> {
        Ok(self.ledger()?.contains(ledger::fingerprint(rule, token)))
    }

    /// True if the pair with this [fingerprint](ledger::fingerprint) is complete
    /// (as far as the ledger window remembers).
    ///
    /// A scope whose window cannot be read (see [`Store::load_ledger`]) has
    /// nothing complete here, with the error logged; its next commit fails
    /// with that error, so nothing done meanwhile is checkpointed.
    pub fn is_marked(&self, fingerprint: u128) -> bool {
        match self.ledger() {
            Ok(ledger) => ledger.contains(fingerprint),
            Err(e) => {
                tracing::error!(error = %e, scope = ?self.scope().map(|s| &s.name), "the dedupe ledger window cannot be read");
                false
            }
        }
    }

    /// The ledger's size and age, for `herald status` (the scope's, for a
    /// scoped store; an empty window if it cannot be read, with the error
    /// logged).
    pub fn ledger_stats(&self) -> LedgerStats {
        match self.ledger() {
            Ok(ledger) => ledger.stats(),
            Err(e) => {
                tracing::error!(error = %e, scope = ?self.scope().map(|s| &s.name), "the dedupe ledger window cannot be read");
                LedgerStats {
                    marks: 0,
                    window: self.ledgers.window,
                    oldest_ms: None,
                }
            }
        }
    }
}
