//! `herald dlq list|show|retry|drop`: the dead-letter queue.

use crate::cli::{DlqArgs, DlqCommand};
use crate::exit::{Failure, Outcome};
use crate::setup::{Setup, StoreDefault};
use anyhow::anyhow;
use herald_engine::{RetryOutcome, RunOptions};
use herald_store::DeadLetter;

fn when(letter: &DeadLetter) -> String {
    letter.at.try_to_rfc3339_string().unwrap_or_default()
}

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
        DlqCommand::List => {
            let all = letters()?;
            for l in &all {
                println!(
                    "{:>6}  {:<24} {}  attempts {}  {}",
                    l.id,
                    l.rule,
                    when(l),
                    l.attempts,
                    first_line(&l.error)
                );
            }
            println!("{} dead letter(s)", all.len());
            Ok(())
        }
        DlqCommand::Show { id } => {
            let letter = store
                .dead_letter(id)
                .map_err(|e| Failure::Runtime(e.into()))?
                .ok_or_else(|| Failure::BadInput(anyhow!("no dead letter with id {id}")))?;
            let event = bson::Document::try_from(letter.event.as_ref())
                .map_err(|e| Failure::Runtime(e.into()))?;
            println!("id        {}", letter.id);
            println!("rule      {}", letter.rule);
            println!("when      {}", when(&letter));
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
                serde_json::to_string_pretty(&herald_core::extjson::to_relaxed(&event))
                    .unwrap_or_default()
            );
            Ok(())
        }
        DlqCommand::Retry { id, all } => {
            let ids = selected(id, all, letters()?)?;
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
        DlqCommand::Drop { id, all } => {
            let ids = selected(id, all, letters()?)?;
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

fn selected(id: Option<u64>, all: bool, letters: Vec<DeadLetter>) -> Result<Vec<u64>, Failure> {
    match (id, all) {
        (Some(id), false) => Ok(vec![id]),
        (None, true) => Ok(letters.iter().map(|l| l.id).collect()),
        _ => Err(Failure::BadInput(anyhow!(
            "name an entry id, or pass --all"
        ))),
    }
}
