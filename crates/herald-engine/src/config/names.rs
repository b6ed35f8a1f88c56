//! Checking the channels and webhooks rules name against the configuration.

use super::Config;
use herald_script::targets::TargetKind;
use herald_script::{Diagnostic, Rule};

/// A diagnostic for each literal `notify`/`webhook` name in `rules` that
/// neither `config` nor the extra names (custom channels an embedding
/// registered) define, at the call's `file:line:col`.
///
/// ```
/// use std::sync::Arc;
/// use herald_engine::config::{Config, unknown_targets};
/// let engine = Arc::new(herald_script::sandbox::engine());
/// let rule = herald_script::Rule::from_source(engine, "rules/a.rhai",
///     "const RULE = #{ watch: \"d.c\" };\nfn handle(e) { notify(\"opps\", #{}); }").unwrap();
/// let config = Config::parse("[channels.ops]\nkind = \"stdout\"\n").unwrap();
/// let errors = unknown_targets(&[rule], &config, &[], &[]);
/// assert_eq!(errors[0].to_string().lines().next().unwrap(),
///     "rules/a.rhai:2:16: notify channel \"opps\" is not defined in the configuration; add [channels.opps] (kind = \"stdout\", \"file\", \"log\" or \"webhook\")");
/// ```
pub fn unknown_targets(
    rules: &[Rule],
    config: &Config,
    extra_notify: &[String],
    extra_webhooks: &[String],
) -> Vec<Diagnostic> {
    let file = config.source.as_ref().map_or_else(
        || "the configuration".to_owned(),
        |p| p.display().to_string(),
    );
    let mut errors = Vec::new();
    for rule in rules {
        for target in rule.targets() {
            let (known, hint) = match target.kind {
                TargetKind::Notify => (
                    config.channels.contains_key(&target.name)
                        || extra_notify.contains(&target.name),
                    format!(
                        "add [channels.{}] (kind = \"stdout\", \"file\", \"log\" or \"webhook\")",
                        target.name
                    ),
                ),
                TargetKind::Webhook => (
                    config.webhooks.contains_key(&target.name)
                        || extra_webhooks.contains(&target.name),
                    format!("add [webhooks.{}] with its url", target.name),
                ),
            };
            if !known {
                errors.push(
                    Diagnostic::new(
                        rule.path(),
                        target.line,
                        target.column,
                        format!(
                            "{} {} {:?} is not defined in {file}; {hint}",
                            target.kind.builtin(),
                            match target.kind {
                                TargetKind::Notify => "channel",
                                TargetKind::Webhook => "target",
                            },
                            target.name
                        ),
                    )
                    .with_source(rule.source().clone()),
                );
            }
        }
    }
    errors
}
