//! Property: whatever sequence of groups is committed, reopening the store
//! shows exactly the model's state: every group whole, none partly.

use bson::Bson;
use herald_core::Position;
use herald_store::Store;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
enum Change {
    Done(u8, u8),
    Set(u8, u8, i32),
    Del(u8, u8),
    Checkpoint(u16),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (0u8..3, 0u8..20).prop_map(|(r, t)| Change::Done(r, t)),
        (0u8..3, 0u8..5, any::<i32>()).prop_map(|(r, k, v)| Change::Set(r, k, v)),
        (0u8..3, 0u8..5).prop_map(|(r, k)| Change::Del(r, k)),
        any::<u16>().prop_map(Change::Checkpoint),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn groups_apply_whole(groups in prop::collection::vec(prop::collection::vec(change(), 0..8), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let mut done = BTreeSet::new();
        let mut state = BTreeMap::new();
        let mut checkpoint = None;
        {
            let store = Store::open(dir.path()).unwrap();
            for group in &groups {
                let mut commit = store.begin();
                for change in group {
                    match *change {
                        Change::Done(r, t) => { commit.mark_done(&format!("r{r}"), &[t]); done.insert((r, t)); }
                        Change::Set(r, k, v) => { commit.set_state(&format!("r{r}"), &format!("k{k}"), &Bson::Int32(v)).unwrap(); state.insert((r, k), v); }
                        Change::Del(r, k) => { commit.del_state(&format!("r{r}"), &format!("k{k}")); state.remove(&(r, k)); }
                        Change::Checkpoint(o) => { let p = Position::File { offset: o.into(), line: 1 }; commit.checkpoint("src", &p); checkpoint = Some(p); }
                    }
                }
                store.commit(commit).unwrap();
            }
        }
        let store = Store::open(dir.path()).unwrap();
        for r in 0..3u8 {
            for t in 0..20u8 {
                prop_assert_eq!(store.is_done(&format!("r{r}"), &[t]).unwrap(), done.contains(&(r, t)));
            }
            for k in 0..5u8 {
                let expected = state.get(&(r, k)).map(|v| Bson::Int32(*v));
                prop_assert_eq!(store.get_state(&format!("r{r}"), &format!("k{k}")).unwrap(), expected);
            }
        }
        prop_assert_eq!(store.checkpoint("src").unwrap(), checkpoint);
    }
}
