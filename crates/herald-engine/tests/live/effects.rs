//! Effects on MongoDB: `insert_doc` is done only when its document is there.

use crate::harness::*;
use bson::doc;
use futures_util::TryStreamExt;

/// A duplicate key on `_id` (an earlier attempt wrote it) counts as done; a
/// duplicate on another unique index is a failure that is dead-lettered.
#[tokio::test]
async fn insert_doc_counts_only_its_own_id_as_already_done() {
    let t = Target::any("insert_doc_dup").await;
    let dir = tempfile::tempdir().unwrap();
    let audit_ns = t.ns("d.audit");
    let rule = format!(
        "const RULE = #{{ watch: \"{}\", on: [\"insert\"] }};\nfn handle(event) {{ insert_doc(\"{audit_ns}\", #{{ order: event.documentKey._id }}); }}\n",
        t.ns("d.c")
    );
    let rules_dir = rules(dir.path(), &[("audit", &rule)]);
    let client = mongodb::Client::with_uri_str(t.uri()).await.unwrap();
    let db = client.database(&t.ns("d"));
    db.run_command(doc! {
        "createIndexes": "audit",
        "indexes": [{"key": {"order": 1}, "name": "order_1", "unique": true}],
    })
    .await
    .unwrap();
    let audit = db.collection::<bson::Document>("audit");
    // Someone else already recorded order 1: herald's insert for it must not count as done.
    audit
        .insert_one(doc! {"_id": "theirs", "order": 1})
        .await
        .unwrap();
    let (_recorder, running) = launch(&t, &rules_dir, dir.path(), 1).await;
    let c = coll(&t, "d", "c").await;
    c.insert_one(doc! {"_id": 1}).await.unwrap();
    c.insert_one(doc! {"_id": 2}).await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while audit.count_documents(doc! {"order": 2}).await.unwrap() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "order 2 was never inserted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let store = running.store.clone();
    let summary = running.stop().await.unwrap();
    assert_eq!(
        (summary.effects, summary.dead_lettered),
        (1, 1),
        "{summary:?}"
    );
    let letters: Vec<_> = store.dead_letters().collect::<Result<_, _>>().unwrap();
    assert_eq!(letters.len(), 1);
    assert!(
        letters[0].error.contains("a unique index other than _id"),
        "{}",
        letters[0].error
    );

    // The channel itself: a repeat of one effect (same key, so same `_id`) is
    // done; another effect with the same order is refused by the other index.
    use herald_engine::effects::Channel;
    let channel = herald_engine::effects::DocWriteChannel::new(client.clone());
    let effect = |token: &str| {
        herald_core::Effect::new(
            "audit".into(),
            herald_core::ResumeToken::new(bson::RawBson::String(token.into())),
            0,
            herald_core::Intent::InsertDoc {
                ns: audit_ns.parse().unwrap(),
                doc: doc! {"order": 3},
            },
        )
    };
    assert_eq!(channel.send(&effect("t1")).await, Ok(()));
    assert_eq!(
        channel.send(&effect("t1")).await,
        Ok(()),
        "a repeat is done"
    );
    let refused = channel.send(&effect("t2")).await.unwrap_err();
    assert!(
        refused.retryable && refused.message.contains("other than _id"),
        "{refused:?}"
    );
    assert_eq!(audit.count_documents(doc! {}).await.unwrap(), 3);
}

/// `upsert_doc` writes a document by its own `_id`: the insert and the
/// replace of one source document leave one copy, the latest; repeating an
/// effect changes nothing; `insert_doc` refuses a document with an `_id`.
#[tokio::test]
async fn upsert_doc_keeps_one_document_per_id() {
    let t = Target::any("upsert_doc").await;
    let dir = tempfile::tempdir().unwrap();
    let copy_ns = t.ns("d.copy");
    let rule = format!(
        "const RULE = #{{ watch: \"{}\", on: [\"insert\", \"replace\"] }};\nfn handle(event) {{ upsert_doc(\"{copy_ns}\", #{{ _id: event.documentKey._id, v: event.fullDocument.v }}); }}\n",
        t.ns("d.c")
    );
    let rules_dir = rules(dir.path(), &[("copy", &rule)]);
    let client = mongodb::Client::with_uri_str(t.uri()).await.unwrap();
    let copy = client
        .database(&t.ns("d"))
        .collection::<bson::Document>("copy");
    let (_recorder, running) = launch(&t, &rules_dir, dir.path(), 1).await;
    let c = coll(&t, "d", "c").await;
    c.insert_one(doc! {"_id": 1, "v": 1}).await.unwrap();
    c.replace_one(doc! {"_id": 1}, doc! {"v": 2}).await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while copy.count_documents(doc! {"v": 2}).await.unwrap() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replace was never copied"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let summary = running.stop().await.unwrap();
    assert_eq!(
        (summary.effects, summary.dead_lettered),
        (2, 0),
        "{summary:?}"
    );
    let copies: Vec<_> = copy
        .find(doc! {})
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert_eq!(copies, vec![doc! {"_id": 1, "v": 2}]);

    use herald_engine::effects::Channel;
    let channel = herald_engine::effects::DocWriteChannel::new(client.clone());
    let effect = |intent| {
        herald_core::Effect::new(
            "copy".into(),
            herald_core::ResumeToken::new(bson::RawBson::String("t9".into())),
            0,
            intent,
        )
    };
    let upsert = effect(herald_core::Intent::UpsertDoc {
        ns: copy_ns.parse().unwrap(),
        doc: doc! {"_id": 1, "v": 3},
    });
    assert_eq!(channel.send(&upsert).await, Ok(()));
    assert_eq!(channel.send(&upsert).await, Ok(()), "a repeat is done");
    assert_eq!(
        copy.find_one(doc! {}).await.unwrap(),
        Some(doc! {"_id": 1, "v": 3})
    );
    assert_eq!(copy.count_documents(doc! {}).await.unwrap(), 1);
    let refused = channel
        .send(&effect(herald_core::Intent::InsertDoc {
            ns: copy_ns.parse().unwrap(),
            doc: doc! {"_id": 5},
        }))
        .await
        .unwrap_err();
    assert!(
        !refused.retryable && refused.message.contains("use upsert_doc"),
        "{refused:?}"
    );
    assert_eq!(copy.count_documents(doc! {}).await.unwrap(), 1);
}

/// `upsert_doc(ns, filter, update)`: operators update the document the
/// filter selects (inserting it first), a replacement replaces it, and doing
/// either again leaves the same document.
#[tokio::test]
async fn upsert_doc_with_a_filter_updates_or_inserts_and_repeats_change_nothing() {
    use herald_engine::effects::Channel;
    let t = Target::any("upsert_where").await;
    let client = mongodb::Client::with_uri_str(t.uri()).await.unwrap();
    let totals = client
        .database(&t.ns("d"))
        .collection::<bson::Document>("totals");
    let ns: herald_core::Namespace = t.ns("d.totals").parse().unwrap();
    let channel = herald_engine::effects::DocWriteChannel::new(client.clone());
    let effect = |n: u32, filter, update| {
        herald_core::Effect::new(
            "totals".into(),
            herald_core::ResumeToken::new(bson::RawBson::String(format!("t{n}"))),
            0,
            herald_core::Intent::UpsertWhere {
                ns: ns.clone(),
                filter,
                update,
            },
        )
    };
    let first = effect(
        1,
        doc! {"_id": "day"},
        doc! {"$set": {"last": 5}, "$max": {"top": 5}, "$addToSet": {"seen": 5}},
    );
    let second = effect(
        2,
        doc! {"_id": "day"},
        doc! {"$max": {"top": 3}, "$addToSet": {"seen": 3}},
    );
    for e in [&first, &first, &second, &second] {
        assert_eq!(channel.send(e).await, Ok(()));
    }
    assert_eq!(
        totals.find_one(doc! {}).await.unwrap(),
        Some(doc! {"_id": "day", "last": 5, "top": 5, "seen": [5, 3]})
    );
    let replace = effect(3, doc! {"_id": "day"}, doc! {"top": 9});
    assert_eq!(channel.send(&replace).await, Ok(()));
    assert_eq!(channel.send(&replace).await, Ok(()));
    assert_eq!(
        totals.find_one(doc! {}).await.unwrap(),
        Some(doc! {"_id": "day", "top": 9})
    );
    assert_eq!(totals.count_documents(doc! {}).await.unwrap(), 1);
}
