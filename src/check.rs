//! `herald check [DIR]`: compile and validate every rule; report every
//! error (exit 2) and every warning (exit 0).

use crate::cli::RulesArgs;
use crate::exit::{Failure, Outcome};
use crate::logging::say;
use crate::report;
use crate::setup::Setup;
use herald_engine::config::{reads_removed_fields, unknown_targets};

/// Runs the command.
pub fn run(args: RulesArgs) -> Outcome {
    let setup = Setup::for_rules(&args)?;
    let rules = setup.load_rules()?;
    for rule in rules.rules() {
        let spec = rule.spec();
        let on: Vec<&str> = spec.on.iter().map(|o| o.as_str()).collect();
        println!(
            "ok  {:<28} watch {} on [{}] filter {}",
            rule.name(),
            spec.watch,
            on.join(", "),
            spec.filter.source()
        );
    }
    if let Some(path) = &setup.config_path {
        // The config loaded (or resolve failed above); now the names rules use in it.
        let unknown = unknown_targets(rules.rules(), &setup.config, &[], &[]);
        if !unknown.is_empty() {
            unknown.iter().for_each(report::print);
            say::info(
                format!(
                    "{} error(s): channels or webhooks the rules use are not in {}",
                    unknown.len(),
                    path.display()
                ),
                serde_json::json!({ "errors": unknown.len() }),
            );
            return Err(Failure::Reported(2));
        }
    }
    // Warnings do not fail the check: the rules load and run as written.
    let mut warnings = 0;
    for warning in rules.warnings() {
        report::warn(warning);
        warnings += 1;
    }
    for warning in reads_removed_fields(rules.rules(), &setup.config) {
        say::warn(&warning, serde_json::json!({}));
        warnings += 1;
    }
    if warnings == 0 {
        println!("{} rule(s) ok", rules.rules().len());
    } else {
        println!("{} rule(s) ok, {warnings} warning(s)", rules.rules().len());
    }
    if let Some(path) = &setup.config_path {
        println!("config {} ok", path.display());
    }
    Ok(())
}
