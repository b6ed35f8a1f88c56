//! `herald check [DIR]`: compile and validate every rule; report every
//! error (exit 2) and every warning (exit 0).

use crate::cli::CheckArgs;
use crate::exit::{Failure, Outcome};
use crate::logging::say;
use crate::report;
use crate::setup::Setup;
use herald_engine::config::{reads_removed_fields, unknown_targets};

/// Runs the command.
pub fn run(args: CheckArgs) -> Outcome {
    let setup = Setup::for_rules(&args.rules)?;
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
    if args.explain {
        explain(&setup, &rules)?;
    }
    Ok(())
}

/// Prints the change streams `herald run` opens for `rules` with the
/// config's `[mongodb]` settings: per stream, its checkpoint name, what it
/// watches, its rules and the aggregation it sends (relaxed Extended JSON).
/// Targets stopped in a store are not known here: they are planned too.
fn explain(setup: &Setup, rules: &herald_script::RuleSet) -> Outcome {
    let options = setup
        .config
        .mongodb
        .source_options()
        .map_err(|e| Failure::BadInput(anyhow::anyhow!(e)))?;
    let subscriptions = herald_engine::engine::subscriptions_of(rules.rules());
    let plans = herald_ingest::mongo::plan_with(&subscriptions, &options.stages)
        .map_err(|e| Failure::BadInput(anyhow::anyhow!("mongodb.streams: {e}")))?;
    println!(
        "\n{} change stream(s) for {} rule(s) ({}):",
        plans.len(),
        rules.rules().len(),
        herald_ingest::mongo::summary(&plans)
    );
    for plan in &plans {
        let aggregation: Vec<serde_json::Value> = plan
            .aggregation(options.split_large_events)
            .iter()
            .map(herald_core::extjson::to_relaxed)
            .collect();
        let pretty = serde_json::to_string_pretty(&aggregation).expect("JSON values print");
        println!(
            "\nstream {} on {}\n  rules: {}\n  aggregation:\n{}",
            plan.id,
            plan.target,
            plan.rules.join(", "),
            pretty
                .lines()
                .map(|line| format!("    {line}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    Ok(())
}
