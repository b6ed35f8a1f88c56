//! `commitTransaction` and `abortTransaction` (on `admin`, with the
//! transaction's `lsid`, `txnNumber` and `autocommit: false`).
//!
//! `writeConcern` is accepted on both: every write of a single node is
//! majority-committed when it is applied. A second commit of a committed
//! transaction succeeds again (drivers retry commits); committing or
//! aborting an aborted one fails with 251 `NoSuchTransaction`, aborting a
//! committed one with 256 `TransactionCommitted` (checked when the command
//! enters the transaction, see [`crate::txn::table`]).

use super::Ctx;
use crate::error::{CommandError, CommandResult};
use bson::Document;

fn admin_only(ctx: &Ctx<'_>, name: &str) -> Result<(), CommandError> {
    if ctx.db != "admin" {
        return Err(CommandError::new(
            13,
            "Unauthorized",
            format!("{name} may only be run against the admin database."),
        ));
    }
    Ok(())
}

fn not_in_transaction(name: &str) -> CommandError {
    CommandError::new(
        263,
        "OperationNotSupportedInTransaction",
        format!("{name} must be run within a transaction"),
    )
}

/// `{commitTransaction: 1}`.
pub fn commit(ctx: &mut Ctx<'_>) -> CommandResult {
    admin_only(ctx, "commitTransaction")?;
    let txn = ctx
        .txn
        .clone()
        .ok_or_else(|| not_in_transaction("commitTransaction"))?;
    let mut state = ctx.shared.lock();
    if state.txns.is_committed(&txn) {
        return Ok(Document::new());
    }
    let open = state.txns.checkout(&txn)?;
    let committed = state.commit_transaction(open);
    if committed.is_err() {
        state.abort_transaction(&txn);
    }
    ctx.shared.notify_writes(&state);
    committed.map(|()| Document::new())
}

/// `{abortTransaction: 1}`.
pub fn abort(ctx: &mut Ctx<'_>) -> CommandResult {
    admin_only(ctx, "abortTransaction")?;
    let txn = ctx
        .txn
        .clone()
        .ok_or_else(|| not_in_transaction("abortTransaction"))?;
    ctx.shared.lock().abort_transaction(&txn);
    Ok(Document::new())
}
