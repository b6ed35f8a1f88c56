//! Routing: which rules an event goes to, decided in Rust before any script runs.
//!
//! Rules are indexed by operation type, then by one equality each of them
//! requires (`{"fullDocument.kind": "refund"}`): for an event, only the rules
//! whose indexed value occurs in the event, plus the rules without such an
//! equality, are tested. Thousands of rules on one collection then cost
//! little more than ten. The index only narrows the candidates; every
//! candidate's full watch/`on`/filter test decides.

use foldhash::{HashMap, HashMapExt};
use herald_core::filter::{equality_key, for_each_value_at};
use herald_core::{ChangeEvent, OperationType, WatchTarget};
use herald_script::{Rule, RuleSet};
use smallvec::SmallVec;

/// The rules that may accept an event, as indexes into [`Router::rules`],
/// in rule-file order: usually a few, kept inline (up to eight, in the
/// space four `usize` would take).
pub type Candidates = SmallVec<[u32; 8]>;

/// Value key → the rules that require that value at one path.
type ValueIndex = HashMap<Vec<u8>, Vec<u32>>;

/// The rules of one operation type.
#[derive(Debug, Clone, Default)]
struct OpIndex {
    /// Per indexed path, its value index.
    by_path: Vec<(Vec<String>, ValueIndex)>,
    /// Rules with no indexable equality: always tested.
    scan: Vec<u32>,
}

/// An index from events to the rules that accept them.
#[derive(Debug, Clone)]
pub struct Router {
    rules: Vec<Rule>,
    by_operation: HashMap<OperationType, OpIndex>,
    /// Rule name → index, for timers (which name their rule).
    by_name: HashMap<std::sync::Arc<str>, usize>,
}

impl Router {
    /// Indexes a rule set.
    pub fn new(rules: &RuleSet) -> Self {
        let rules = rules.rules().to_vec();
        let mut by_operation: HashMap<OperationType, OpIndex> = HashMap::new();
        for (index, rule) in rules.iter().enumerate() {
            let index = u32::try_from(index).expect("fewer than 2^32 rules");
            let equality = rule.spec().filter.required_equalities().into_iter().next();
            for op in &rule.spec().on {
                let table = by_operation.entry(op.clone()).or_default();
                match &equality {
                    Some(eq) => {
                        let slot = match table.by_path.iter().position(|(p, _)| *p == eq.path) {
                            Some(i) => i,
                            None => {
                                table.by_path.push((eq.path.clone(), HashMap::new()));
                                table.by_path.len() - 1
                            }
                        };
                        table.by_path[slot]
                            .1
                            .entry(eq.key.clone())
                            .or_default()
                            .push(index);
                    }
                    None => table.scan.push(index),
                }
            }
        }
        let by_name = rules
            .iter()
            .enumerate()
            .map(|(index, rule)| (rule.name().clone(), index))
            .collect();
        Self {
            rules,
            by_operation,
            by_name,
        }
    }

    /// The rule named `name`, if it is loaded.
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.by_name.get(name).map(|&index| &self.rules[index])
    }

    /// The rules that accept `event`, read from a stream on `scope` (if it
    /// watches a target), in rule-file order.
    pub fn route<'a>(
        &'a self,
        event: &'a ChangeEvent,
        scope: Option<&'a WatchTarget>,
    ) -> impl Iterator<Item = &'a Rule> + 'a {
        self.candidates(event)
            .filter(move |rule| rule.accepts_in(event, scope))
    }

    /// The rules that may accept `event` (its operation type, and the value
    /// each rule's indexed equality requires), in rule-file order; each must
    /// still be tested with [`Rule::accepts_in`].
    pub fn candidates<'a>(&'a self, event: &'a ChangeEvent) -> impl Iterator<Item = &'a Rule> + 'a {
        self.candidate_indexes(event)
            .into_iter()
            .map(|i| &self.rules[i as usize])
    }

    /// [`Router::candidates`] as indexes into [`Router::rules`], worked out
    /// apart from the rules (the dispatch does it, so the workers do not).
    ///
    /// ```
    /// use herald_engine::router::Router;
    /// use herald_script::{Rule, RuleSet};
    /// use std::sync::Arc;
    /// let engine = Arc::new(herald_script::sandbox::engine());
    /// let rule = |name: &str, kind: &str| {
    ///     let source = format!("const RULE = #{{ watch: \"d.c\", on: [\"insert\"], filter: #{{ \"fullDocument.kind\": \"{kind}\" }} }};\nfn handle(event) {{}}");
    ///     Rule::from_source(engine.clone(), format!("{name}.rhai"), &source).unwrap()
    /// };
    /// let router = Router::new(&RuleSet::from_rules(vec![rule("a", "x"), rule("b", "y")]));
    /// let raw = bson::rawdoc! {
    ///     "_id": { "_data": "01" }, "operationType": "insert", "ns": { "db": "d", "coll": "c" },
    ///     "documentKey": { "_id": 1 }, "fullDocument": { "_id": 1, "kind": "y" },
    /// };
    /// let event = herald_core::ChangeEvent::from_raw(raw).unwrap();
    /// assert_eq!(router.candidate_indexes(&event).as_slice(), [1]);
    /// assert_eq!(router.rules()[1].name().as_ref(), "b");
    /// assert!(!router.candidate_indexes(&event).spilled(), "kept inline");
    /// ```
    pub fn candidate_indexes(&self, event: &ChangeEvent) -> Candidates {
        let mut candidates = Candidates::new();
        if let Some(table) = self.by_operation.get(event.operation_type()) {
            candidates.extend_from_slice(&table.scan);
            for (path, values) in &table.by_path {
                for_each_value_at(event.raw(), path, |value| {
                    if let Some(rules) = equality_key(value).and_then(|key| values.get(&key)) {
                        candidates.extend_from_slice(rules);
                    }
                });
            }
            candidates.sort_unstable();
            candidates.dedup();
        }
        candidates
    }

    /// All rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{Bson, RawDocumentBuf, doc};
    use proptest::prelude::*;
    use std::sync::Arc;

    /// Writes a filter as a Rhai object map literal.
    fn rhai_map(doc: &bson::Document) -> String {
        let fields: Vec<String> = doc
            .iter()
            .map(|(k, v)| format!("\"{k}\": {}", rhai_value(v)))
            .collect();
        format!("#{{ {} }}", fields.join(", "))
    }

    fn rhai_value(v: &Bson) -> String {
        match v {
            Bson::Int32(n) => n.to_string(),
            Bson::Int64(n) => n.to_string(),
            Bson::Double(x) => format!("{x:.1}"),
            Bson::String(s) => format!("\"{s}\""),
            Bson::Boolean(b) => b.to_string(),
            Bson::Null => "()".into(),
            Bson::Document(d) => rhai_map(d),
            other => panic!("not used in these filters: {other}"),
        }
    }

    fn value() -> impl Strategy<Value = Bson> {
        prop_oneof![
            (0i32..4).prop_map(Bson::Int32),
            (0i64..4).prop_map(Bson::Int64),
            (0i32..4).prop_map(|n| Bson::Double(f64::from(n))),
            "[ab]".prop_map(Bson::String),
            any::<bool>().prop_map(Bson::Boolean),
            Just(Bson::Null),
        ]
    }

    fn field_value() -> impl Strategy<Value = Bson> {
        prop_oneof![
            value(),
            prop::collection::vec(value(), 0..3).prop_map(Bson::Array)
        ]
    }

    fn rule_filter() -> impl Strategy<Value = bson::Document> {
        prop_oneof![
            value().prop_map(|v| doc! {"fullDocument.k": v}),
            value().prop_map(|v| doc! {"fullDocument.k": {"$eq": v}}),
            (value(), value()).prop_map(|(a, b)| doc! {"fullDocument.k": a, "fullDocument.j": b}),
            value().prop_map(|v| doc! {"fullDocument.k": {"$ne": v}}),
            Just(doc! {}),
        ]
    }

    proptest! {
        /// The index never loses a rule the filters match, nor adds one they do not.
        #[test]
        fn indexed_routing_equals_testing_every_rule(filters in prop::collection::vec(rule_filter(), 1..12), k in field_value(), j in field_value()) {
            let engine = Arc::new(herald_script::sandbox::engine());
            let rules: Vec<Rule> = filters.iter().enumerate().map(|(i, f)| {
                let source = format!("const RULE = #{{ watch: \"d.c\", on: [\"insert\"], filter: {} }};\nfn handle(event) {{}}", rhai_map(f));
                Rule::from_source(engine.clone(), format!("r{i}.rhai"), &source).unwrap()
            }).collect();
            let router = Router::new(&RuleSet::from_rules(rules.clone()));
            let raw = RawDocumentBuf::from_document(&doc! {
                "_id": {"_data": "01"}, "operationType": "insert", "ns": {"db": "d", "coll": "c"},
                "documentKey": {"_id": 1}, "fullDocument": {"_id": 1, "k": k, "j": j},
            }).unwrap();
            let event = ChangeEvent::from_raw(raw).unwrap();
            let routed: Vec<&str> = router.route(&event, None).map(|r| r.name().as_ref()).collect();
            let linear: Vec<&str> = rules.iter().filter(|r| r.accepts(&event)).map(|r| r.name().as_ref()).collect();
            prop_assert_eq!(routed, linear);
        }
    }
}
