//! Fuzzing the filter compiler and evaluator on stable Rust: any filter
//! document compiles or is refused, and a compiled filter evaluates any
//! document (even raw bytes that only look like one) without panicking.
//!
//! The default run is short, for CI; the long run (1,000,000 cases each) is
//! `cargo test -p herald-core --test filter_fuzz -- --ignored`.

use bson::{Bson, Document, RawDocument, RawDocumentBuf, Regex};
use herald_core::Filter;
use proptest::prelude::*;
use std::time::{Duration, Instant};

/// Cases per property in the default run.
const CI_CASES: u32 = 512;
/// Cases per property in the long run (`--ignored`).
const LONG_CASES: u32 = 1_000_000;
/// A hang guard, not a speed check: compiling and evaluating one case ends
/// well within it.
const TIME_LIMIT: Duration = Duration::from_secs(30);

fn long() -> ProptestConfig {
    ProptestConfig {
        cases: LONG_CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const OPERATORS: [&str; 24] = [
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$exists",
    "$type",
    "$regex",
    "$options",
    "$not",
    "$elemMatch",
    "$size",
    "$all",
    "$mod",
    "$and",
    "$or",
    "$nor",
    "$expr",
    "$where",
    "$bogus",
    "$",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(&OPERATORS[..]).prop_map(str::to_owned),
        Just("a".to_owned()),
        Just("a.b".to_owned()),
        Just("a.0".to_owned()),
        Just("a..b".to_owned()),
        Just("".to_owned()),
        "[a-c.$0-9]{0,5}",
    ]
}

fn scalar() -> impl Strategy<Value = Bson> {
    prop_oneof![
        Just(Bson::Null),
        any::<bool>().prop_map(Bson::Boolean),
        any::<i32>().prop_map(Bson::Int32),
        any::<i64>().prop_map(Bson::Int64),
        any::<f64>().prop_map(Bson::Double),
        Just(Bson::Double(f64::NAN)),
        "[a-c]{0,3}".prop_map(Bson::String),
        prop::sample::select(vec!["double", "string", "number", "array", "nope", ""])
            .prop_map(|s| Bson::String(s.to_owned())),
        ("[a-c()\\[\\]*+?|\\\\^$.{}0-9]{0,8}", "[imsxuq]{0,3}")
            .prop_map(|(pattern, options)| Bson::RegularExpression(Regex { pattern, options })),
        prop::sample::select(vec![
            "1.5",
            "-0",
            "NaN",
            "Infinity",
            "1E-6176",
            "9.999E+6144"
        ])
        .prop_map(|s| Bson::Decimal128(s.parse().unwrap())),
        any::<i64>().prop_map(|n| Bson::DateTime(bson::DateTime::from_millis(n))),
        Just(Bson::MinKey),
        Just(Bson::MaxKey),
    ]
}

fn value() -> impl Strategy<Value = Bson> {
    scalar().prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Bson::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
        ]
    })
}

fn document() -> impl Strategy<Value = Document> {
    prop::collection::vec((key(), value()), 0..5).prop_map(|fields| fields.into_iter().collect())
}

/// Compiles `filter` and, if it compiles, evaluates it on each target, in bounds.
fn compile_and_match(filter: &Document, targets: &[&RawDocument]) -> Result<(), TestCaseError> {
    let started = Instant::now();
    if let Ok(compiled) = Filter::compile(filter) {
        for target in targets {
            compiled.matches(target);
        }
    }
    prop_assert!(
        started.elapsed() < TIME_LIMIT,
        "took {:?}",
        started.elapsed()
    );
    Ok(())
}

fn raw(doc: &Document) -> RawDocumentBuf {
    RawDocumentBuf::from_document(doc).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CI_CASES))]

    #[test]
    fn generated_filters_and_documents(filter in document(), target in document()) {
        compile_and_match(&filter, &[&raw(&target)])?;
    }

    /// A filter evaluated on bytes that pass `RawDocument`'s header check but
    /// may hold anything: the evaluator reads fields lazily and must not trust them.
    #[test]
    fn documents_of_arbitrary_bytes(filter in document(), body in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = ((body.len() + 5) as i32).to_le_bytes().to_vec();
        bytes.extend_from_slice(&body);
        bytes.push(0);
        let target = RawDocument::from_bytes(&bytes).unwrap();
        compile_and_match(&filter, &[target])?;
    }

    /// Filters decoded from the bytes of a generated filter with a few bytes
    /// changed (arbitrary bytes are almost never BSON at all).
    #[test]
    fn filters_of_mutated_bytes(filter in document(), flips in flips(), target in document()) {
        if let Some(filter) = mutated(&filter, &flips) {
            compile_and_match(&filter, &[&raw(&target)])?;
        }
    }
}

proptest! {
    #![proptest_config(long())]

    #[test]
    #[ignore = "long fuzz run: cargo test -- --ignored"]
    fn generated_filters_and_documents_long(filter in document(), target in document()) {
        compile_and_match(&filter, &[&raw(&target)])?;
    }

    #[test]
    #[ignore = "long fuzz run: cargo test -- --ignored"]
    fn documents_of_arbitrary_bytes_long(filter in document(), body in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = ((body.len() + 5) as i32).to_le_bytes().to_vec();
        bytes.extend_from_slice(&body);
        bytes.push(0);
        let target = RawDocument::from_bytes(&bytes).unwrap();
        compile_and_match(&filter, &[target])?;
    }

    #[test]
    #[ignore = "long fuzz run: cargo test -- --ignored"]
    fn filters_of_mutated_bytes_long(filter in document(), flips in flips(), target in document()) {
        if let Some(filter) = mutated(&filter, &flips) {
            compile_and_match(&filter, &[&raw(&target)])?;
        }
    }
}

/// A few (position, byte) changes.
fn flips() -> impl Strategy<Value = Vec<(prop::sample::Index, u8)>> {
    prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)
}

/// `filter`'s bytes with `flips` applied after the length prefix, if they
/// still decode.
fn mutated(filter: &Document, flips: &[(prop::sample::Index, u8)]) -> Option<Document> {
    let mut bytes = bson::RawDocumentBuf::from_document(filter)
        .ok()?
        .as_bytes()
        .to_vec();
    for (at, byte) in flips {
        let i = 4 + at.index(bytes.len() - 4);
        bytes[i] = *byte;
    }
    Document::from_reader(bytes.as_slice()).ok()
}

#[test]
fn mutated_filters_often_still_decode() {
    // The property above runs only on what decodes: make sure that is often.
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let decoded = (0..200)
        .filter(|_| {
            let filter = document().new_tree(&mut runner).unwrap().current();
            let flips = flips().new_tree(&mut runner).unwrap().current();
            mutated(&filter, &flips).is_some()
        })
        .count();
    assert!(decoded >= 20, "{decoded} of 200 decoded");
}
