//! Fuzzing the store's record decoding on stable Rust: whatever bytes a
//! record holds (a damaged disk, another program, a future format), reading
//! it gives a value or an error, never a panic.
//!
//! The default run is short, for CI; the long run (1,000,000 cases each) is
//! `cargo test -p herald-store --lib records_fuzz -- --ignored`.

use crate::{Checkpoint, DeadLetter, Store, Timer, keys, ledger};
use proptest::prelude::*;

/// Cases per property in the default run.
const CI_CASES: u32 = 512;
/// Cases per property in the long run (`--ignored`).
const LONG_CASES: u32 = 1_000_000;

fn long() -> ProptestConfig {
    ProptestConfig {
        cases: LONG_CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..256)
}

/// A valid dead letter's bytes, cut or with one byte changed.
fn mutated_dead_letter() -> impl Strategy<Value = Vec<u8>> {
    let letter = bson::doc! {
        "rule": "r", "token": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![1, 2] },
        "event": { "_id": { "_data": "01" }, "operationType": "insert" },
        "error": "e", "attempts": 3_i64, "keys": 2, "effects_done": [{ "n": 1_i64, "digest": 7_i64 }],
        "at": bson::DateTime::from_millis(5),
    };
    let mut valid = Vec::new();
    letter.to_writer(&mut valid).unwrap();
    (
        Just(valid),
        any::<prop::sample::Index>(),
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(|(mut bytes, at, byte, cut)| {
            let at = at.index(bytes.len());
            if cut {
                bytes.truncate(at);
            } else {
                bytes[at] = byte;
            }
            bytes
        })
}

/// Every decoder of a stored value or key, on `bytes`.
fn decode_all(bytes: &[u8]) {
    let _ = Checkpoint::decode(bytes);
    let _ = DeadLetter::from_bytes(1, bytes);
    let _ = Timer::from_bytes(bytes);
    let _ = keys::parse_timer(bytes);
    let _ = keys::parse_timer_entry(bytes);
    if let Some((_, marks)) = ledger::decode(bytes) {
        marks.for_each(drop);
    }
    let _ = keys::parse_ledger_v1(bytes);
    let _ = keys::parse_ledger_group(bytes);
}

/// `bytes` stored under every kind of key, then read through the store's API.
fn read_back(store: &Store, bytes: &[u8]) {
    let keys = [
        keys::checkpoint("s"),
        keys::gap(1),
        keys::state("r", "k"),
        keys::dead_letter(1),
        keys::info("streams"),
        keys::counts("r"),
        keys::timer_due(1, "r", "n"),
        keys::timer("r", "n"),
    ];
    for key in &keys {
        store.raw_put(key, bytes).unwrap();
    }
    let _ = store.checkpoint_record("s");
    let _ = store.checkpoints();
    let _ = store.gaps();
    let _ = store.get_state("r", "k");
    let _ = store.dead_letters().count();
    let _ = store.dead_letter(1);
    let _ = store.info("streams");
    let _ = store.rule_counts();
    let _ = store.timers().count();
    let _ = store.timers_due(1).count();
    let _ = store.timer("r", "n");
    let _ = store.timer_stats();
    // A timer index key that is not one.
    store.raw_put([keys::TIMER, 0, 9, b'r'], bytes).unwrap();
    let _ = store.timer_stats();
    // A dead-letter key of the wrong length.
    store.raw_put([keys::DEAD_LETTER, 1], bytes).unwrap();
    let _ = store.dead_letters().count();
    store.raw_clear().unwrap();
}

thread_local! {
    static STORE: Store = Store::temporary().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CI_CASES))]

    #[test]
    fn arbitrary_values_decode_or_fail(bytes in bytes()) {
        decode_all(&bytes);
        STORE.with(|store| read_back(store, &bytes));
    }

    #[test]
    fn damaged_dead_letters_decode_or_fail(bytes in mutated_dead_letter()) {
        decode_all(&bytes);
    }
}

proptest! {
    #![proptest_config(long())]

    #[test]
    #[ignore = "long fuzz run: cargo test -- --ignored"]
    fn arbitrary_values_decode_or_fail_long(bytes in bytes()) {
        decode_all(&bytes);
        STORE.with(|store| read_back(store, &bytes));
    }

    #[test]
    #[ignore = "long fuzz run: cargo test -- --ignored"]
    fn damaged_dead_letters_decode_or_fail_long(bytes in mutated_dead_letter()) {
        decode_all(&bytes);
    }
}
