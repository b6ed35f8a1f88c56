//! Replacing the rules of an engine between runs (hot reload).
//!
//! A reload never changes the rules under a running pipeline. Whoever runs
//! the engine checks the new set with [`Engine::check_rules`] while the old
//! set keeps running, ends the run (its shutdown future completes: the
//! events in flight finish and commit), calls [`Engine::replace_rules`], and
//! runs again. The new run plans its streams from the new rules and resumes
//! them as any start does: from each rule's recorded floor, a new rule from
//! the server's time now, a stream that took over a rule from the lowest
//! point of its rules; the ledger skips what was already done. Rule state
//! and timers live in the store by rule name, so they are kept.

use crate::config::Config;
use crate::engine::{Core, Engine, EngineError};
use crate::router::Router;
use herald_script::{Rule, RuleSet};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The channel and webhook names that rules may use: the configuration
/// file's, and those the embedding program added.
#[derive(Clone)]
pub(crate) struct Names {
    pub(crate) config: Config,
    pub(crate) notify: Vec<String>,
    pub(crate) webhooks: Vec<String>,
}

impl Names {
    /// Every `notify`/`webhook` target the rules name that is not defined.
    pub(crate) fn check(&self, rules: &RuleSet) -> Result<(), EngineError> {
        let unknown = crate::config::unknown_targets(
            rules.rules(),
            &self.config,
            &self.notify,
            &self.webhooks,
        );
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(EngineError::Rules(unknown))
        }
    }
}

/// How a new rule set differs from the one in use, by rule name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleChanges {
    /// Rules only the new set has.
    pub added: Vec<String>,
    /// Rules only the old set has.
    pub removed: Vec<String>,
    /// Rules in both whose file changed (source or path).
    pub changed: Vec<String>,
}

impl RuleChanges {
    /// The changes from `old` to `new`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use herald_script::Rule;
    /// let engine = Arc::new(herald_script::sandbox::engine());
    /// let rule = |name: &str, watch: &str| Rule::from_source(engine.clone(), format!("rules/{name}.rhai"),
    ///     &format!("const RULE = #{{ watch: \"{watch}\" }};\nfn handle(event) {{}}")).unwrap();
    /// let changes = herald_engine::reload::RuleChanges::between(
    ///     &[rule("a", "shop.orders"), rule("b", "shop.orders")],
    ///     &[rule("b", "shop.carts"), rule("c", "shop.orders")],
    /// );
    /// assert_eq!((changes.added, changes.removed, changes.changed),
    ///     (vec!["c".to_owned()], vec!["a".to_owned()], vec!["b".to_owned()]));
    /// ```
    pub fn between(old: &[Rule], new: &[Rule]) -> Self {
        let by_name = |rules: &[Rule]| -> BTreeMap<String, (std::path::PathBuf, Arc<str>)> {
            rules
                .iter()
                .map(|r| {
                    (
                        r.name().to_string(),
                        (r.path().to_path_buf(), r.source().clone()),
                    )
                })
                .collect()
        };
        let (old, new) = (by_name(old), by_name(new));
        let mut changes = Self::default();
        for (name, file) in &new {
            match old.get(name) {
                None => changes.added.push(name.clone()),
                Some(before) if before != file => changes.changed.push(name.clone()),
                Some(_) => {}
            }
        }
        changes.removed = old
            .keys()
            .filter(|name| !new.contains_key(*name))
            .cloned()
            .collect();
        changes
    }

    /// True when the two sets are the same files.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl Engine {
    /// Checks `rules` as [`EngineBuilder::build`](crate::EngineBuilder::build)
    /// would: every channel and webhook they name must be defined (when the
    /// configuration came from a file). Callable while a run goes on.
    pub fn check_rules(&self, rules: &RuleSet) -> Result<(), EngineError> {
        match &self.core.names {
            Some(names) => names.check(rules),
            None => Ok(()),
        }
    }

    /// Replaces the rules, between runs (see the [module docs](self)); the
    /// next [`Engine::run`] uses them. Rejects a set that
    /// [`Engine::check_rules`] rejects, keeping the rules in use.
    ///
    /// ```no_run
    /// # async fn demo(mut engine: herald_engine::Engine) -> Result<(), herald_engine::EngineError> {
    /// let rules = herald_script::RuleSet::load_dir("rules").map_err(herald_engine::EngineError::Rules)?;
    /// engine.replace_rules(rules)?;
    /// # Ok(()) }
    /// ```
    pub fn replace_rules(&mut self, rules: RuleSet) -> Result<RuleChanges, EngineError> {
        self.check_rules(&rules)?;
        let changes = RuleChanges::between(self.rules(), rules.rules());
        crate::metrics::rules_loaded(rules.rules().len());
        let core = &self.core;
        self.core = Arc::new(Core {
            router: Router::new(&rules),
            store: core.store.clone(),
            channels: core.channels.clone(),
            settings: core.settings.clone(),
            backoff: core.backoff.clone(),
            options: core.options.clone(),
            limits: core.limits.clone(),
            names: core.names.clone(),
        });
        Ok(changes)
    }
}
