//! `herald`: a reactive rules engine on MongoDB change streams.
//!
//! This binary is only the command line: it parses arguments, runs one
//! subcommand, and maps the outcome to an exit code (0 ok, 1 runtime
//! failure, 2 bad input). The work is done by the `herald-*` crates.

mod bench;
mod check;
mod cli;
mod dlq;
mod exit;
mod logging;
mod progress;
mod replay;
mod report;
mod run;
mod setup;
mod status;
mod streams;
mod test;

use clap::Parser;
use std::process::ExitCode;

/// Counts each thread's allocations, so a handler call's memory is bounded
/// (`[engine] handler_memory_mib`).
#[global_allocator]
static ALLOCATOR: herald_script::alloc::CountingAllocator = herald_script::alloc::CountingAllocator;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init(&cli.log_format);
    let result = match cli.command {
        cli::Command::Replay(args) => replay::run(args),
        cli::Command::Check(args) => check::run(args),
        cli::Command::Test(args) => test::run(args),
        cli::Command::Run(args) => run::run(args),
        cli::Command::Status(args) => status::run(args),
        cli::Command::Dlq(args) => dlq::run(args),
        cli::Command::Streams(args) => streams::run(args),
        cli::Command::Bench(args) => bench::run(args),
        cli::Command::BenchCase(args) => bench::replay::run_case(args),
    };
    exit::code(result)
}
