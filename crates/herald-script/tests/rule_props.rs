//! Rule files are untrusted input: whatever their text, loading one must end
//! in a rule or a diagnostic that points inside the file, never a panic.

use herald_script::Rule;
use proptest::prelude::*;
use std::sync::Arc;

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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn loading_never_panics_and_errors_point_inside(parts in prop::collection::vec(fragment(), 0..6)) {
        let source: String = parts.concat();
        let engine = Arc::new(herald_script::sandbox::engine());
        if let Err(d) = Rule::from_source(engine, "rules/fuzz.rhai", &source) {
            let lines = source.lines().count().max(1);
            prop_assert!(d.line <= lines + 1, "{d} (file has {lines} lines)");
            prop_assert!(!d.message.is_empty());
        }
    }
}
