//! Hot reload of the rules in `herald run`: on SIGHUP, and with `--watch`
//! when something in the rules directory changes.
//!
//! The rules directory is compiled and checked whole while the old rules keep
//! running. A set with any error is rejected: each error is logged as
//! `file:line:col`, `herald_rules_reload_failures_total` counts it, and the
//! old rules go on. A good set that differs from the running one ends the run
//! between events (the events in flight finish and commit), replaces the
//! rules, and the streams are planned again and resumed from the store (see
//! `herald_engine::reload`).

use crate::logging::say;
use herald_engine::Engine;
use herald_engine::reload::RuleChanges;
use herald_script::{Diagnostic, RuleSet};
use notify_debouncer_mini::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;

/// How long the rule files must be quiet before a change reloads them: an
/// editor's save is several writes.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// What asks for a reload: SIGHUP, and with `--watch` the rule files.
pub struct Triggers {
    hangup: Signal,
    changes: Option<mpsc::UnboundedReceiver<()>>,
    /// Watches while it lives.
    _watcher: Option<Debouncer<RecommendedWatcher>>,
}

impl Triggers {
    /// Catches SIGHUP from now on (it no longer ends the process), and
    /// watches `dir` when `watch`. Call within the runtime.
    pub fn new(dir: &Path, watch: bool) -> anyhow::Result<Self> {
        let hangup = signal(SignalKind::hangup())?;
        let (changes, watcher) = match watch {
            true => {
                let (tx, rx) = mpsc::unbounded_channel();
                let mut debouncer = new_debouncer(DEBOUNCE, move |result: DebounceEventResult| {
                    // Any change in the directory, not only to `*.rhai`
                    // files: a directory swapped whole (a Kubernetes
                    // ConfigMap's `..data` link) names other paths. A set
                    // that turns out unchanged costs one compile. The
                    // watcher's own errors are a reason to look again too.
                    let _ = result;
                    let _ = tx.send(());
                })?;
                debouncer
                    .watcher()
                    .watch(dir, RecursiveMode::NonRecursive)
                    .map_err(|e| anyhow::anyhow!("cannot watch {}: {e}", dir.display()))?;
                (Some(rx), Some(debouncer))
            }
            false => (None, None),
        };
        Ok(Self {
            hangup,
            changes,
            _watcher: watcher,
        })
    }

    /// Completes when a reload is asked for, saying why.
    async fn next(&mut self) -> &'static str {
        let changed = async {
            let Some(changes) = self.changes.as_mut() else {
                return std::future::pending().await;
            };
            if changes.recv().await.is_none() {
                // The watcher is gone: only SIGHUP reloads from now on.
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = self.hangup.recv() => "SIGHUP",
            () = changed => "a rule file changed",
        }
    }
}

/// A rule set that passed every check and differs from the running one.
pub struct Candidate {
    /// The compiled rules.
    pub rules: RuleSet,
    /// What asked for it.
    pub why: &'static str,
}

/// Waits for a trigger, then loads the rules of `dir` and checks them as
/// `engine` would. A rejected set is reported and counted, a set the same
/// as the running one is noted, and both are waited past.
pub async fn next(triggers: &mut Triggers, dir: &Path, engine: &Engine) -> Candidate {
    loop {
        let why = triggers.next().await;
        let loaded = tokio::task::spawn_blocking({
            let dir: PathBuf = dir.to_path_buf();
            move || RuleSet::load_dir(dir)
        })
        .await
        .unwrap_or_else(|e| {
            Err(vec![Diagnostic::new(
                dir,
                0,
                0,
                format!("loading failed: {e}"),
            )])
        });
        let checked = loaded.and_then(|rules| match engine.check_rules(&rules) {
            Ok(()) => Ok(rules),
            Err(herald_engine::EngineError::Rules(diagnostics)) => Err(diagnostics),
            Err(other) => Err(vec![Diagnostic::new(dir, 0, 0, other.to_string())]),
        });
        match checked {
            Err(diagnostics) => rejected(dir, why, engine, &diagnostics),
            Ok(rules) => {
                if !RuleChanges::between(engine.rules(), rules.rules()).is_empty() {
                    return Candidate { rules, why };
                }
                say::info(
                    format!(
                        "herald: rules reload ({why}): {} unchanged, nothing to do",
                        dir.display()
                    ),
                    json!({ "reload": "unchanged", "trigger": why }),
                );
            }
        }
    }
}

/// Reports a rejected rule set: every error, then one line saying the old
/// rules keep running; counts it.
fn rejected(dir: &Path, why: &str, engine: &Engine, diagnostics: &[Diagnostic]) {
    diagnostics.iter().for_each(crate::report::print);
    herald_engine::metrics::reload_failed();
    say::error(
        format!(
            "herald: rules reload ({why}) rejected: {} error(s) in {}; the {} rule(s) loaded before keep running",
            diagnostics.len(),
            dir.display(),
            engine.rules().len()
        ),
        json!({
            "reload": "rejected", "trigger": why, "errors": diagnostics.len(),
            "rules": dir.display().to_string(), "running": engine.rules().len(),
        }),
    );
}

/// Reports rules that replaced the old ones, with the warnings `herald
/// check` gives them under `config`.
pub fn reloaded(why: &str, changes: &RuleChanges, engine: &Engine, config: &herald_engine::Config) {
    engine
        .rules()
        .iter()
        .flat_map(herald_script::Rule::warnings)
        .for_each(crate::report::warn);
    for warning in herald_engine::config::reads_removed_fields(engine.rules(), config) {
        say::warn(&warning, json!({}));
    }
    let RuleChanges {
        added,
        removed,
        changed,
    } = changes;
    let list = |what: &str, names: &[String]| {
        (!names.is_empty()).then(|| format!("{what} {}", names.join(", ")))
    };
    let parts: Vec<String> = [
        list("added", added),
        list("removed", removed),
        list("changed", changed),
    ]
    .into_iter()
    .flatten()
    .collect();
    say::info(
        format!(
            "herald: rules reloaded ({}): {} rule(s); {}",
            why,
            engine.rules().len(),
            parts.join("; ")
        ),
        json!({
            "reload": "done", "trigger": why, "rules": engine.rules().len(),
            "added": added, "removed": removed, "changed": changed,
        }),
    );
}
