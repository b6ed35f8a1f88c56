//! Stages with aggregation expressions after `$changeStream`: `$redact`
//! pruning events and sub-documents, `$set` with `$cond`/`$ifNull`,
//! `$unset` of nested fields, truthiness, and where the server's errors
//! surface (an unknown operator fails the `aggregate`, `$in` on a
//! non-array fails the `getMore` that reads the event).

use crate::each_target;
use crate::util::{shape, take};
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::{CommandError, Error, ErrorKind};
use std::time::Duration;

/// Equal, field order included (`Document`'s `==` ignores the order).
fn assert_same(actual: &Document, expected: &Document) {
    assert_eq!(actual.to_string(), expected.to_string());
}

fn command_error(err: &Error) -> &CommandError {
    match err.kind.as_ref() {
        ErrorKind::Command(c) => c,
        other => panic!("not a command error: {other:?}"),
    }
}

/// The fullDocument of each event, in order.
fn full_documents(events: &[Document]) -> Vec<Document> {
    events
        .iter()
        .map(|e| e.get_document("fullDocument").unwrap().clone())
        .collect()
}

#[tokio::test]
async fn redact_prunes_secret_events_and_keeps_the_others() {
    each_target!("ex_redact_events", |t| {
        let coll = t.coll("docs");
        coll.insert_one(doc! {"_id": 0}).await.unwrap();
        let redact = doc! {"$redact": {"$cond": {
            "if": {"$eq": ["$fullDocument.classification", "secret"]},
            "then": "$$PRUNE",
            "else": "$$DESCEND",
        }}};
        let mut stream = coll
            .watch()
            .pipeline(vec![redact])
            .await
            .unwrap()
            .with_type::<Document>();
        coll.insert_many(vec![
            doc! {"_id": 1, "classification": "secret"},
            doc! {"_id": 2, "classification": "public"},
            doc! {"_id": 3},
        ])
        .await
        .unwrap();
        coll.delete_one(doc! {"_id": 1}).await.unwrap();
        let events = take(&mut stream, 3).await;
        let ns = doc! {"db": &t.db, "coll": "docs"};
        assert_same(
            &shape(&events[0]),
            &doc! {"operationType": "insert", "fullDocument": {"_id": 2, "classification": "public"}, "ns": ns.clone(), "documentKey": {"_id": 2}},
        );
        assert_same(
            &shape(&events[1]),
            &doc! {"operationType": "insert", "fullDocument": {"_id": 3}, "ns": ns.clone(), "documentKey": {"_id": 3}},
        );
        // A delete has no fullDocument: nothing to compare, so it is kept.
        assert_same(
            &shape(&events[2]),
            &doc! {"operationType": "delete", "ns": ns, "documentKey": {"_id": 1}},
        );
    });
}

#[tokio::test]
async fn redact_descending_prunes_nested_documents_and_keeps_their_siblings() {
    each_target!("ex_redact_descend", |t| {
        let coll = t.coll("cards");
        coll.insert_one(doc! {"_id": 0}).await.unwrap();
        let redact = doc! {"$redact": {"$cond": {
            "if": {"$eq": ["$level", "secret"]},
            "then": "$$PRUNE",
            "else": "$$DESCEND",
        }}};
        let mut stream = coll
            .watch()
            .pipeline(vec![redact])
            .await
            .unwrap()
            .with_type::<Document>();
        coll.insert_one(doc! {
            "_id": 1,
            "name": "ann",
            "card": {"level": "secret", "number": "4111"},
            "notes": [{"level": "secret", "text": "x"}, {"level": "public", "text": "y"}, "plain"],
            "level": "public",
        })
        .await
        .unwrap();
        let events = take(&mut stream, 1).await;
        assert_same(
            &shape(&events[0]),
            &doc! {
                "operationType": "insert",
                "fullDocument": {
                    "_id": 1,
                    "name": "ann",
                    "notes": [{"level": "public", "text": "y"}, "plain"],
                    "level": "public",
                },
                "ns": {"db": &t.db, "coll": "cards"},
                "documentKey": {"_id": 1},
            },
        );
        // The resume token was descended into, and kept whole.
        assert!(
            events[0]
                .get_document("_id")
                .unwrap()
                .get_str("_data")
                .is_ok(),
            "{}",
            events[0]
        );
    });
}

#[tokio::test]
async fn set_computes_fields_with_cond_and_if_null() {
    each_target!("ex_set", |t| {
        let coll = t.coll("orders");
        coll.insert_one(doc! {"_id": 0}).await.unwrap();
        let set = doc! {"$set": {
            "fullDocument.tier": {"$cond": {"if": {"$gte": ["$fullDocument.amount", 100]}, "then": "gold", "else": "basic"}},
            "fullDocument.owner": {"$ifNull": ["$fullDocument.owner", "$fullDocument.team", "nobody"]},
        }};
        let mut stream = coll
            .watch()
            .pipeline(vec![set])
            .await
            .unwrap()
            .with_type::<Document>();
        coll.insert_many(vec![
            doc! {"_id": 1, "amount": 150, "owner": "ann"},
            doc! {"_id": 2, "amount": 50.5, "team": "ops"},
            doc! {"_id": 3, "amount": null},
            doc! {"_id": 4, "amount": 100_i64, "owner": null},
        ])
        .await
        .unwrap();
        let docs = full_documents(&take(&mut stream, 4).await);
        // An existing field is set in place; a new one comes last.
        assert_same(
            &docs[0],
            &doc! {"_id": 1, "amount": 150, "owner": "ann", "tier": "gold"},
        );
        assert_same(
            &docs[1],
            &doc! {"_id": 2, "amount": 50.5, "team": "ops", "tier": "basic", "owner": "ops"},
        );
        // null sorts below numbers; a missing team falls through to the last argument.
        assert_same(
            &docs[2],
            &doc! {"_id": 3, "amount": null, "tier": "basic", "owner": "nobody"},
        );
        assert_same(
            &docs[3],
            &doc! {"_id": 4, "amount": 100_i64, "owner": "nobody", "tier": "gold"},
        );
    });
}

#[tokio::test]
async fn unset_removes_nested_fields_through_arrays() {
    each_target!("ex_unset", |t| {
        let coll = t.coll("receipts");
        coll.insert_one(doc! {"_id": 0}).await.unwrap();
        let mut stream = coll
            .watch()
            .pipeline(vec![
                doc! {"$unset": ["fullDocument.receiptImage", "fullDocument.items.secret"]},
            ])
            .await
            .unwrap()
            .with_type::<Document>();
        coll.insert_one(doc! {
            "_id": 1,
            "receiptImage": "aGVsbG8=",
            "items": [{"sku": "a", "secret": 1}, {"sku": "b"}, 7],
            "total": 5,
        })
        .await
        .unwrap();
        let docs = full_documents(&take(&mut stream, 1).await);
        assert_same(
            &docs[0],
            &doc! {"_id": 1, "items": [{"sku": "a"}, {"sku": "b"}, 7], "total": 5},
        );
    });
}

#[tokio::test]
async fn and_or_not_use_the_aggregation_truthiness() {
    each_target!("ex_truthiness", |t| {
        let coll = t.coll("truth");
        coll.insert_one(doc! {"_id": 0}).await.unwrap();
        let set = doc! {"$set": {
            "fullDocument.and": {"$and": ["$fullDocument.v"]},
            "fullDocument.or": {"$or": ["$fullDocument.v"]},
            "fullDocument.not": {"$not": ["$fullDocument.v"]},
        }};
        let mut stream = coll
            .watch()
            .pipeline(vec![set])
            .await
            .unwrap()
            .with_type::<Document>();
        let values: Vec<(Option<Bson>, bool)> = vec![
            (Some(Bson::Int32(0)), false),
            (Some(Bson::Double(0.0)), false),
            (Some(Bson::Int64(0)), false),
            (Some(Bson::String(String::new())), true),
            (Some(Bson::Array(vec![])), true),
            (Some(Bson::Null), false),
            (None, false),
            (Some(Bson::Document(doc! {})), true),
        ];
        let inserted: Vec<Document> = values
            .iter()
            .enumerate()
            .map(|(i, (v, _))| {
                let mut d = doc! {"_id": i as i32 + 1};
                if let Some(v) = v {
                    d.insert("v", v.clone());
                }
                d
            })
            .collect();
        coll.insert_many(inserted.clone()).await.unwrap();
        let docs = full_documents(&take(&mut stream, values.len()).await);
        for ((mut expected, (_, truthy)), actual) in inserted.into_iter().zip(values).zip(docs) {
            expected.insert("and", truthy);
            expected.insert("or", truthy);
            expected.insert("not", !truthy);
            assert_same(&actual, &expected);
        }
    });
}

#[tokio::test]
async fn in_with_a_non_array_fails_the_get_more_that_reads_the_event() {
    each_target!("ex_in_error", |t| {
        let coll = t.coll("tags");
        coll.insert_one(doc! {"_id": 0}).await.unwrap();
        let set = doc! {"$set": {"fullDocument.hit": {"$in": ["a", "$fullDocument.tags"]}}};
        // Opening succeeds: the operand is only known per event.
        let mut stream = coll
            .watch()
            .pipeline(vec![set])
            .max_await_time(Duration::from_millis(200))
            .await
            .unwrap()
            .with_type::<Document>();
        coll.insert_one(doc! {"_id": 1, "tags": "a,b"})
            .await
            .unwrap();
        let err = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match stream.next_if_any().await {
                    Ok(Some(e)) => panic!("an event was delivered: {e}"),
                    Ok(None) => continue,
                    Err(e) => break e,
                }
            }
        })
        .await
        .expect("an error within 10 s");
        let c = command_error(&err);
        assert_eq!(c.code, 40081, "{err}");
        assert_eq!(
            c.message,
            "Executor error during getMore :: caused by :: $in requires an array as a second argument, found: string"
        );
    });
}

#[tokio::test]
async fn an_unknown_operator_fails_the_aggregate() {
    each_target!("ex_unknown_op", |t| {
        let coll = t.coll("ops");
        for (stage, message) in [
            (
                doc! {"$set": {"fullDocument.x": {"$foo": 1}}},
                "Invalid $set :: caused by :: Unrecognized expression '$foo'",
            ),
            (
                doc! {"$redact": {"$cond": [{"$foo": ["$a"]}, "$$KEEP", "$$PRUNE"]}},
                "Unrecognized expression '$foo'",
            ),
        ] {
            let err = coll.watch().pipeline(vec![stage]).await.unwrap_err();
            let c = command_error(&err);
            assert_eq!(
                (c.code, c.code_name.as_str(), c.message.as_str()),
                (168, "InvalidPipelineOperator", message)
            );
        }
    });
}
