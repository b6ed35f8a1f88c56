//! `herald test [DIR]`: run each rule's fixture cases.

use crate::cli::TestArgs;
use crate::exit::{Failure, Outcome};
use crate::report;
use crate::setup::{Setup, StoreDefault};
use herald_script::RuleSet;
use herald_script::fixtures;

/// Runs the command.
pub fn run(args: TestArgs) -> Outcome {
    let setup = Setup::resolve_parts(
        args.config.as_deref(),
        args.dir.clone(),
        None,
        StoreDefault::Temporary,
    )?;
    let dir = &setup.rules;
    let rules = RuleSet::load_dir(dir).map_err(|diagnostics| {
        diagnostics.iter().for_each(report::print);
        Failure::Reported(2)
    })?;
    let (mut passed, mut failed, mut broken) = (0usize, 0usize, 0usize);
    for rule in rules.rules() {
        let fixture = fixtures::fixture_path(rule.path());
        if !fixture.exists() {
            println!(
                "--  {}: no fixture ({} not found)",
                rule.name(),
                fixture.display()
            );
            continue;
        }
        match fixtures::run(rule, &fixture) {
            Err(diagnostic) => {
                broken += 1;
                report::print(&diagnostic);
            }
            Ok(outcomes) => {
                for outcome in outcomes {
                    match outcome.result {
                        Ok(()) => {
                            passed += 1;
                            println!("ok  {}: {}", rule.name(), outcome.name);
                        }
                        Err(why) => {
                            failed += 1;
                            println!("FAIL {}: {}\n  {}", rule.name(), outcome.name, why);
                        }
                    }
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    match (broken, failed) {
        (0, 0) => Ok(()),
        (0, _) => Err(Failure::Reported(1)),
        _ => Err(Failure::Reported(2)),
    }
}
