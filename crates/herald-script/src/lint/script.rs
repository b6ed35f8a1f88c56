//! Every error in a compiled script, found without running it.

use super::Found;
use crate::calls::{bad_insert_targets, unknown_calls};
use crate::rule::HANDLER;
use crate::sandbox::{BLOCKING_FUNCTIONS, SLEEP_REFUSED};
use crate::timers::{ON_TIMER, SETTERS};
use rhai::{AST, ASTNode, Engine, Expr, Stmt};
use std::sync::Arc;

/// Each call to `after` or `at` in a file that defines no `fn on_timer(timer)`:
/// the timer would come due with nothing to handle it.
fn timers_without_on_timer(ast: &AST) -> Vec<Found> {
    let has_on_timer = ast
        .iter_functions()
        .any(|f| f.name == ON_TIMER && f.params.len() == 1);
    if has_on_timer {
        return Vec::new();
    }
    let mut found = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Expr(Expr::FnCall(call, position)))
        | Some(ASTNode::Stmt(Stmt::FnCall(call, position))) = path.last()
            && call.namespace.is_empty()
            && SETTERS.contains(&call.name.as_str())
        {
            found.push(Found::at(
                *position,
                format!(
                    "{}() sets a timer, but the rule has no `fn {ON_TIMER}(timer)` to handle it when it is due; define it",
                    call.name
                ),
            ));
        }
        true
    });
    found
}

/// The errors of `ast`, in source order: calls to functions that do not
/// exist (and to `sleep`), `insert_doc` calls to a collection that cannot
/// be written to, builtins called with arguments they do not take, and a
/// missing `fn handle(event)` (reported at 1:1). Each is independent of the
/// others, so all are reported together.
///
/// ```
/// use std::sync::Arc;
/// let engine = Arc::new(herald_script::sandbox::engine());
/// let ast = engine.compile("fn handle(e) {\n  send_email(1);\n  set_state(\"k\");\n}").unwrap();
/// let found = herald_script::lint::script_errors(&engine, &ast);
/// assert_eq!(found.len(), 2);
/// assert_eq!((found[1].line, found[1].column), (3, 3));
/// ```
pub fn script_errors(engine: &Arc<Engine>, ast: &AST) -> Vec<Found> {
    let mut found: Vec<Found> = unknown_calls(engine, ast)
        .into_iter()
        .map(|call| {
            let message = if BLOCKING_FUNCTIONS.contains(&call.name.as_str()) {
                SLEEP_REFUSED.to_owned()
            } else if call.method {
                format!("unknown method `{}`: no builtin has that name", call.name)
            } else {
                format!(
                    "unknown function `{}`: it is not a builtin and this file does not define it",
                    call.name
                )
            };
            Found {
                line: call.line,
                column: call.column,
                message,
            }
        })
        .collect();
    found.extend(bad_insert_targets(ast).into_iter().map(|bad| Found {
        line: bad.line,
        column: bad.column,
        message: bad.name,
    }));
    found.extend(super::builtin_misuse(engine, ast));
    found.sort_by_key(|f| (f.line, f.column));
    // One error per call: a collection `insert_doc` cannot write to is said
    // rather than whatever else is wrong with its arguments.
    found.dedup_by(|a, b| (a.line, a.column) == (b.line, b.column));
    found.extend(timers_without_on_timer(ast));
    found.sort_by_key(|f| (f.line, f.column));
    let has_handler = ast
        .iter_functions()
        .any(|f| f.name == HANDLER && f.params.len() == 1);
    if !has_handler {
        found.insert(
            0,
            Found {
                line: 1,
                column: 1,
                message: format!(
                    "the rule has no `fn {HANDLER}(event)`; define it to say what happens when an event matches"
                ),
            },
        );
    }
    found
}
