//! Property: whatever timer changes are committed, in whatever groups, the
//! store lists what a plain map of (rule, name) to timer says, and its two
//! indexes (by due time, by name) agree.

use crate::{Store, Timer, TimerStats, keys};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};

/// Rule names of different lengths, so the key order (shorter rule first)
/// is exercised.
const RULES: [&str; 3] = ["a", "b", "aa"];

#[derive(Debug, Clone)]
enum Op {
    Set {
        rule: usize,
        name: u8,
        due_ms: i64,
        version: u64,
    },
    Cancel {
        rule: usize,
        name: u8,
    },
    Fire {
        rule: usize,
        name: u8,
        version: u64,
    },
}

/// Few names, due times and versions, so that changes meet: replacements,
/// ties in due time, fires that match and fires that are stale.
fn op() -> impl Strategy<Value = Op> {
    let id = (0..RULES.len(), 0u8..3);
    prop_oneof![
        3 => (id.clone(), -4i64..4, 0u64..3)
            .prop_map(|((rule, name), due_ms, version)| Op::Set { rule, name, due_ms, version }),
        1 => id.clone().prop_map(|(rule, name)| Op::Cancel { rule, name }),
        2 => (id, 0u64..3).prop_map(|((rule, name), version)| Op::Fire { rule, name, version }),
    ]
}

fn timer(rule: usize, name: u8, due_ms: i64, version: u64) -> Timer {
    Timer {
        rule: RULES[rule].into(),
        name: name.to_string(),
        due_ms,
        set_at_ms: due_ms - 1,
        payload: bson::Bson::Int64(due_ms),
        ns: "db.c".into(),
        document_key: None,
        version,
    }
}

type Model = HashMap<(String, String), Timer>;

/// The model's timers in the store's order: due, then rule (shorter first,
/// as its key is length-prefixed), then name.
fn in_order(model: &Model) -> Vec<Timer> {
    let mut all: Vec<Timer> = model.values().cloned().collect();
    all.sort_by(|a, b| {
        (a.due_ms, a.rule.len(), &a.rule, &a.name).cmp(&(b.due_ms, b.rule.len(), &b.rule, &b.name))
    });
    all
}

fn stats(model: &Model) -> Vec<TimerStats> {
    let mut by_rule: BTreeMap<&str, TimerStats> = BTreeMap::new();
    for t in model.values() {
        let s = by_rule.entry(&t.rule).or_insert(TimerStats {
            rule: t.rule.clone(),
            pending: 0,
            next_due_ms: i64::MAX,
        });
        s.pending += 1;
        s.next_due_ms = s.next_due_ms.min(t.due_ms);
    }
    by_rule.into_values().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn timers_follow_a_model(groups in prop::collection::vec(prop::collection::vec(op(), 0..10), 1..6)) {
        let store = Store::temporary().unwrap();
        let mut model = Model::new();
        for group in &groups {
            let mut commit = store.begin();
            for op in group {
                match *op {
                    Op::Set { rule, name, due_ms, version } => {
                        let t = timer(rule, name, due_ms, version);
                        commit.set_timer(&t).unwrap();
                        model.insert((t.rule.clone(), t.name.clone()), t);
                    }
                    Op::Cancel { rule, name } => {
                        commit.cancel_timer(RULES[rule], &name.to_string());
                        model.remove(&(RULES[rule].into(), name.to_string()));
                    }
                    Op::Fire { rule, name, version } => {
                        commit.fire_timer(RULES[rule], &name.to_string(), version);
                        let id = (RULES[rule].to_owned(), name.to_string());
                        if model.get(&id).is_some_and(|t| t.version == version) {
                            model.remove(&id);
                        }
                    }
                }
            }
            store.commit(commit).unwrap();
        }
        let listed: Vec<Timer> = store.timers().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(&listed, &in_order(&model));
        let due: Vec<Timer> = store.timers_due(0).collect::<Result<_, _>>().unwrap();
        let expected: Vec<Timer> = in_order(&model).into_iter().filter(|t| t.due_ms <= 0).collect();
        prop_assert_eq!(due, expected);
        prop_assert_eq!(store.timer_stats().unwrap(), stats(&model));
        for rule in RULES {
            for name in 0..3u8 {
                let id = (rule.to_owned(), name.to_string());
                let stored = store.timer(rule, &id.1).unwrap();
                prop_assert_eq!(stored.as_ref(), model.get(&id));
            }
        }
        // The index by name holds exactly one entry per record, naming it.
        let entries: Vec<(String, String, i64, u64)> = store
            .raw_scan([keys::TIMER])
            .map(|item| {
                let (key, value) = item.unwrap();
                let (rule, name) = keys::parse_timer(&key).unwrap();
                let (due, version) = keys::parse_timer_entry(&value).unwrap();
                (rule.to_owned(), name.to_owned(), due, version)
            })
            .collect();
        prop_assert_eq!(entries.len(), listed.len());
        for (rule, name, due, version) in entries {
            let record = store.raw_get(keys::timer_due(due, &rule, &name)).unwrap().unwrap();
            prop_assert_eq!(Timer::from_bytes(&record).unwrap().version, version);
        }
    }
}
