//! Routing: which rules an event goes to, decided in Rust before any script runs.
//!
//! Rules are indexed by operation type, so an event is only tested against
//! rules that handle its kind; then by watch target and filter.

use herald_core::{ChangeEvent, OperationType};
use herald_script::{Rule, RuleSet};
use std::collections::HashMap;

/// An index from events to the rules that accept them.
#[derive(Debug, Clone)]
pub struct Router {
    rules: Vec<Rule>,
    by_operation: HashMap<OperationType, Vec<usize>>,
}

impl Router {
    /// Indexes a rule set.
    pub fn new(rules: &RuleSet) -> Self {
        let rules = rules.rules().to_vec();
        let mut by_operation: HashMap<OperationType, Vec<usize>> = HashMap::new();
        for (index, rule) in rules.iter().enumerate() {
            for op in &rule.spec().on {
                by_operation.entry(op.clone()).or_default().push(index);
            }
        }
        Self {
            rules,
            by_operation,
        }
    }

    /// The rules that accept `event`, in rule-file order.
    pub fn route<'a>(&'a self, event: &'a ChangeEvent) -> impl Iterator<Item = &'a Rule> + 'a {
        self.by_operation
            .get(event.operation_type())
            .into_iter()
            .flatten()
            .map(|&i| &self.rules[i])
            .filter(move |rule| rule.accepts(event))
    }

    /// All rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}
