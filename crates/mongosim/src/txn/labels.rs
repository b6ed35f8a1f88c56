//! Error labels the server adds itself (its `ErrorLabelBuilder`), for
//! commands that carry a transaction number: `TransientTransactionError`
//! inside a transaction, `RetryableWriteError` on retryable writes and on
//! `commitTransaction`/`abortTransaction`. (`UnknownTransactionCommitResult`
//! is the driver's to add, for network errors and retryable errors on a
//! commit.) A `failCommand` fail point with `errorLabels` replaces these,
//! as on the server.

use super::session::SessionArgs;
use crate::error::CommandError;

/// `TransientTransactionError`.
pub const TRANSIENT: &str = "TransientTransactionError";
/// `RetryableWriteError`.
pub const RETRYABLE_WRITE: &str = "RetryableWriteError";

/// The server's `RetriableError` category (error_codes.yml).
const RETRIABLE: [i32; 12] = [
    6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
];

/// `isSnapshotError`: SnapshotTooOld, SnapshotUnavailable, StaleChunkHistory, MigrationConflict.
const SNAPSHOT: [i32; 4] = [239, 246, 287, 309];

/// WriteConflict, LockTimeout, PreparedTransactionInProgress, StaleDbVersion.
const ALWAYS_TRANSIENT: [i32; 4] = [112, 24, 267, 249];

/// NoSuchTransaction.
const NO_SUCH_TRANSACTION: i32 = 251;

fn commit_or_abort(command: &str) -> bool {
    matches!(command, "commitTransaction" | "abortTransaction")
}

/// `isTransientTransactionError` (no write concern errors in mongosim).
fn transient(code: i32, command: &str) -> bool {
    ALWAYS_TRANSIENT.contains(&code)
        || SNAPSHOT.contains(&code)
        || code == NO_SUCH_TRANSACTION
        || (!commit_or_abort(command) && RETRIABLE.contains(&code))
}

/// Adds the labels the server would add to `error` for this command.
pub fn add(error: &mut CommandError, session: &SessionArgs, command: &str) {
    let has_number = session.txn_number.is_some();
    let label = if has_number && session.autocommit.is_some() && transient(error.code, command) {
        Some(TRANSIENT)
    } else if has_number
        && (session.autocommit.is_none() || commit_or_abort(command))
        && RETRIABLE.contains(&error.code)
    {
        Some(RETRYABLE_WRITE)
    } else {
        None
    };
    if let Some(label) = label
        && !error.labels.iter().any(|l| l == label)
    {
        error.labels.push(label.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn labels(code: i32, session: &SessionArgs, command: &str) -> Vec<String> {
        let mut error = CommandError::new(code, "X", "x");
        add(&mut error, session, command);
        error.labels
    }

    #[test]
    fn transient_inside_transactions_retryable_on_commit() {
        let txn = SessionArgs {
            lsid: Some(doc! {"id": 1}),
            txn_number: Some(1),
            autocommit: Some(false),
            start_transaction: false,
        };
        let retryable_write = SessionArgs {
            autocommit: None,
            ..txn.clone()
        };
        assert_eq!(labels(112, &txn, "insert"), [TRANSIENT]);
        assert_eq!(labels(251, &txn, "commitTransaction"), [TRANSIENT]);
        assert_eq!(labels(91, &txn, "insert"), [TRANSIENT]);
        assert_eq!(labels(91, &txn, "commitTransaction"), [RETRYABLE_WRITE]);
        assert_eq!(labels(11000, &txn, "insert"), Vec::<String>::new());
        assert_eq!(labels(91, &retryable_write, "insert"), [RETRYABLE_WRITE]);
        assert_eq!(
            labels(112, &SessionArgs::default(), "insert"),
            Vec::<String>::new()
        );
    }
}
