//! The Rhai engine every rule runs in: limits set, I/O removed, builtins added.

use crate::limits::*;
use rhai::Engine;

/// Functions of Rhai's standard library a handler may not call: they block
/// the thread. (Rhai's clock functions are left out of the build.)
pub const BLOCKING_FUNCTIONS: [&str; 1] = ["sleep"];

/// Why `sleep` is refused.
pub const SLEEP_REFUSED: &str =
    "`sleep` is not available in rules: a handler must not block the events behind it";

/// Builds the shared sandboxed engine.
///
/// - every limit of [`crate::limits`];
/// - `eval` disabled and module loading from disk impossible;
/// - nothing that blocks or reads the clock: `sleep` is refused when a rule
///   compiles, and Rhai's time functions are not built (`no_time`);
/// - each call's deadline, memory budget and cancel flag checked before
///   every operation ([`crate::budget`]);
/// - `print` and `debug` go to herald's log instead of stdout;
/// - the BSON value types, the event view and the intent builtins registered.
///
/// ```
/// let engine = herald_script::sandbox::engine();
/// assert!(engine.compile("eval(\"1\")").is_err());
/// assert!(engine.run("sleep(3600)").is_err());
/// ```
pub fn engine() -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(MAX_OPERATIONS)
        .set_max_call_levels(MAX_CALL_LEVELS)
        .set_max_expr_depths(MAX_EXPR_DEPTH.0, MAX_EXPR_DEPTH.1)
        .set_max_string_size(MAX_STRING_SIZE)
        .set_max_array_size(MAX_ARRAY_SIZE)
        .set_max_map_size(MAX_MAP_SIZE)
        .set_max_variables(MAX_VARIABLES)
        .set_max_modules(0)
        .set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new())
        .set_strict_variables(true)
        .disable_symbol("eval");
    // Rhai's `sleep` blocks the thread: a rule calling it by name is refused
    // when it compiles ([`crate::calls`]); one reaching it through a function
    // pointer gets this error instead.
    engine.register_fn(
        "sleep",
        |_seconds: rhai::INT| -> Result<(), Box<rhai::EvalAltResult>> { Err(SLEEP_REFUSED.into()) },
    );
    engine.register_fn(
        "sleep",
        |_seconds: rhai::FLOAT| -> Result<(), Box<rhai::EvalAltResult>> {
            Err(SLEEP_REFUSED.into())
        },
    );
    engine.on_progress(crate::budget::on_progress);
    engine.on_print(|text| tracing::info!(target: "herald::rule", "{text}"));
    engine.on_debug(|text, source, pos| {
        tracing::debug!(target: "herald::rule", source = source.unwrap_or(""), line = pos.line().unwrap_or(0), "{text}");
    });
    crate::values::register_types(&mut engine);
    crate::event_view::register(&mut engine);
    crate::intents::register(&mut engine);
    crate::timers::register(&mut engine);
    engine
}

#[cfg(test)]
mod tests {
    #[test]
    fn imports_are_refused() {
        let engine = super::engine();
        let ast = engine.compile("import \"std\" as s; 1").unwrap();
        assert!(engine.run_ast(&ast).is_err());
    }
}
