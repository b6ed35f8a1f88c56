//! Unit tests of the session table: transaction numbers, states, expiry.

use super::session::SessionArgs;
use super::table::{Transactions, TxnRef};
use crate::error::CommandError;
use bson::Timestamp;
use bson::doc;
use std::time::Duration;

fn args(number: i64, start: bool) -> SessionArgs {
    SessionArgs {
        lsid: Some(doc! {"id": 7}),
        txn_number: Some(number),
        autocommit: Some(false),
        start_transaction: start,
    }
}

fn at() -> Result<Timestamp, CommandError> {
    Ok(Timestamp {
        time: 1,
        increment: 1,
    })
}

#[test]
fn numbers_move_forward_and_a_newer_one_aborts_the_open_transaction() {
    let mut txns = Transactions::new(60);
    let code = |r: Result<(TxnRef, Vec<i64>), CommandError>| r.unwrap_err().code;
    // Continuing a transaction that never started.
    assert_eq!(
        code(txns.begin_or_continue(&args(1, false), "find", at)),
        251
    );
    let (one, _) = txns
        .begin_or_continue(&args(1, true), "insert", at)
        .unwrap();
    assert!(one.started);
    assert_eq!(txns.open().count(), 1);
    // Starting again at the active number is for sharded clusters only.
    assert_eq!(
        code(txns.begin_or_continue(&args(1, true), "insert", at)),
        117
    );
    txns.begin_or_continue(&args(1, false), "find", at).unwrap();
    // A newer number aborts the open transaction; an older one is too old.
    txns.begin_or_continue(&args(2, true), "insert", at)
        .unwrap();
    assert_eq!(
        code(txns.begin_or_continue(&args(1, false), "find", at)),
        225
    );
    assert_eq!(txns.open().map(|t| t.number).collect::<Vec<_>>(), [2]);
    let two = TxnRef {
        key: args(2, false).key().unwrap(),
        number: 2,
        started: false,
    };
    let open = txns.checkout(&two).unwrap();
    txns.committed(open);
    // Committed: commit again is fine, anything else is refused.
    txns.begin_or_continue(&args(2, false), "commitTransaction", at)
        .unwrap();
    assert_eq!(
        code(txns.begin_or_continue(&args(2, false), "abortTransaction", at)),
        256
    );
    txns.begin_or_continue(&args(3, true), "insert", at)
        .unwrap();
    txns.abort(&two.key, 3);
    assert_eq!(
        code(txns.begin_or_continue(&args(3, false), "commitTransaction", at)),
        251
    );
}

#[test]
fn transactions_expire_at_their_lifetime() {
    let mut txns = Transactions::new(5);
    txns.begin_or_continue(&args(1, true), "insert", at)
        .unwrap();
    let expires = txns.next_expiry().unwrap();
    txns.expire(expires - Duration::from_millis(1));
    assert_eq!(txns.open().count(), 1);
    txns.expire(expires);
    assert_eq!(txns.open().count(), 0);
}
