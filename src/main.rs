//! `herald`: a reactive rules engine on MongoDB change streams.
//!
//! This binary is only the command line: it parses arguments, runs one
//! subcommand, and maps the outcome to an exit code (0 ok, 1 runtime
//! failure, 2 bad input). The work is done by the `herald-*` crates.

mod allocator;
mod backfill;
mod bench;
mod capture;
mod check;
mod cli;
mod cluster;
mod dlq;
mod exit;
mod http;
mod init;
mod lines;
mod logging;
mod progress;
mod reload;
mod replay;
mod report;
mod run;
mod setup;
mod signals;
mod status;
mod streams;
mod test;
mod time;
mod timers;

use clap::Parser;
use clap::error::ErrorKind;
use std::process::ExitCode;

fn main() -> ExitCode {
    allocator::tune();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    logging::init(cli.log_format);
    let result = match cli.command {
        cli::Command::Init(args) => init::run(args),
        cli::Command::Replay(args) => replay::run(args),
        cli::Command::Check(args) => check::run(args),
        cli::Command::Test(args) => test::run(args),
        cli::Command::Run(args) => run::run(args),
        cli::Command::Status(args) => status::run(args),
        cli::Command::Dlq(args) => dlq::run(args),
        cli::Command::Streams(args) => streams::run(args),
        cli::Command::Timers(args) => timers::run(args),
        cli::Command::Backfill(args) => backfill::run(args),
        cli::Command::Capture(args) => capture::run(args),
        cli::Command::Bench(args) => bench::run(args),
        cli::Command::BenchCase(args) => bench::replay::run_case(args),
    };
    exit::code(result)
}

/// Arguments clap refused (or `--help`/`--version`): as clap prints them,
/// or as one JSON error line when JSON logs were asked for, so a log
/// pipeline never sees a line it cannot parse.
fn usage_error(e: clap::Error) -> ExitCode {
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if informational || !json_requested() {
        e.exit();
    }
    logging::init(cli::LogFormat::Json);
    let text = e.render().to_string();
    let text = text.trim_end();
    let text = text.strip_prefix("error: ").unwrap_or(text);
    logging::say::error(text, serde_json::json!({ "kind": "usage" }));
    ExitCode::from(2)
}

/// Whether `--log-format json` (or `HERALD_LOG_FORMAT=json`) is among
/// arguments clap could not parse as a whole.
fn json_requested() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let flag = args
        .windows(2)
        .any(|w| w[0] == "--log-format" && w[1] == "json")
        || args.iter().any(|a| a == "--log-format=json");
    flag || std::env::var("HERALD_LOG_FORMAT").is_ok_and(|v| v == "json")
}
