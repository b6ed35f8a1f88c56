//! One compiled rule and how it handles an event.

use crate::budget::{CallLimits, Exceeded};
use crate::diagnostic::{Diagnostic, at_position, line_column, locate};
use crate::event_view::EventView;
use crate::intents::{Recorder, StateRead};
use crate::spec::{RuleSpec, SpecError};
use herald_core::{ChangeEvent, Intent};
use rhai::{AST, CallFnOptions, Dynamic, Engine, EvalAltResult, Map, Scope};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The function every rule must define.
pub const HANDLER: &str = "handle";

/// What a shared state scope's name is prefixed with as a state owner
/// (see [`Rule::state_owner`]).
pub const SHARED_STATE_PREFIX: &str = "@";

/// A rule: its spec, its compiled script, and the engine it runs in.
///
/// ```
/// use std::sync::Arc;
/// use herald_script::{Rule, NoState};
/// let engine = Arc::new(herald_script::sandbox::engine());
/// let source = r#"
///     const RULE = #{ watch: "shop.orders", on: ["insert"] };
///     fn handle(event) { notify("ops", #{ subject: `order ${event.documentKey._id}` }); }
/// "#;
/// let rule = Rule::from_source(engine, "rules/orders.rhai", source).unwrap();
/// assert_eq!(rule.name().as_ref(), "orders");
/// ```
#[derive(Clone)]
pub struct Rule {
    name: Arc<str>,
    path: PathBuf,
    source: Arc<str>,
    /// Shared by the rule's clones (a router's, a reload's): with thousands
    /// of rules, copies of each filter add up.
    spec: Arc<RuleSpec>,
    ast: Arc<AST>,
    engine: Arc<Engine>,
    targets: Arc<[crate::targets::NamedTarget]>,
    /// Warnings found when it compiled (see [`Rule::warnings`]).
    warnings: Arc<[Diagnostic]>,
    /// The state scope it reads and writes (see [`Rule::state_owner`]).
    state_owner: Arc<str>,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl Rule {
    /// Compiles a rule from its text; `path` names it (the file stem is the
    /// rule's name). On failure, the first problem (see [`Rule::load`]).
    pub fn from_source(
        engine: Arc<Engine>,
        path: impl AsRef<Path>,
        source: &str,
    ) -> Result<Self, Diagnostic> {
        Self::load(engine, path, source).map_err(|mut all| all.remove(0))
    }

    /// Compiles a rule from its text and finds every problem in it, in
    /// source order (the list is not empty on failure). A syntax error stops
    /// Rhai's parser, so it comes alone; otherwise the script's errors
    /// ([`crate::lint::script_errors`]), a failure of its top level and the
    /// problems of `RULE` are reported together. A top level that fails (on
    /// an unknown function there, say) leaves `RULE` unevaluated, so its
    /// problems show once that is fixed.
    pub fn load(
        engine: Arc<Engine>,
        path: impl AsRef<Path>,
        source: &str,
    ) -> Result<Self, Vec<Diagnostic>> {
        let path = path.as_ref().to_path_buf();
        let text: Arc<str> = source.into();
        let name: Arc<str> = path
            .file_stem()
            .map_or_else(|| "rule".into(), |s| s.to_string_lossy().into());
        let at = |line: usize, column: usize, message: String| {
            Diagnostic::new(&path, line, column, message).with_source(text.clone())
        };
        let mut ast = engine.compile(source).map_err(|e| {
            vec![at_position(
                &path,
                &text,
                e.position(),
                format!(
                    "syntax error: {}{}",
                    e.err_type(),
                    map_hint(&text, e.position())
                ),
            )]
        })?;
        ast.set_source(path.display().to_string());
        let mut errors: Vec<Diagnostic> = crate::lint::script_errors(&engine, &ast)
            .into_iter()
            .map(|found| at(found.line, found.column, found.message))
            .collect();
        let spec = match Self::run_top_level(&engine, &ast, &path, &text) {
            Ok(globals) => Self::parse_spec(globals, &path, &text)
                .map_err(|wrong| errors.extend(wrong))
                .ok(),
            Err(failed) => {
                // The top level failing on a call already reported: say it once.
                let said = errors
                    .iter()
                    .any(|e| (e.line, e.column) == (failed.line, failed.column));
                if !said {
                    errors.push(failed);
                }
                None
            }
        };
        errors.sort_by_key(|d| (d.line, d.column));
        let spec = match spec {
            Some(spec) if errors.is_empty() => spec,
            _ => return Err(errors),
        };
        let name = spec.id.as_deref().map_or(name, Arc::from);
        let state_owner = match &spec.state {
            Some(scope) => Arc::from(format!("{SHARED_STATE_PREFIX}{scope}")),
            None => name.clone(),
        };
        let targets = crate::targets::named_targets(&ast).into();
        let warnings = crate::lint::never_matches(&spec)
            .map(|why| {
                let (line, column) = locate(&text, "RULE", Some("filter"));
                at(line, column, why)
            })
            .into_iter()
            .collect();
        Ok(Self {
            name,
            path,
            source: text,
            spec: Arc::new(spec),
            ast: Arc::new(ast),
            engine,
            targets,
            warnings,
            state_owner,
        })
    }

    /// Runs the top level of `ast` once, for its constants.
    fn run_top_level(
        engine: &Engine,
        ast: &AST,
        path: &Path,
        text: &Arc<str>,
    ) -> Result<Scope<'static>, Diagnostic> {
        let mut globals = Scope::new();
        // The top level runs once, at load: the operation limit bounds it,
        // not the per-event time limit (a debug build is slow).
        let budget = crate::budget::enter(&CallLimits {
            timeout: Duration::from_secs(60),
            ..CallLimits::default()
        });
        let top_level = engine.run_ast_with_scope(&mut globals, ast);
        drop(budget);
        top_level.map_err(|e| {
            runtime_diagnostic(path, text, &e, "while evaluating the rule's top level")
        })?;
        Ok(globals)
    }

    /// Parses the `RULE` constant of `globals`, with every problem in it.
    fn parse_spec(
        mut globals: Scope,
        path: &Path,
        text: &Arc<str>,
    ) -> Result<RuleSpec, Vec<Diagnostic>> {
        let at = |line: usize, column: usize, message: &str| {
            vec![Diagnostic::new(path, line, column, message).with_source(text.clone())]
        };
        let (rule_line, rule_col) = locate(text, "RULE", None);
        if globals.is_constant("RULE") != Some(true) {
            return Err(at(
                rule_line,
                rule_col,
                "the rule has no `const RULE = #{ watch: ..., on: [...], filter: #{...} };`",
            ));
        }
        let spec_map: Map = globals.remove("RULE").ok_or_else(|| {
            at(
                rule_line,
                rule_col,
                "`RULE` must be an object map: #{ watch: \"db.coll\", ... }",
            )
        })?;
        RuleSpec::parse(&spec_map).map_err(|errors| {
            errors
                .into_iter()
                .map(|SpecError { key, message }| {
                    let (line, column) = locate(text, "RULE", key.as_deref());
                    Diagnostic::new(path, line, column, message).with_source(text.clone())
                })
                .collect()
        })
    }

    /// What `herald check` warns about: a filter that can never match the
    /// events the rule watches ([`crate::lint::never_matches`]).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The rule's identity: `id` in `RULE`, else its file stem. Idempotency
    /// keys, ledger marks, state and dead letters are keyed by it.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Whose state it reads and writes: its own (its name), or the scope
    /// `RULE.state` names, shared with every rule that names it, as `@` and
    /// the scope's name (an `id` cannot hold `@`, so no rule's own state is
    /// a shared scope's).
    pub fn state_owner(&self) -> &Arc<str> {
        &self.state_owner
    }

    /// True if it defines `fn on_timer(timer)`.
    pub fn has_on_timer(&self) -> bool {
        self.ast
            .iter_functions()
            .any(|f| f.name == crate::timers::ON_TIMER && f.params.len() == 1)
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's text.
    pub fn source(&self) -> &Arc<str> {
        &self.source
    }

    /// The channels and webhooks it names with literal strings.
    pub fn targets(&self) -> &[crate::targets::NamedTarget] {
        &self.targets
    }

    /// What it watches and matches.
    pub fn spec(&self) -> &RuleSpec {
        &self.spec
    }

    /// True if the rule handles this event (watch, `on`, `filter`).
    pub fn accepts(&self, event: &ChangeEvent) -> bool {
        self.spec.accepts(event)
    }

    /// [`Rule::accepts`] for an event from a stream on `scope` (see [`RuleSpec::accepts_in`]).
    pub fn accepts_in(
        &self,
        event: &ChangeEvent,
        scope: Option<&herald_core::WatchTarget>,
    ) -> bool {
        self.spec.accepts_in(event, scope)
    }

    /// Runs `handle(event)` under the default [`CallLimits`] and returns the
    /// intents it recorded, in order (see [`Rule::handle_with`]).
    pub fn handle(
        &self,
        event: &Arc<ChangeEvent>,
        state: Arc<dyn StateRead>,
    ) -> Result<Vec<Intent>, Diagnostic> {
        self.handle_with(event, state, &CallLimits::default())
    }

    /// The limits this rule's calls run under: `defaults` (the operator's),
    /// lowered by the `timeout_ms` and `memory_mib` its `RULE` sets. A rule
    /// can only lower them: its author is not trusted to raise them.
    pub fn limits(&self, defaults: &CallLimits) -> CallLimits {
        CallLimits {
            timeout: self.spec.timeout_ms.map_or(defaults.timeout, |ms| {
                defaults.timeout.min(Duration::from_millis(ms))
            }),
            memory: self.spec.memory_mib.map_or(defaults.memory, |mib| {
                defaults
                    .memory
                    .min(usize::try_from(mib << 20).unwrap_or(usize::MAX))
            }),
            cancel: defaults.cancel.clone(),
        }
    }

    /// Runs `handle(event)` and returns the intents it recorded, in order.
    ///
    /// The call runs under `defaults` (with the rule's own limits, see
    /// [`Rule::limits`]) on the calling thread. A script error or an exceeded
    /// limit fails this call only, with a diagnostic at the script position
    /// where it happened.
    pub fn handle_with(
        &self,
        event: &Arc<ChangeEvent>,
        state: Arc<dyn StateRead>,
        defaults: &CallLimits,
    ) -> Result<Vec<Intent>, Diagnostic> {
        self.call(
            HANDLER,
            Dynamic::from(EventView::new(event.clone())),
            event.time(),
            state,
            defaults,
        )
    }

    /// Runs `on_timer(timer)` for a due timer and returns the intents it
    /// recorded, in order, as [`Rule::handle_with`] does; `after` counts
    /// from the timer's due time. A rule without `on_timer` fails the call.
    pub fn fire_timer(
        &self,
        timer: &crate::TimerCall,
        state: Arc<dyn StateRead>,
        defaults: &CallLimits,
    ) -> Result<Vec<Intent>, Diagnostic> {
        self.call(
            crate::timers::ON_TIMER,
            timer.to_dynamic(),
            Some(timer.due),
            state,
            defaults,
        )
    }

    /// Calls the script function `function` with `argument`, under the limits.
    fn call(
        &self,
        function: &str,
        argument: Dynamic,
        now: Option<bson::DateTime>,
        state: Arc<dyn StateRead>,
        defaults: &CallLimits,
    ) -> Result<Vec<Intent>, Diagnostic> {
        let _budget = crate::budget::enter(&self.limits(defaults));
        let recorder = Recorder::new(self.state_owner.clone(), state, now);
        let mut options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        options.tag = Some(Dynamic::from(recorder.clone()));
        let context = if function == HANDLER {
            "in handle(event)"
        } else {
            "in on_timer(timer)"
        };
        // Strict variables: a handler sees its parameter and the builtins, nothing
        // from the top level, so every name is checked when the rule is compiled.
        // The scope starts empty every call; the thread's is reused (rewound by
        // Rhai, cleared here) so its storage is not allocated again each time.
        let returned = with_empty_scope(|scope| {
            self.engine.call_fn_with_options::<Dynamic>(
                options,
                scope,
                &self.ast,
                function,
                (argument,),
            )
        });
        // The return value is ignored: handlers act only through intents.
        let _returned =
            returned.map_err(|e| runtime_diagnostic(&self.path, &self.source, &e, context))?;
        Ok(recorder.take_intents())
    }
}

/// Runs `f` with an empty scope: this thread's own, kept between calls so its
/// storage is reused, or a new one if that is in use (a call within a call).
fn with_empty_scope<T>(f: impl FnOnce(&mut Scope<'static>) -> T) -> T {
    thread_local! {
        static SCOPE: std::cell::RefCell<Scope<'static>> = std::cell::RefCell::new(Scope::new());
    }
    SCOPE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scope) => {
            scope.clear();
            let result = f(&mut scope);
            scope.clear();
            result
        }
        Err(_) => f(&mut Scope::new()),
    })
}

/// A hint when a syntax error sits in `{ name: ...`, a map written without
/// its `#`: Rhai reads `{` as a block.
fn map_hint(source: &str, position: rhai::Position) -> &'static str {
    const HINT: &str = " (object maps are written `#{ ... }` in Rhai; `{` starts a block)";
    let Some(number) = position.line() else {
        return "";
    };
    let lines: Vec<&str> = source.lines().collect();
    let Some(line) = number.checked_sub(1).and_then(|i| lines.get(i)) else {
        return "";
    };
    // `key:` (or `"key":`) but not `path::name`.
    let starts_with_key = |text: &str| {
        let text = text.trim_start().trim_start_matches('"');
        let key_len = text
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(text.len());
        let after = text[key_len..].trim_start_matches('"').trim_start();
        key_len > 0 && after.starts_with(':') && !after.starts_with("::")
    };
    let opens_block = |text: &str| {
        let text = text.trim_end();
        text.ends_with('{') && !text.ends_with("#{")
    };
    // `{ key: ...` on the line, outside string literals.
    let on_the_line = line.match_indices('{').any(|(i, _)| {
        let in_string = line[..i].matches('"').count() % 2 == 1;
        !in_string && !line[..i].trim_end().ends_with('#') && starts_with_key(&line[i + 1..])
    });
    // A map over several lines: `{` ends the line before, `key:` starts this one.
    let over_lines = starts_with_key(line)
        && lines[..number - 1]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|before| opens_block(before));
    if on_the_line || over_lines { HINT } else { "" }
}

/// A diagnostic for a runtime error, at the innermost position (inside the function that failed).
fn runtime_diagnostic(
    path: &Path,
    source: &Arc<str>,
    error: &EvalAltResult,
    context: &str,
) -> Diagnostic {
    let inner = error.unwrap_inner();
    let position = [inner.position(), error.position()]
        .into_iter()
        .find(|p| !p.is_none())
        // Rhai reports an exceeded operation limit without a position: point at the handler.
        .unwrap_or_else(|| handler_position(source));
    let full = inner.to_string();
    let suffix = format!(" ({})", inner.position());
    let bare = full.strip_suffix(&suffix).unwrap_or(&full);
    let hint = match inner {
        EvalAltResult::ErrorTooManyOperations(_) => format!(
            " (limit: {} operations; is there an endless loop?)",
            crate::limits::MAX_OPERATIONS
        ),
        EvalAltResult::ErrorStackOverflow(_) => {
            format!(" (limit: {} nested calls)", crate::limits::MAX_CALL_LEVELS)
        }
        _ => String::new(),
    };
    if let EvalAltResult::ErrorTerminated(token, _) = inner
        && let Some(exceeded) = token.clone().try_cast::<Exceeded>()
    {
        return at_position(path, source, position, format!("{context}: {exceeded}"));
    }
    at_position(path, source, position, format!("{context}: {bare}{hint}"))
}

fn handler_position(source: &str) -> rhai::Position {
    let (line, column) = line_column(source, source.find(&format!("fn {HANDLER}")).unwrap_or(0));
    rhai::Position::new(line as u16, column as u16)
}

mod share;
pub(crate) use share::SharedFunctions;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod load_tests;

#[cfg(test)]
mod timer_tests;
