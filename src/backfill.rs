//! `herald backfill --rule NAME [--target T]`: one rule over the documents
//! that exist.
//!
//! A rule deployed today sees only changes from now on; the documents that
//! already wait (300 expenses pending approval) never reach it. A backfill
//! reads its collection as of one cluster time, as a snapshot does, and runs
//! only that rule on each document, as an `insert` with `snapshot: true`.
//! It keeps its own store (`<store>.backfill/<rule>` unless `--store` says
//! otherwise), so it runs whether `herald run` is running or not; its
//! progress is checkpointed there, so after a crash it goes on where it
//! stopped without repeating effects, and once done, running it again does
//! nothing. Its dead letters are in that store (`herald dlq --store`).

use crate::cli::BackfillArgs;
use crate::exit::{Failure, Outcome};
use crate::run::{Mode, live};
use crate::setup::{DEFAULT_STORE, Setup, StoreDefault};
use anyhow::anyhow;
use herald_core::WatchTarget;

/// Runs the command.
pub fn run(args: BackfillArgs) -> Outcome {
    let mut setup = Setup::resolve(&args.common, StoreDefault::Persistent)?;
    let rules = setup.load_rules()?;
    let Some(rule) = rules
        .rules()
        .iter()
        .find(|r| r.name().as_ref() == args.rule)
        .cloned()
    else {
        let names: Vec<&str> = rules.rules().iter().map(|r| r.name().as_ref()).collect();
        return Err(Failure::BadInput(anyhow!(
            "no rule named {:?} in {}; the rules are: {}",
            args.rule,
            setup.rules.display(),
            names.join(", ")
        )));
    };
    let watch = &rule.spec().watch;
    let within = match &args.target {
        None => None,
        Some(text) => {
            let target: WatchTarget = text
                .parse()
                .map_err(|e| Failure::BadInput(anyhow!("--target {text:?}: {e}")))?;
            if !watch.contains(&target) {
                return Err(Failure::BadInput(anyhow!(
                    "--target {target} is not within {watch}, which rule {:?} watches",
                    args.rule
                )));
            }
            // The rule's own target is no narrowing: the same backfill.
            (target != *watch).then_some(target)
        }
    };
    if !rule.spec().on.contains(&herald_core::OperationType::Insert) {
        return Err(Failure::BadInput(anyhow!(
            "rule {:?} does not handle inserts (`on` in RULE), and a backfill hands it each document as one",
            args.rule
        )));
    }
    if !rule.spec().snapshot {
        return Err(Failure::BadInput(anyhow!(
            "rule {:?} says `snapshot: false` in RULE, so it takes no backfill events",
            args.rule
        )));
    }
    if args.common.store.is_none() {
        // Beside `herald run`'s store, never in it: that one may be open.
        let main = setup.store.clone().unwrap_or_else(|| DEFAULT_STORE.into());
        let mut dir = main.into_os_string();
        dir.push(".backfill");
        // One store per rule and target: each backfill is done once.
        let name = match &within {
            Some(target) => format!(
                "{}@{}",
                args.rule,
                target.to_string().replace(['/', '\\'], "_")
            ),
            None => args.rule.clone(),
        };
        setup.store = Some(std::path::PathBuf::from(dir).join(name));
    }
    live(setup, Mode::Backfill(Box::new(rule), within))
}
