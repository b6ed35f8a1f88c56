//! Calls to functions that do not exist, found when a rule compiles.
//!
//! Rhai resolves function calls at run time, so `send_email(..)` compiles
//! and fails every event it handles. A rule's calls are checked against
//! what its engine has (builtins, standard library, herald's intents) and
//! the functions its file defines, so the typo is an error at load with
//! `file:line:col`. A call through a variable holding a function pointer
//! (`let f = |x| x; f(1)`) is not checked, nor are method calls
//! (`x.name(..)`): a map may hold a function under any key.

use rhai::{AST, ASTNode, Engine, Expr, Stmt};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};

/// A call to a function that is neither a builtin nor defined in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCall {
    /// The function's name.
    pub name: String,
    /// 1-based line of the call.
    pub line: usize,
    /// 1-based column of the call.
    pub column: usize,
    /// True for a method call (`x.name(..)`).
    pub method: bool,
}

/// Names Rhai handles itself, not found in any module.
const KEYWORDS: [&str; 12] = [
    "print",
    "debug",
    "type_of",
    "eval",
    "Fn",
    "call",
    "curry",
    "is_shared",
    "is_def_var",
    "is_def_fn",
    "this",
    "global",
];

/// The functions an engine has, by name (computed once per engine).
fn known_functions(engine: &Arc<Engine>) -> Arc<HashSet<String>> {
    type Cache = Mutex<Vec<(Weak<Engine>, Arc<HashSet<String>>)>>;
    static CACHE: Cache = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache.retain(|(weak, _)| weak.strong_count() > 0);
    if let Some((_, names)) = cache
        .iter()
        .find(|(weak, _)| weak.upgrade().is_some_and(|e| Arc::ptr_eq(&e, engine)))
    {
        return names.clone();
    }
    let names: HashSet<String> = engine
        .collect_fn_metadata(None, |info| Some(info.metadata.name.to_string()), true)
        .into_iter()
        .chain(KEYWORDS.iter().map(|k| (*k).to_owned()))
        .collect();
    let names = Arc::new(names);
    cache.push((Arc::downgrade(engine), names.clone()));
    names
}

/// Every call in `ast` to a function `engine` does not have and the file
/// does not define, in source order; [`crate::sandbox::BLOCKING_FUNCTIONS`]
/// count as unknown.
///
/// ```
/// use std::sync::Arc;
/// let engine = Arc::new(herald_script::sandbox::engine());
/// let ast = engine.compile("fn helper() { 1 } fn handle(e) { helper(); log(\"x\"); send_email(1); }").unwrap();
/// let unknown = herald_script::calls::unknown_calls(&engine, &ast);
/// assert_eq!(unknown.len(), 1);
/// assert_eq!(unknown[0].name, "send_email");
/// ```
pub fn unknown_calls(engine: &Arc<Engine>, ast: &AST) -> Vec<UnknownCall> {
    let known = known_functions(engine);
    let defined: HashSet<&str> = ast.iter_functions().map(|f| f.name).collect();
    // A variable holding a function pointer can be called by its name.
    let mut variables: HashSet<String> = ast
        .iter_functions()
        .flat_map(|f| f.params.into_iter().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let mut calls = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, position)))
            | Some(ASTNode::Stmt(Stmt::FnCall(call, position))) => {
                calls.push((call.clone(), *position, false));
            }
            Some(ASTNode::Stmt(Stmt::Var(var, ..))) => {
                variables.insert(var.0.name.to_string());
            }
            Some(ASTNode::Stmt(Stmt::For(for_loop, ..))) => {
                variables.insert(for_loop.0.name.to_string());
                if let Some(counter) = &for_loop.1 {
                    variables.insert(counter.name.to_string());
                }
            }
            _ => {}
        }
        true
    });
    let blocking = crate::sandbox::BLOCKING_FUNCTIONS;
    let mut unknown: Vec<UnknownCall> = calls
        .into_iter()
        .filter(|(call, _, _)| {
            let name = call.name.as_str();
            let operator = call.op_token.is_some()
                || !name.starts_with(|c: char| c.is_alphabetic() || c == '_');
            if operator || !call.namespace.is_empty() {
                return false;
            }
            if blocking.contains(&name) && !defined.contains(name) {
                return true;
            }
            !(known.contains(name) || defined.contains(name) || variables.contains(name))
        })
        .map(|(call, position, method)| UnknownCall {
            name: call.name.to_string(),
            line: position.line().unwrap_or(0),
            column: position.position().unwrap_or(0),
            method,
        })
        .collect();
    unknown.sort_by_key(|c| (c.line, c.column));
    unknown.dedup();
    unknown
}

/// Every `insert_doc` or `upsert_doc` call whose literal collection cannot be written to,
/// with why, in source order.
///
/// ```
/// let engine = herald_script::sandbox::engine();
/// let ast = engine.compile("fn handle(e) { insert_doc(\"audit\", #{}); insert_doc(\"a.log\", #{}); }").unwrap();
/// let bad = herald_script::calls::bad_insert_targets(&ast);
/// assert_eq!(bad.len(), 1);
/// assert!(bad[0].name.contains("db.collection"));
/// ```
pub fn bad_insert_targets(ast: &AST) -> Vec<UnknownCall> {
    let mut bad = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        let call = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, position)))
            | Some(ASTNode::Stmt(Stmt::FnCall(call, position))) => Some((call, position)),
            _ => None,
        };
        if let Some((call, position)) = call
            && crate::intents::WRITE_BUILTINS.contains(&call.name.as_str())
            && let Some(Expr::StringConstant(ns, _)) = call.args.first()
            && let Err(why) = crate::intents::write_namespace(&call.name, ns)
        {
            bad.push(UnknownCall {
                name: why,
                line: position.line().unwrap_or(0),
                column: position.position().unwrap_or(0),
                method: false,
            });
        }
        true
    });
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(source: &str) -> Vec<String> {
        let engine = Arc::new(crate::sandbox::engine());
        let ast = engine.compile(source).unwrap();
        unknown_calls(&engine, &ast)
            .into_iter()
            .map(|c| format!("{}:{}:{}", c.name, c.line, c.column))
            .collect()
    }

    #[test]
    fn builtins_defined_functions_and_function_pointers_are_known() {
        let source = r#"
fn helper(x) { x + 1 }
fn handle(event) {
    let s = "abc";
    let n = s.index_of("b") + s.len() + helper(1);
    print(type_of(n));
    let f = |x| x * 2;
    f.call(2);
    f(3);
    let g = Fn("helper");
    let obj = #{ n: 1, bump: |x| this.n + x };
    obj.bump(1);
    g.call(1);
    for (item, i) in [1, 2] { item(); i(); }
    notify("c", #{ n: n, up: s.to_upper(), has: "a" in s, t: `x${n}` });
    set_state("k", parse_json("{}"));
    log("info", "x");
}"#;
        assert_eq!(unknown(source), Vec::<String>::new());
    }

    #[test]
    fn unknown_functions_and_sleep_are_reported_where_called() {
        let source =
            "fn handle(event) {\n    send_email(1);\n    let x = \"a\".shout();\n    sleep(1);\n}";
        // `shout` is a method: a map could hold it, so it is left to run time.
        assert_eq!(unknown(source), vec!["send_email:2:5", "sleep:4:5"]);
    }
}
