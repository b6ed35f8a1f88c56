//! Fail points on commits and inside transactions, commands a transaction
//! cannot run, and transactions that outlive `transactionLifetimeLimitSeconds`.

use super::{all, assert_transient, begin, code};
use crate::each_target;
use crate::util::fail_point;
use mongodb::bson::{Document, doc};

async fn admin(t: &crate::util::Target, command: Document) -> bool {
    match t.client.database("admin").run_command(command).await {
        Ok(_) => true,
        Err(e) if t.is_real() => {
            eprintln!("skipping on the real server: {e}; start mongod with enableTestCommands=1");
            false
        }
        Err(e) => panic!("{e}"),
    }
}

async fn off(t: &crate::util::Target) {
    admin(t, doc! {"configureFailPoint": "failCommand", "mode": "off"}).await;
}

#[tokio::test]
async fn a_dropped_commit_is_an_unknown_result_and_a_retry_commits_once() {
    each_target!("txn_commit_dropped", |t| {
        let coll = t.coll("acc");
        coll.insert_one(doc! {"_id": 0}).await.unwrap();
        let mut session = begin(&t).await;
        coll.insert_one(doc! {"_id": 1})
            .session(&mut session)
            .await
            .unwrap();
        // Twice: the driver retries a commit once by itself.
        let data = doc! {"failCommands": ["commitTransaction"], "closeConnection": true};
        if !admin(&t, fail_point(doc! {"times": 2}.into(), data)).await {
            continue;
        }
        let err = session.commit_transaction().await.unwrap_err();
        assert!(
            err.contains_label("UnknownTransactionCommitResult"),
            "{err}"
        );
        assert_eq!(all(&coll).await, vec![doc! {"_id": 0}], "not committed yet");
        session.commit_transaction().await.unwrap();
        assert_eq!(all(&coll).await, vec![doc! {"_id": 0}, doc! {"_id": 1}]);
        session.commit_transaction().await.unwrap();
        assert_eq!(coll.count_documents(doc! {}).await.unwrap(), 2);
        off(&t).await;
    });
}

#[tokio::test]
async fn fail_point_errors_in_transactions_get_the_servers_labels() {
    each_target!("txn_fail_point", |t| {
        let coll = t.coll("acc");
        coll.insert_one(doc! {"_id": 0}).await.unwrap();
        let mut session = begin(&t).await;
        coll.insert_one(doc! {"_id": 1})
            .session(&mut session)
            .await
            .unwrap();
        // No errorLabels given: the server labels a WriteConflict in a transaction itself.
        let data = doc! {"failCommands": ["insert"], "errorCode": 112};
        if !admin(&t, fail_point(doc! {"times": 1}.into(), data)).await {
            continue;
        }
        let err = coll
            .insert_one(doc! {"_id": 2})
            .session(&mut session)
            .await
            .unwrap_err();
        assert_transient(&err, 112);
        session.abort_transaction().await.unwrap();
        // Given labels replace the server's.
        let data =
            doc! {"failCommands": ["commitTransaction"], "errorCode": 251, "errorLabels": []};
        admin(&t, fail_point(doc! {"times": 1}.into(), data)).await;
        session.start_transaction().await.unwrap();
        coll.insert_one(doc! {"_id": 3})
            .session(&mut session)
            .await
            .unwrap();
        let err = session.commit_transaction().await.unwrap_err();
        assert_eq!(code(&err), 251, "{err}");
        assert!(!err.contains_label("TransientTransactionError"), "{err}");
        // The fail point stood in front of the commit: the transaction is still open.
        session.commit_transaction().await.unwrap();
        assert_eq!(all(&coll).await, vec![doc! {"_id": 0}, doc! {"_id": 3}]);
        off(&t).await;
    });
}

#[tokio::test]
async fn a_transaction_refuses_commands_it_cannot_run() {
    each_target!("txn_refuse", |t| {
        let coll = t.coll("acc");
        coll.insert_one(doc! {"_id": 1}).await.unwrap();
        let mut session = begin(&t).await;
        coll.insert_one(doc! {"_id": 2})
            .session(&mut session)
            .await
            .unwrap();
        // `count` is not on the server's list of commands a transaction may run.
        let err = t
            .db()
            .run_command(doc! {"count": coll.name()})
            .session(&mut session)
            .await
            .unwrap_err();
        assert_eq!(code(&err), 263, "{err}");
        session.abort_transaction().await.unwrap();
        assert_eq!(all(&coll).await, vec![doc! {"_id": 1}]);
    });
}

#[tokio::test]
async fn a_transaction_past_its_lifetime_is_aborted() {
    each_target!("txn_lifetime", |t| {
        let coll = t.coll("acc");
        coll.insert_one(doc! {"_id": 1, "n": 0}).await.unwrap();
        if !admin(
            &t,
            doc! {"setParameter": 1, "transactionLifetimeLimitSeconds": 1},
        )
        .await
        {
            continue;
        }
        let mut session = begin(&t).await;
        coll.update_one(doc! {"_id": 1}, doc! {"$set": {"n": 5}})
            .session(&mut session)
            .await
            .unwrap();
        // Waits for the transaction, which expires after about a second.
        let started = std::time::Instant::now();
        coll.update_one(doc! {"_id": 1}, doc! {"$inc": {"n": 1}})
            .await
            .unwrap();
        assert!(started.elapsed() >= std::time::Duration::from_millis(500));
        let err = session.commit_transaction().await.unwrap_err();
        assert_transient(&err, 251);
        assert_eq!(all(&coll).await, vec![doc! {"_id": 1, "n": 1}]);
        admin(
            &t,
            doc! {"setParameter": 1, "transactionLifetimeLimitSeconds": 60},
        )
        .await;
    });
}
