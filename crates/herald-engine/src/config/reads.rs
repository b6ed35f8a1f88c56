//! Warnings for rules that read fields a target's stages remove.

use super::Config;
use herald_script::{Diagnostic, Rule};

/// A warning for each rule that reads (in its filter, or as `.name` in its
/// script) a field that the stages of a target carrying its events remove
/// (`$unset`, `$project` exclusions): the rule would never see it.
///
/// ```
/// use std::sync::Arc;
/// use herald_engine::config::{Config, reads_removed_fields};
/// let engine = Arc::new(herald_script::sandbox::engine());
/// let rule = herald_script::Rule::from_source(engine, "rules/a.rhai",
///     "const RULE = #{ watch: \"shop.orders\" };\nfn handle(e) { notify(\"ops\", #{ c: e.fullDocument.card }); }").unwrap();
/// let config = Config::parse("[mongodb.streams.\"shop.orders\"]\nstages = [{ \"$unset\" = \"fullDocument.card\" }]\n").unwrap();
/// let warnings = reads_removed_fields(&[rule], &config);
/// assert!(warnings[0].to_string().starts_with("rules/a.rhai:2:"), "{}", warnings[0]);
/// ```
pub fn reads_removed_fields(rules: &[Rule], config: &Config) -> Vec<Diagnostic> {
    let Ok(options) = config.mongodb.source_options() else {
        return Vec::new();
    };
    let mut warnings = Vec::new();
    for rule in rules {
        let watch = &rule.spec().watch;
        let filter = rule.spec().filter.source().to_string();
        for (target, stages) in &options.stages {
            if !(target.contains(watch) || watch.contains(target)) {
                continue;
            }
            for path in herald_ingest::mongo::stages::removed_paths(stages) {
                let last = path.rsplit('.').next().unwrap_or(&path);
                let in_filter = filter.contains(&format!("\"{path}"));
                let in_script = rule.source().find(&format!(".{last}"));
                if !in_filter && in_script.is_none() {
                    continue;
                }
                let (line, column) = in_script.map_or((1, 1), |at| {
                    let before = &rule.source()[..at];
                    (
                        before.matches('\n').count() + 1,
                        before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 2,
                    )
                });
                warnings.push(
                    Diagnostic::new(
                        rule.path(),
                        line,
                        column,
                        format!(
                            "the rule reads `{path}`, which the stages of {target} remove ([mongodb.streams.\"{target}\"]), so it never sees it"
                        ),
                    )
                    .with_source(rule.source().clone()),
                );
            }
        }
    }
    warnings
}
