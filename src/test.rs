//! `herald test [DIR]`: run each rule's fixture cases.
//!
//! With `--update`, a failing case's actual intents become its expectation
//! (see [`fixtures::update`]): the run reports those cases as updated, not
//! failed, and the files change only where a step failed.

use crate::cli::TestArgs;
use crate::exit::{Failure, Outcome};
use crate::logging::say;
use crate::report;
use crate::setup::Setup;
use herald_script::fixtures::{self, CaseOutcome};
use serde_json::json;

/// What the cases of every fixture came to.
#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    updated: usize,
    broken: usize,
    missing: usize,
}

/// Runs the command.
pub fn run(args: TestArgs) -> Outcome {
    let setup = Setup::for_rules(&args.rules)?;
    let rules = setup.load_rules()?;
    let mut tally = Tally::default();
    for rule in rules.rules() {
        let fixture = fixtures::fixture_path(rule.path());
        if !fixture.exists() {
            println!(
                "--  {}: no fixture ({} not found)",
                rule.name(),
                fixture.display()
            );
            tally.missing += 1;
            continue;
        }
        let outcomes = match fixtures::run(rule, &fixture) {
            Ok(outcomes) => outcomes,
            Err(diagnostic) => {
                tally.broken += 1;
                report::print(&diagnostic);
                continue;
            }
        };
        // Only the cases an update can fix are written; the others stay failures.
        let update = args.update && outcomes.iter().any(CaseOutcome::updatable);
        if update && let Err(diagnostic) = fixtures::update(&fixture, &outcomes) {
            tally.broken += 1;
            report::print(&diagnostic);
            continue;
        }
        for outcome in outcomes {
            let updatable = outcome.updatable();
            let why = match outcome.result {
                Ok(()) => {
                    tally.passed += 1;
                    println!("ok  {}: {}", rule.name(), outcome.name);
                    continue;
                }
                Err(why) => why.replace('\n', "\n  "),
            };
            let label = if update && updatable {
                tally.updated += 1;
                "upd"
            } else {
                tally.failed += 1;
                "FAIL"
            };
            println!("{label} {}: {}\n  {why}", rule.name(), outcome.name);
        }
    }
    let updated = if args.update {
        format!("{} updated, ", tally.updated)
    } else {
        String::new()
    };
    println!(
        "{} passed, {} failed, {updated}{} rule(s) without fixtures",
        tally.passed, tally.failed, tally.missing
    );
    if tally.updated > 0 {
        say::info(
            format!(
                "wrote the intents of {} case(s) as their expectation; review the change (git diff) before committing it",
                tally.updated
            ),
            json!({ "updated": tally.updated }),
        );
    }
    let unfixtured = args.require_fixtures && tally.missing > 0;
    if unfixtured {
        say::error(
            format!(
                "{} rule(s) have no fixture, and --require-fixtures asks every rule for one",
                tally.missing
            ),
            json!({ "without_fixtures": tally.missing }),
        );
    }
    match (tally.broken, tally.failed, unfixtured) {
        (0, 0, false) => Ok(()),
        (0, _, _) => Err(Failure::Reported(1)),
        _ => Err(Failure::Reported(2)),
    }
}
