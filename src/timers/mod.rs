//! `herald timers list|cancel`: the durable timers rules set with `after`
//! and `at`, waiting in the store for their time.
//!
//! - `list` streams them from the store in due order (a store may hold
//!   millions; they are never all in memory), for people or, with `--json`,
//!   as JSON Lines (see `list`).
//! - `cancel RULE NAME` removes one, as the rule's `cancel_timer(NAME)`
//!   would; `cancel RULE --all` removes all of a rule's, in bounded commits
//!   (see `cancel`).
//!
//! Both open the store like `status` and `dlq` do, so neither runs while
//! `herald run` holds it.

mod cancel;
mod list;

use crate::cli::{TimerSelection, TimersArgs, TimersCommand};
use crate::exit::Outcome;
use crate::setup::{Setup, StoreDefault};

/// Runs the command.
pub fn run(args: TimersArgs) -> Outcome {
    let setup = Setup::resolve(&args.common, StoreDefault::Persistent)?;
    let cluster = &setup.config.cluster;
    // Named in messages: the store's directory, or the cluster's database.
    let dir = if cluster.enabled() {
        std::path::PathBuf::from(format!("mongodb database {}", cluster.database))
    } else {
        setup.existing_store()?.to_path_buf()
    };
    let store = setup.open_store()?;
    match args.command {
        TimersCommand::List { rule, json } => list::run(&store, &dir, rule.as_deref(), json),
        TimersCommand::Cancel(TimerSelection { rule, name, all }) => {
            let (_holding, store) =
                crate::cluster::hold::guard(&setup, store, "herald timers cancel")?;
            match name {
                Some(name) if !all => cancel::one(&store, &dir, &rule, &name),
                _ => cancel::all(&store, &dir, &rule),
            }
        }
    }
}

/// The rules that have pending timers, for a message about a rule that has
/// none (a misspelt name must not read as "nothing to do" without a hint).
fn rules_with_timers(stats: &[herald_store::TimerStats]) -> String {
    if stats.is_empty() {
        return "none".to_owned();
    }
    stats
        .iter()
        .map(|s| s.rule.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
