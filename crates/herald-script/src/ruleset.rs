//! All the rules of a directory.

use crate::diagnostic::Diagnostic;
use crate::rule::{Rule, SharedFunctions};
use rhai::Engine;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// At most this many field names get direct getters (see [`RuleSet::load_dir`]).
const MAX_FIELD_GETTERS: usize = 4096;

/// Each rule file with its text, or the diagnostic for a file that cannot be read.
type Sources = Vec<(PathBuf, Result<String, Diagnostic>)>;

/// Reads the rule files of `dir`; an empty directory is an error.
fn read_dir(dir: &Path) -> Result<(PathBuf, Sources), Vec<Diagnostic>> {
    let files = rule_files(dir).map_err(|e| vec![e])?;
    if files.is_empty() {
        return Err(vec![Diagnostic::new(
            dir,
            0,
            0,
            "no rules: the directory has no *.rhai files",
        )]);
    }
    let sources = files
        .into_iter()
        .map(|file| {
            let text = herald_core::text::read_utf8(&file).map_err(|e| match e {
                herald_core::text::TextError::NotUtf8 { line, column } => Diagnostic::new(
                    &file,
                    line,
                    column,
                    "the file is not UTF-8 text (an invalid byte here); save it as UTF-8",
                ),
                read => Diagnostic::new(&file, 0, 0, read.to_string()),
            });
            (file, text)
        })
        .collect();
    Ok((dir.to_path_buf(), sources))
}

/// Compiles every source; every diagnostic of every file if any fails.
/// Rules of the same functions share one compiled copy of them.
fn compile(
    engine: Arc<Engine>,
    dir: PathBuf,
    sources: Sources,
) -> Result<RuleSet, Vec<Diagnostic>> {
    let mut rules = Vec::with_capacity(sources.len());
    let mut errors = Vec::new();
    let mut shared = SharedFunctions::default();
    for (file, text) in sources {
        match text.map(|text| Rule::load(engine.clone(), &file, &text)) {
            Ok(Ok(mut rule)) => {
                shared.share(&mut rule);
                rules.push(rule);
            }
            Ok(Err(all)) => errors.extend(all),
            Err(unreadable) => errors.push(unreadable),
        }
    }
    let mut seen: std::collections::HashMap<Arc<str>, PathBuf> = std::collections::HashMap::new();
    for rule in &rules {
        if let Some(first) = seen.insert(rule.name().clone(), rule.path().to_path_buf()) {
            errors.push(
                Diagnostic::new(
                    rule.path(),
                    1,
                    1,
                    format!(
                        "two rules are named {:?}: this one and {} (a rule's name is `id` in RULE, else its file stem; names key state, dead letters and idempotency keys, so they must differ)",
                        rule.name(),
                        first.display()
                    ),
                )
                .with_source(rule.source().clone()),
            );
        }
    }
    if errors.is_empty() {
        Ok(RuleSet { dir, rules })
    } else {
        Err(errors)
    }
}

/// The rules loaded from one directory, in file-name order.
///
/// ```no_run
/// let rules = herald_script::RuleSet::load_dir("rules").map_err(|errors| errors.len())?;
/// for rule in rules.rules() {
///     println!("{} watches {}", rule.name(), rule.spec().watch);
/// }
/// # Ok::<(), usize>(())
/// ```
#[derive(Debug, Clone)]
pub struct RuleSet {
    dir: PathBuf,
    rules: Vec<Rule>,
}

impl RuleSet {
    /// Loads every `*.rhai` file directly under `dir` (sub-directories are not searched).
    ///
    /// All files are compiled; if any fails, every diagnostic of every file
    /// is returned (see [`Rule::load`]), so one run of `herald check` shows
    /// every problem.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Self, Vec<Diagnostic>> {
        let (dir, sources) = read_dir(dir.as_ref())?;
        let mut engine = crate::sandbox::engine();
        // Fields the rules read get direct getters on event documents.
        let mut fields: Vec<&str> = sources
            .iter()
            .filter_map(|(_, text)| text.as_deref().ok())
            .flat_map(crate::event_view::property_names)
            .collect();
        fields.sort_unstable();
        fields.dedup();
        crate::event_view::register_fields(&mut engine, fields.into_iter().take(MAX_FIELD_GETTERS));
        compile(Arc::new(engine), dir, sources)
    }

    /// Like [`RuleSet::load_dir`], with a given engine.
    pub fn load_dir_with(
        engine: Arc<Engine>,
        dir: impl AsRef<Path>,
    ) -> Result<Self, Vec<Diagnostic>> {
        let (dir, sources) = read_dir(dir.as_ref())?;
        compile(engine, dir, sources)
    }

    /// Builds a set from rules already compiled (embedding, tests).
    pub fn from_rules(rules: Vec<Rule>) -> Self {
        Self {
            dir: PathBuf::new(),
            rules,
        }
    }

    /// The directory the rules came from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The rules, in file-name order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Every rule's warnings ([`Rule::warnings`]), in file-name order.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.rules.iter().flat_map(Rule::warnings)
    }
}

/// The `*.rhai` files of `dir`, sorted.
pub fn rule_files(dir: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Diagnostic::new(dir, 0, 0, format!("cannot read the rules directory: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "rhai"))
        .collect();
    files.sort();
    Ok(files)
}
