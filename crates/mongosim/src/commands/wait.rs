//! Waiting for transactions: a write outside a transaction that meets one
//! (see [`crate::writer::direct`]), or DDL on a collection one uses, waits
//! until the transaction commits, aborts or expires, then tries again, as
//! the server's write-conflict retry loop and lock queue make it wait.
//! `maxTimeMS` bounds the wait (50 `MaxTimeMSExpired`).

use super::{Ctx, number};
use crate::error::CommandError;
use crate::state::State;
use bson::Document;
use std::time::Duration;
use tokio::time::Instant;

/// When the command's `maxTimeMS` runs out, if it has one.
pub fn deadline(cmd: &Document) -> Option<Instant> {
    cmd.get("maxTimeMS")
        .and_then(number)
        .filter(|ms| *ms > 0)
        .map(|ms| Instant::now() + Duration::from_millis(ms as u64))
}

fn time_limit() -> CommandError {
    CommandError::new(50, "MaxTimeMSExpired", "operation exceeded time limit")
}

/// Runs `step` under the lock until it is not [blocked](CommandError::blocked);
/// between tries, waits for a transaction to end (or to expire).
pub async fn until_unblocked<T>(
    ctx: &Ctx<'_>,
    deadline: Option<Instant>,
    mut step: impl FnMut(&mut State) -> Result<T, CommandError>,
) -> Result<T, CommandError> {
    loop {
        let (mut ended, expiry) = {
            let mut state = ctx.shared.lock();
            state.expire_transactions(Instant::now());
            let result = step(&mut state);
            ctx.shared.notify_writes(&state);
            match result {
                Err(e) if e.is_blocked() => {}
                other => return other,
            }
            (state.txns.subscribe(), state.txns.next_expiry())
        };
        let wake = match (expiry, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match wake {
            Some(at) => {
                let _ = tokio::time::timeout_at(at, ended.changed()).await;
            }
            None => {
                let _ = ended.changed().await;
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(time_limit());
        }
    }
}

/// Waits until `busy` is false (DDL waiting for transactions that use its collections).
pub async fn until_idle(
    ctx: &Ctx<'_>,
    deadline: Option<Instant>,
    busy: impl Fn(&State) -> bool,
) -> Result<(), CommandError> {
    until_unblocked(ctx, deadline, |state| {
        if busy(state) {
            Err(CommandError::blocked())
        } else {
            Ok(())
        }
    })
    .await
}
