//! What `herald check` finds in a rule without running its handler.
//!
//! Rhai resolves names and picks overloads when a call runs, so many
//! mistakes would only show when an event arrives. These checks read the
//! compiled script and the parsed `RULE` instead, and find every problem
//! they can in one pass: a rule with three mistakes reports three errors.
//!
//! # Layout
//! - [`script`] — every error in a compiled script: unknown functions,
//!   collections `insert_doc` cannot write to, misused builtins, no handler.
//! - [`signatures`] — calls to herald's builtins with the wrong number or
//!   type of arguments, or an unknown literal log level.
//! - [`filters`] — warnings for filters that can never match what a rule watches.

mod filters;
mod script;
mod signatures;

pub use filters::never_matches;
pub use script::script_errors;
pub use signatures::builtin_misuse;

/// A problem at a place in a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and what to do.
    pub message: String,
}

impl Found {
    /// A problem at a Rhai position.
    pub(crate) fn at(position: rhai::Position, message: impl Into<String>) -> Self {
        Self {
            line: position.line().unwrap_or(0),
            column: position.position().unwrap_or(0),
            message: message.into(),
        }
    }
}
