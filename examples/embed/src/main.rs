//! Runs the embedding example: sends [`ORDERS`] through herald's rules,
//! prints the text messages and the run's summary, and exits 0 if the counts
//! are the expected ones, 1 if not (or if the engine failed).

use herald_embed_example::{EXPECTED, ORDERS, run};
use std::process::ExitCode;

/// Counts each thread's allocations, so a handler call's memory is bounded
/// (`[engine] handler_memory_mib`); without it the engine logs a warning.
#[global_allocator]
static ALLOCATOR: herald_script::alloc::CountingAllocator =
    herald_script::alloc::CountingAllocator::new(std::alloc::System);

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match run(&ORDERS).await {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    for sms in &outcome.sms {
        println!("sms to {}: {}", sms.to, sms.text);
    }
    let s = &outcome.summary;
    println!(
        "{} events, {} matched, {} effects, {} dead-lettered, interrupted: {}",
        s.events, s.matched, s.effects, s.dead_lettered, s.interrupted
    );
    let mismatches = outcome.mismatches(&EXPECTED);
    if mismatches.is_empty() {
        return ExitCode::SUCCESS;
    }
    for m in &mismatches {
        eprintln!("unexpected {m}");
    }
    ExitCode::FAILURE
}
