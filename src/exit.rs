//! Outcomes and exit codes: 0 ok, 1 runtime failure, 2 bad input.

use crate::logging::say;
use serde_json::json;
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
            say::error(format!("{e:#}"), json!({ "exit_code": 2 }));
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            say::error(format!("{e:#}"), json!({ "exit_code": 1 }));
            ExitCode::from(1)
        }
        Err(Failure::Reported(code)) => ExitCode::from(code),
    }
}

/// True if a store error means the store on disk cannot be used as given
/// (exit 2); false for I/O failures while running (exit 1).
pub fn store_is_bad_input(error: &herald_store::StoreError) -> bool {
    error.is_bad_input()
}

/// A store that opened but then failed, reading or committing: a record that
/// cannot be decoded is bad input (2); I/O is a runtime failure (1). Either
/// names the store it is in.
pub fn store_failure(dir: &std::path::Path, error: herald_store::StoreError) -> Failure {
    use herald_store::StoreError;
    let bad = store_is_bad_input(&error);
    // The errors of a store on disk name it already; the others are named here.
    let named = !matches!(error, StoreError::BadValue { .. } | StoreError::Sled(_));
    let error = anyhow::Error::from(error);
    let error = if named {
        error
    } else {
        error.context(format!("the store at {}", dir.display()))
    };
    if bad {
        Failure::BadInput(error)
    } else {
        Failure::Runtime(error)
    }
}

/// How an error that stopped a run maps to an exit code: a store that could
/// not commit, a source that failed or a worker that died is a runtime
/// failure (1); a stored value or position that cannot be read, or a bad
/// event line, is bad input (2).
pub fn run_failure(error: herald_engine::EngineError) -> Failure {
    use herald_engine::EngineError;
    use herald_ingest::SourceError;
    match error {
        EngineError::Store(e) if store_is_bad_input(&e) => Failure::BadInput(e.into()),
        EngineError::Source(e @ (SourceError::BadLine(_) | SourceError::BadPosition { .. })) => {
            Failure::BadInput(e.into())
        }
        EngineError::Config(e) => Failure::BadInput(e.into()),
        other => Failure::Runtime(other.into()),
    }
}
