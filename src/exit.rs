//! Outcomes and exit codes: 0 ok, 1 runtime failure, 2 bad input.

use std::process::ExitCode;

/// Why a command failed, which decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// The input is wrong (rules, events, config, store, arguments): exit 2.
    BadInput(anyhow::Error),
    /// Something failed while running (effects, I/O, failing tests): exit 1.
    Runtime(anyhow::Error),
    /// Already reported to the user; just exit with this code.
    Reported(u8),
}

/// A command's result.
pub type Outcome = Result<(), Failure>;

/// Maps an outcome to the process exit code, printing the error if it was not reported yet.
pub fn code(outcome: Outcome) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BadInput(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
        Err(Failure::Reported(code)) => ExitCode::from(code),
    }
}
