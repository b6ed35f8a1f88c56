//! Rules of one shape share their compiled functions.
//!
//! Rule sets are often generated: thousands of files alike but for `RULE`
//! (a value in the filter, the id). Each compiled on its own holds its own
//! copy of the same functions, most of a rule's memory. After loading, a
//! rule keeps only its functions (the top level ran once, for `RULE`; calls
//! never run it again), and rules whose functions are the same text at the
//! same lines and columns, compiled by the same engine, hold one copy. The
//! same text at the same place compiles to the same functions, with the
//! same positions in any error, and a function sees nothing of the top
//! level (strict variables), so no rule can tell.

use super::Rule;
use rhai::AST;
use std::collections::HashMap;
use std::sync::Arc;

/// Compiled functions by what they were compiled from (see [`key`]), for
/// the rules of one engine.
#[derive(Default)]
pub(crate) struct SharedFunctions(HashMap<String, Arc<AST>>);

impl SharedFunctions {
    /// Gives `rule` the functions of an earlier rule of the same text, or
    /// keeps its own (without its top level) for later ones.
    pub(crate) fn share(&mut self, rule: &mut Rule) {
        let key = key(&rule.ast, &rule.source);
        let functions = self
            .0
            .entry(key)
            .or_insert_with(|| Arc::new(rule.ast.clone_functions_only()));
        rule.ast = functions.clone();
    }
}

/// Each function's signature, the lines and columns its body spans, and the
/// text of those lines: equal keys are equal functions at equal places.
fn key(ast: &AST, source: &str) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let mut functions: Vec<String> = ast
        .iter_fn_def()
        .map(|f| {
            let (start, end) = (f.body.start_position(), f.body.end_position());
            let first = start.line().unwrap_or(1).saturating_sub(1);
            let last = end.line().unwrap_or(lines.len()).min(lines.len());
            let text = lines.get(first..last).unwrap_or(&lines).join("\n");
            format!(
                "{:?} {:?} {} {:?} {start:?}..{end:?}\n{text}",
                f.access, f.this_type, f.name, f.params
            )
        })
        .collect();
    functions.sort_unstable();
    functions.join("\n\u{0}")
}

#[cfg(test)]
mod tests {
    use crate::RuleSet;
    use std::sync::Arc;

    fn write(dir: &std::path::Path, name: &str, kind: &str, body: &str) {
        let text = format!(
            "const RULE = #{{ watch: \"d.c\", on: [\"insert\"], filter: #{{ \"fullDocument.kind\": \"{kind}\" }} }};\nfn handle(event) {{ {body} }}\n"
        );
        std::fs::write(dir.join(format!("{name}.rhai")), text).unwrap();
    }

    #[test]
    fn rules_of_the_same_functions_share_them_and_keep_their_own_spec() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a", "k1", "log(\"info\", \"a\");");
        write(dir.path(), "b", "k22", "log(\"info\", \"a\");");
        write(dir.path(), "c", "k1", "log(\"info\", \"c\");");
        let set = RuleSet::load_dir(dir.path()).unwrap();
        let [a, b, c] = set.rules() else { panic!() };
        assert!(Arc::ptr_eq(&a.ast, &b.ast));
        assert!(!Arc::ptr_eq(&a.ast, &c.ast));
        assert_ne!(
            a.spec().filter.required_equalities()[0].key,
            b.spec().filter.required_equalities()[0].key
        );
        // Each keeps its own name and file for its errors.
        assert_eq!(b.name().as_ref(), "b");
        assert!(b.path().ends_with("b.rhai"));
    }
}
