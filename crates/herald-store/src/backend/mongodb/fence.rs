//! Fencing: a batch that needs leases checks them inside its own
//! transaction, by writing them, so an instance that lost a lease (paused,
//! cut off, taken over) commits nothing.

use super::LEASES;
use crate::StoreError;
use crate::backend::Fence;
use bson::{Bson, Document, doc};
use mongodb::{ClientSession, Database};

/// A fenced batch whose lease is not held (the transaction's error payload).
#[derive(Debug)]
pub(super) struct NotHeld;

/// The lease documents `fences` need, as filters: `{_id, owner, epoch}`.
pub(super) fn filters(fences: &[Fence]) -> Vec<Bson> {
    fences
        .iter()
        .map(|f| Bson::Document(doc! {"_id": &f.lease, "owner": &f.owner, "epoch": f.epoch}))
        .collect()
}

/// Checks, in the session's transaction, that every lease of `filters` is
/// held as it says; [`NotHeld`] if not.
///
/// A write, not a read: a take-over that raises an epoch meanwhile
/// conflicts with it, so one of the two transactions fails (a read would
/// not see it).
pub(super) async fn check(
    database: &Database,
    session: &mut ClientSession,
    filters: &[Bson],
) -> mongodb::error::Result<()> {
    if filters.is_empty() {
        return Ok(());
    }
    let held = database
        .collection::<Document>(LEASES)
        .update_many(
            doc! {"$or": filters.to_vec()},
            doc! {"$inc": {"commits": 1_i64}},
        )
        .session(session)
        .await?;
    if held.matched_count != filters.len() as u64 {
        return Err(mongodb::error::Error::custom(NotHeld));
    }
    Ok(())
}

/// The error of a batch refused because a lease of `fences` is not held.
pub(super) fn refused(fences: &[Fence]) -> StoreError {
    StoreError::Fenced {
        lease: fences
            .iter()
            .map(|f| f.lease.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        reason: "another instance took it over, or it was let go".into(),
    }
}
