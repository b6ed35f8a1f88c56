//! Rules written in Rhai: loading, sandboxing, calling, testing.
//!
//! A rule is one `*.rhai` file holding a `RULE` constant (what to watch,
//! which events match) and a `handle(event)` function. Handlers have no I/O:
//! the builtins they call (`notify`, `webhook`, `insert_doc`, `log`,
//! `set_state`, ...) record [`Intent`](herald_core::Intent)s, which the engine
//! executes. Every script runs under the limits in [`limits`]; a script that
//! fails or exceeds one fails that event with a [`Diagnostic`] naming
//! file:line:col, never the process.
//!
//! # Layout
//! - [`limits`] — the sandbox's resource limits, one constant each.
//! - [`budget`] — one handler call's deadline, memory budget and cancel flag.
//! - [`alloc`] — the counting global allocator the memory budget reads.
//! - [`sandbox`] — the shared, locked-down Rhai engine with herald's builtins.
//! - [`values`] — BSON ↔ Rhai values, and the Rhai types for ObjectId, dates and timestamps.
//! - [`event_view`] — the event as Rhai sees it, decoded field by field on access.
//! - [`intents`] — the intent builtins and the per-call recorder behind them.
//! - [`timers`] — `after`, `at`, `cancel_timer`, and `on_timer`'s [`TimerCall`].
//! - [`spec`] — the `RULE` constant: watch target, operation types, filter, fullDocument.
//! - [`rule`] — a compiled [`Rule`] and how it handles an event.
//! - [`calls`] — calls to functions that do not exist, refused when a rule compiles.
//! - [`lint`] — every error `herald check` finds without running a rule, and its warnings.
//! - [`targets`] — the channels and webhooks a rule names, for checking against the config.
//! - [`ruleset`] — loading every rule of a directory into a [`RuleSet`].
//! - [`diagnostic`] — [`Diagnostic`], an error with a file position.
//! - [`fixtures`] — `*.test.json` rule tests, run by `herald test`.

pub mod alloc;
pub mod budget;
pub mod calls;
pub mod diagnostic;
pub mod event_view;
pub mod fixtures;
pub mod intents;
pub mod limits;
pub mod lint;
pub mod rule;
pub mod ruleset;
pub mod sandbox;
pub mod spec;
pub mod targets;
pub mod timers;
pub mod values;

pub use budget::{CallLimits, Exceeded};
pub use diagnostic::Diagnostic;
pub use herald_core::FullDocument;
pub use intents::{NoState, StateRead};
pub use rule::Rule;
pub use ruleset::RuleSet;
pub use spec::RuleSpec;
pub use timers::TimerCall;

/// Unit tests run with the counting allocator, so the memory budget is enforced.
#[cfg(test)]
#[global_allocator]
static ALLOCATOR: alloc::CountingAllocator = alloc::CountingAllocator::new(std::alloc::System);
