//! `herald test [DIR]`: run each rule's fixture cases.

use crate::cli::TestArgs;
use crate::exit::{Failure, Outcome};
use crate::report;
use crate::setup::Setup;
use herald_script::fixtures;

/// Runs the command.
pub fn run(args: TestArgs) -> Outcome {
    let setup = Setup::for_rules(&args.rules)?;
    let rules = setup.load_rules()?;
    let (mut passed, mut failed, mut broken, mut missing) = (0usize, 0usize, 0usize, 0usize);
    for rule in rules.rules() {
        let fixture = fixtures::fixture_path(rule.path());
        if !fixture.exists() {
            println!(
                "--  {}: no fixture ({} not found)",
                rule.name(),
                fixture.display()
            );
            missing += 1;
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
    println!("{passed} passed, {failed} failed, {missing} rule(s) without fixtures");
    let unfixtured = args.require_fixtures && missing > 0;
    if unfixtured {
        eprintln!(
            "error: {missing} rule(s) have no fixture, and --require-fixtures asks every rule for one"
        );
    }
    match (broken, failed, unfixtured) {
        (0, 0, false) => Ok(()),
        (0, _, _) => Err(Failure::Reported(1)),
        _ => Err(Failure::Reported(2)),
    }
}
