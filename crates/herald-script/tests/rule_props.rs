//! Rule files are untrusted input: whatever their text, loading one must end
//! in a rule or a diagnostic that points inside the file, never a panic.
//!
//! The default run is short, for CI; the long run (1,000,000 cases each) is
//! `cargo test -p herald-script --test rule_props -- --ignored`.

use herald_script::Rule;
use proptest::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Cases per property in the default run.
const CI_CASES: u32 = 200;
/// Cases per property in the long run (`--ignored`).
const LONG_CASES: u32 = 1_000_000;
/// A hang guard, not a speed check: loading one rule (its top level bounded
/// by the operation limit) ends well within it.
const TIME_LIMIT: Duration = Duration::from_secs(30);

fn long() -> ProptestConfig {
    ProptestConfig {
        cases: LONG_CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A valid rule using every RULE field, for the mutation property.
const VALID: &str = r#"const RULE = #{
    id: "fuzz",
    watch: "finance.expenses",
    on: ["insert", "update"],
    filter: #{ "fullDocument.amount": #{ "$gte": 1000 }, "$or": [#{ a: 1 }, #{ b: #{ "$regex": "^x", "$options": "i" } }] },
    full_document: "updateLookup",
    full_document_before_change: "whenAvailable",
    timeout_ms: 500,
    memory_mib: 8,
};

fn handle(event) {
    let n = event.fullDocument.amount;
    if n > 10 { notify("ops", #{ n: n, id: event.documentKey._id }); }
    set_state("last", n);
}
"#;

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("const RULE = #{ watch: \"a.b\" };\n".to_owned()),
        Just("const RULE = #{ watch: \"a.b\", on: [\"insert\"], filter: #{ x: #{ \"$gt\": 1 } } };\n".to_owned()),
        Just("fn handle(event) { notify(\"c\", #{ a: event.fullDocument }); }\n".to_owned()),
        Just("fn handle(e) { loop { } }\n".to_owned()),
        Just("#{".to_owned()),
        Just("}".to_owned()),
        Just("\"unterminated".to_owned()),
        Just("let x = ;".to_owned()),
        "[ -~\n]{0,30}",
    ]
}

/// Loads `source` and checks the outcome is in bounds.
fn load_is_safe(source: &str) -> Result<(), TestCaseError> {
    let engine = Arc::new(herald_script::sandbox::engine());
    let started = Instant::now();
    let loaded = Rule::from_source(engine, "rules/fuzz.rhai", source);
    prop_assert!(
        started.elapsed() < TIME_LIMIT,
        "took {:?}",
        started.elapsed()
    );
    if let Err(d) = loaded {
        let lines = source.lines().count().max(1);
        prop_assert!(d.line <= lines + 1, "{d} (file has {lines} lines)");
        prop_assert!(!d.message.is_empty());
    }
    Ok(())
}

/// [`VALID`], cut, spliced or corrupted at a random place.
fn mutated() -> impl Strategy<Value = String> {
    (
        any::<prop::sample::Index>(),
        0u8..4,
        "[#{}\\[\\]\":,;()$a-z0-9 \n]{0,4}",
    )
        .prop_map(|(at, how, insert)| {
            let at = at.index(VALID.len() + 1);
            let (before, after) = VALID.split_at(at);
            match how {
                0 => before.to_owned(),
                1 => format!("{before}{insert}{after}"),
                2 => format!("{before}{}", after.get(insert.len()..).unwrap_or_default()),
                _ => format!(
                    "{before}{insert}{}",
                    after.get(insert.len()..).unwrap_or_default()
                ),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CI_CASES))]

    #[test]
    fn loading_never_panics_and_errors_point_inside(parts in prop::collection::vec(fragment(), 0..6)) {
        load_is_safe(&parts.concat())?;
    }

    #[test]
    fn arbitrary_text(text in "\\PC{0,200}") {
        load_is_safe(&text)?;
    }

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        load_is_safe(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn mutated_valid_rules(source in mutated()) {
        load_is_safe(&source)?;
    }
}

proptest! {
    #![proptest_config(long())]

    #[test]
    #[ignore = "long fuzz run: cargo test -- --ignored"]
    fn fragments_long(parts in prop::collection::vec(fragment(), 0..6)) {
        load_is_safe(&parts.concat())?;
    }

    #[test]
    #[ignore = "long fuzz run: cargo test -- --ignored"]
    fn arbitrary_text_long(text in "\\PC{0,200}") {
        load_is_safe(&text)?;
    }

    #[test]
    #[ignore = "long fuzz run: cargo test -- --ignored"]
    fn arbitrary_bytes_long(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        load_is_safe(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    #[ignore = "long fuzz run: cargo test -- --ignored"]
    fn mutated_valid_rules_long(source in mutated()) {
        load_is_safe(&source)?;
    }
}

#[test]
fn the_rule_mutated_is_valid() {
    let engine = Arc::new(herald_script::sandbox::engine());
    Rule::from_source(engine, "rules/fuzz.rhai", VALID).unwrap();
}
