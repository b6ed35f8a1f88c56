//! Hooks for whoever runs the engine: progress, dry-run output, problems.

use herald_core::{Effect, Intent, Position, ResumeToken};
use herald_ingest::BadLine;
use herald_script::Diagnostic;

/// Receives what happens during a run; every method has a no-op default.
///
/// ```
/// use herald_core::Effect;
/// use herald_engine::Observer;
/// struct Count(usize);
/// impl Observer for Count {
///     fn dry_run(&mut self, _effect: &Effect) { self.0 += 1; }
/// }
/// ```
pub trait Observer: Send {
    /// An event was fully handled; `position` is where the source stands after it.
    fn event_done(&mut self, _position: &Position) {}
    /// In a dry run, an effect that would have been executed.
    fn dry_run(&mut self, _effect: &Effect) {}
    /// In a dry run, an intent that is not an effect (`log`, `set_state`,
    /// `del_state`): it has no idempotency key and takes no effect number.
    fn dry_run_intent(&mut self, _rule: &str, _token: &ResumeToken, _intent: &Intent) {}
    /// A malformed line was skipped.
    fn bad_line(&mut self, _line: &BadLine) {}
    /// A handler failed on an event (the event went to the dead-letter queue).
    fn handler_failed(&mut self, _rule: &str, _diagnostic: &Diagnostic) {}
    /// An effect failed for good (the event went to the dead-letter queue).
    fn effect_failed(&mut self, _effect: &Effect, _error: &str, _attempts: u32) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {}
