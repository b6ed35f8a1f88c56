//! `herald dlq list|show|retry|drop`: the dead-letter queue.
//!
//! `list` and `show` print for people, or JSON with `--json` (see `json`);
//! `retry` and `drop` take one id, `--all`, or `--rule NAME`.

mod json;

use crate::cli::{DlqArgs, DlqCommand, DlqSelection};
use crate::exit::{Failure, Outcome};
use crate::setup::{Setup, StoreDefault};
use anyhow::anyhow;
use herald_engine::{RetryOutcome, RunOptions};
use herald_store::DeadLetter;

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Runs the command.
pub fn run(args: DlqArgs) -> Outcome {
    let setup = Setup::resolve(&args.common, StoreDefault::Persistent)?;
    let store = setup.open_store()?;
    let letters = || -> Result<Vec<DeadLetter>, Failure> {
        store
            .dead_letters()
            .collect::<Result<_, _>>()
            .map_err(|e| Failure::Runtime(e.into()))
    };
    match args.command {
        DlqCommand::List { rule, json } => {
            let all: Vec<DeadLetter> = letters()?
                .into_iter()
                .filter(|l| rule.as_ref().is_none_or(|r| *r == l.rule))
                .collect();
            for l in &all {
                if json {
                    println!("{}", json::summary(l));
                } else {
                    println!(
                        "{:>6}  {:<24} {}  attempts {}  {}",
                        l.id,
                        l.rule,
                        json::time(l.at),
                        l.attempts,
                        first_line(&l.error)
                    );
                }
            }
            if !json {
                println!("{} dead letter(s)", all.len());
            }
            Ok(())
        }
        DlqCommand::Show { id, json } => {
            let letter = store
                .dead_letter(id)
                .map_err(|e| Failure::Runtime(e.into()))?
                .ok_or_else(|| Failure::BadInput(anyhow!("no dead letter with id {id}")))?;
            let event = bson::Document::try_from(letter.event.as_ref())
                .map_err(|e| Failure::Runtime(e.into()))?;
            if json {
                println!("{}", json::full(&letter, &event));
            } else {
                show(&letter, &event);
            }
            Ok(())
        }
        DlqCommand::Retry(selection) => {
            // In cluster mode, every lease is held while it writes.
            let (_holding, store) =
                crate::cluster::hold::guard(&setup, store.clone(), "herald dlq retry")?;
            let ids = selected(&selection, letters()?)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Failure::Runtime(e.into()))?;
            // With [mongodb] configured, insert_doc effects can be retried too.
            let client = runtime.block_on(setup.mongodb_client())?;
            let engine = setup.engine_on(RunOptions::default(), client, Some(store))?;
            let mut failed = 0;
            for id in ids {
                match runtime.block_on(engine.retry_dead_letter(id)) {
                    Ok(RetryOutcome::Succeeded { effects }) => {
                        println!("{id}: done ({effects} effect(s)); removed from the queue")
                    }
                    Ok(RetryOutcome::FailedAgain { error, attempts }) => {
                        failed += 1;
                        println!(
                            "{id}: failed again (attempts {attempts}): {}",
                            first_line(&error)
                        );
                    }
                    Err(e) => {
                        failed += 1;
                        println!("{id}: {e}");
                    }
                }
            }
            if failed > 0 {
                Err(Failure::Reported(1))
            } else {
                Ok(())
            }
        }
        DlqCommand::Drop(selection) => {
            // In cluster mode, every lease is held while it writes.
            let (_holding, store) =
                crate::cluster::hold::guard(&setup, store.clone(), "herald dlq drop")?;
            let ids = selected(&selection, letters()?)?;
            let mut commit = store.begin();
            for id in &ids {
                if store
                    .dead_letter(*id)
                    .map_err(|e| Failure::Runtime(e.into()))?
                    .is_none()
                {
                    return Err(Failure::BadInput(anyhow!("no dead letter with id {id}")));
                }
                commit.remove_dead_letter(*id);
            }
            store
                .commit(commit)
                .map_err(|e| Failure::Runtime(e.into()))?;
            println!("dropped {} dead letter(s)", ids.len());
            Ok(())
        }
    }
}

/// `show` for people.
fn show(letter: &DeadLetter, event: &bson::Document) {
    println!("id        {}", letter.id);
    println!("rule      {}", letter.rule);
    println!("first     {} (first failure)", json::time(letter.first_at));
    println!("last      {} (last failure)", json::time(letter.at));
    println!("attempts  {}", letter.attempts);
    println!(
        "done      effects {} (a retry skips them)",
        if letter.done.is_empty() {
            "none".to_owned()
        } else {
            letter
                .done
                .iter()
                .map(|d| d.number.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    println!("error     {}", letter.error);
    println!(
        "event     {}",
        serde_json::to_string_pretty(&herald_core::extjson::to_relaxed(event)).unwrap_or_default()
    );
}

/// The ids a selection names: the one given, every entry's, or one rule's.
fn selected(selection: &DlqSelection, letters: Vec<DeadLetter>) -> Result<Vec<u64>, Failure> {
    match (selection.id, selection.all, &selection.rule) {
        (Some(id), false, None) => Ok(vec![id]),
        (None, true, None) => Ok(letters.iter().map(|l| l.id).collect()),
        (None, _, Some(rule)) => {
            let ids: Vec<u64> = letters
                .iter()
                .filter(|l| l.rule == *rule)
                .map(|l| l.id)
                .collect();
            if ids.is_empty() {
                // A misspelt name must not read as "done".
                let mut rules: Vec<&str> = letters.iter().map(|l| l.rule.as_str()).collect();
                rules.sort_unstable();
                rules.dedup();
                return Err(Failure::BadInput(anyhow!(
                    "no dead letters for rule {rule:?} (rules with entries: {})",
                    if rules.is_empty() {
                        "none".to_owned()
                    } else {
                        rules.join(", ")
                    }
                )));
            }
            Ok(ids)
        }
        _ => Err(Failure::BadInput(anyhow!(
            "name an entry id, or pass --all or --rule NAME"
        ))),
    }
}
