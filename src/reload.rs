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

/// How long the rules directory must be quiet before a change reloads it:
/// a deploy or an editor's save is several writes, of several files.
const QUIET: Duration = Duration::from_millis(200);

/// What asks for a reload: SIGHUP, and with `--watch` the rules directory.
pub struct Triggers {
    hangup: Signal,
    watch: Option<Watch>,
}

/// The rules directory, watched by its path: its entries, and its own name
/// in its parent (a directory replaced whole, or a symlink switched to
/// another release, is watched again).
struct Watch {
    dir: PathBuf,
    changes: mpsc::UnboundedReceiver<()>,
    debouncer: Debouncer<RecommendedWatcher>,
}

impl Watch {
    fn new(dir: &Path) -> anyhow::Result<Self> {
        // Absolute, not canonical: a symlinked directory is watched by its
        // link's name, so switching the link is seen.
        let dir = &std::path::absolute(dir)?;
        let (tx, changes) = mpsc::unbounded_channel();
        let name = dir.file_name().map(ToOwned::to_owned);
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf);
        let inside = dir.to_path_buf();
        let debouncer = new_debouncer(QUIET, move |result: DebounceEventResult| {
            // Any entry of the directory (not only `*.rhai`: a Kubernetes
            // ConfigMap swaps a `..data` link), and the directory's own
            // name in its parent; the watcher's errors are a reason to
            // look again too. A set that turns out unchanged costs a compile.
            let relevant = match result {
                Ok(events) => events
                    .iter()
                    .any(|e| e.path.starts_with(&inside) || e.path.file_name() == name.as_deref()),
                Err(_) => true,
            };
            if relevant {
                let _ = tx.send(());
            }
        })?;
        let mut watch = Self {
            dir: dir.to_path_buf(),
            changes,
            debouncer,
        };
        if let Some(parent) = parent {
            watch
                .debouncer
                .watcher()
                .watch(&parent, RecursiveMode::NonRecursive)
                .map_err(|e| anyhow::anyhow!("cannot watch {}: {e}", parent.display()))?;
        }
        watch.rewatch()?;
        Ok(watch)
    }

    /// Watches the directory the path names now.
    fn rewatch(&mut self) -> anyhow::Result<()> {
        let _ = self.debouncer.watcher().unwatch(&self.dir);
        self.debouncer
            .watcher()
            .watch(&self.dir, RecursiveMode::NonRecursive)
            .map_err(|e| anyhow::anyhow!("cannot watch {}: {e}", self.dir.display()))
    }

    /// Completes once the directory changed and then stayed quiet for
    /// [`QUIET`]; watches it again (it may be another directory now).
    async fn changed(&mut self) {
        if self.changes.recv().await.is_none() {
            // The watcher is gone: only SIGHUP reloads from now on.
            return std::future::pending().await;
        }
        while let Ok(Some(())) = tokio::time::timeout(QUIET, self.changes.recv()).await {}
        if let Err(e) = self.rewatch() {
            say::warn(
                format!(
                    "herald: {e}; --watch sees no change until it is back (SIGHUP still reloads)"
                ),
                json!({ "watch": self.dir.display().to_string() }),
            );
        }
    }
}

impl Triggers {
    /// Catches SIGHUP from now on (it no longer ends the process), and
    /// watches `dir` when `watch`. Call within the runtime.
    pub fn new(dir: &Path, watch: bool) -> anyhow::Result<Self> {
        Ok(Self {
            hangup: signal(SignalKind::hangup())?,
            watch: if watch { Some(Watch::new(dir)?) } else { None },
        })
    }

    /// Completes when a reload is asked for, saying why.
    async fn next(&mut self) -> &'static str {
        let changed = async {
            match self.watch.as_mut() {
                Some(watch) => watch.changed().await,
                None => std::future::pending().await,
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
pub async fn next(
    triggers: &mut Triggers,
    dir: &Path,
    engine: &Engine,
    stages: &Stages,
) -> Candidate {
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
            Ok(()) => plannable(dir, engine, &rules, stages).map(|()| rules),
            Err(herald_engine::EngineError::Rules(diagnostics)) => Err(diagnostics),
            Err(other) => Err(vec![Diagnostic::new(dir, 0, 0, other.to_string())]),
        });
        match checked {
            Err(diagnostics) => rejected(dir, why, engine, &diagnostics),
            Ok(rules) => {
                if !RuleChanges::between(engine.rules(), rules.rules()).is_empty() {
                    say::info(
                        format!(
                            "herald: rules reload ({why}): the new rules check; finishing the events in flight, then the streams start again"
                        ),
                        json!({ "reload": "accepted", "trigger": why }),
                    );
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

/// The stages of `[mongodb.streams]`, by target.
pub type Stages = std::collections::BTreeMap<herald_core::WatchTarget, Vec<bson::Document>>;

/// Whether `rules` make a plan the next run can open, as a start would
/// check: its stages fit, and some target is not stopped. A set that
/// fails here would end herald after the old rules were gone.
fn plannable(
    dir: &Path,
    engine: &Engine,
    rules: &RuleSet,
    stages: &Stages,
) -> Result<(), Vec<Diagnostic>> {
    let error = |message: String| vec![Diagnostic::new(dir, 0, 0, message)];
    let stopped =
        herald_engine::stops::stopped_targets(engine.store()).map_err(|e| error(e.to_string()))?;
    let live = rules
        .rules()
        .iter()
        .filter(|rule| !stopped.contains(&rule.spec().watch));
    let plans =
        herald_ingest::mongo::plan_with(&herald_engine::engine::subscriptions_of(live), stages)
            .map_err(|e| error(format!("mongodb.streams: {e}")))?;
    if plans.is_empty() {
        return Err(error(
            "every watch target of these rules is stopped, so they would read nothing; resume a target with `herald streams resume TARGET` first".to_owned(),
        ));
    }
    Ok(())
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
