//! Change events over 16 MiB: `BSONObjectTooLarge` without
//! `$changeStreamSplitLargeEvent`, fragments with it, resuming between them.
//!
//! Each test updates a document of ~9 MiB in a collection that records pre-
//! and post-images, so that its event, carrying both, is ~18 MiB. The stage
//! needs MongoDB 7.0 or 6.0.9+; an older real server's arm is skipped.

use crate::each_target;
use crate::util::{Target, take};
use futures_util::StreamExt;
use mongodb::bson::{self, Bson, Document, RawDocumentBuf, doc};
use mongodb::change_stream::ChangeStream;
use mongodb::change_stream::event::ResumeToken;
use mongodb::options::{FullDocumentBeforeChangeType, FullDocumentType};
use std::collections::BTreeMap;
use std::time::Duration;

/// The size of the large string in the document.
const IMAGE: usize = 9 * 1024 * 1024;

fn image(v: i32) -> Document {
    doc! { "_id": 1, "s": "x".repeat(IMAGE), "v": v }
}

fn split_stage() -> Document {
    doc! { "$changeStreamSplitLargeEvent": {} }
}

/// Drops both images: the rest of the large event.
fn without_images() -> Document {
    doc! { "$project": { "fullDocument": 0, "fullDocumentBeforeChange": 0 } }
}

fn size_of(doc: &Document) -> usize {
    bson::to_vec(doc).unwrap().len()
}

/// The size of `key: value` as a field of a document.
fn field_size(key: &str, value: &Bson) -> usize {
    size_of(&doc! { key: value.clone() }) - 5
}

/// False for a real server without `$changeStreamSplitLargeEvent` (before 6.0.9).
async fn supports_split(t: &Target) -> bool {
    if !t.is_real() {
        return true;
    }
    let info = t
        .client
        .database("admin")
        .run_command(doc! { "buildInfo": 1 })
        .await
        .unwrap();
    let v: Vec<i32> = info
        .get_array("versionArray")
        .unwrap()
        .iter()
        .map(|n| n.as_i32().unwrap())
        .collect();
    let ok = (v[0], v[1], v[2]) >= (7, 0, 0) || ((v[0], v[1]) == (6, 0) && v[2] >= 9);
    if !ok {
        eprintln!("the real server {v:?} has no $changeStreamSplitLargeEvent; skipped");
    }
    ok
}

/// The collection `big`, recording images, holding `image(1)`.
async fn setup(t: &Target) -> mongodb::Collection<Document> {
    t.db()
        .run_command(doc! { "create": "big", "changeStreamPreAndPostImages": { "enabled": true } })
        .await
        .unwrap();
    let coll = t.coll("big");
    coll.insert_one(image(1)).await.unwrap();
    coll
}

/// A stream on `big` requiring both images, with these stages.
async fn watch(
    coll: &mongodb::Collection<Document>,
    stages: Vec<Document>,
    resume_after: Option<ResumeToken>,
) -> mongodb::error::Result<ChangeStream<RawDocumentBuf>> {
    Ok(coll
        .watch()
        .pipeline(stages)
        .full_document(FullDocumentType::Required)
        .full_document_before_change(FullDocumentBeforeChangeType::Required)
        .resume_after(resume_after)
        .await?
        .with_type::<RawDocumentBuf>())
}

/// The update whose event is ~18 MiB, then a small insert.
async fn write(coll: &mongodb::Collection<Document>) {
    coll.update_one(doc! { "_id": 1 }, doc! { "$set": { "v": 2 } })
        .await
        .unwrap();
    coll.insert_one(doc! { "_id": 2 }).await.unwrap();
}

fn docs(raw: &[RawDocumentBuf]) -> Vec<Document> {
    raw.iter().map(|r| r.to_document().unwrap()).collect()
}

fn data(token: &Bson) -> String {
    token
        .as_document()
        .unwrap()
        .get_str("_data")
        .unwrap()
        .to_owned()
}

/// The large event's fields (but `_id`), from the projected event and the images.
fn full_fields(projected: &Document) -> BTreeMap<String, Bson> {
    let mut fields: BTreeMap<String, Bson> = projected
        .iter()
        .filter(|(k, _)| *k != "_id")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    fields.insert("fullDocument".into(), image(2).into());
    fields.insert("fullDocumentBeforeChange".into(), image(1).into());
    fields
}

fn command_code(err: &mongodb::error::Error) -> (i32, String, String) {
    match *err.kind {
        mongodb::error::ErrorKind::Command(ref c) => {
            (c.code, c.code_name.clone(), c.message.clone())
        }
        ref other => panic!("not a command error: {other:?}"),
    }
}

#[tokio::test]
async fn without_the_stage_a_large_event_fails_the_stream() {
    each_target!("large_fails", |t| {
        if !supports_split(&t).await {
            continue;
        }
        let coll = setup(&t).await;
        let mut stream = watch(&coll, vec![], None).await.unwrap();
        let mut projected = watch(&coll, vec![without_images()], None).await.unwrap();
        write(&coll).await;
        let reference = docs(&take(&mut projected, 1).await).remove(0);
        let size = size_of(&reference)
            + field_size("fullDocument", &image(2).into())
            + field_size("fullDocumentBeforeChange", &image(1).into());
        let err = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("an answer within 10 s")
            .expect("the stream is open")
            .expect_err("the event is too large");
        assert_eq!(
            command_code(&err),
            (
                10334,
                "BSONObjectTooLarge".to_owned(),
                format!(
                    "Executor error during getMore :: caused by :: BSONObj size: {size} (0x{size:X}) is invalid. Size must be between 0 and 16793600(16MB) First element: _id: {{ _data: \"{}\" }}",
                    data(reference.get("_id").unwrap())
                )
            )
        );
        assert!(!err.contains_label("ResumableChangeStreamError"), "{err}");
    });
}

#[tokio::test]
async fn with_the_stage_a_large_event_arrives_in_fragments() {
    each_target!("large_fragments", |t| {
        if !supports_split(&t).await {
            continue;
        }
        let coll = setup(&t).await;
        let mut stream = watch(&coll, vec![split_stage()], None).await.unwrap();
        let mut projected = watch(&coll, vec![without_images()], None).await.unwrap();
        write(&coll).await;
        let raw = take(&mut stream, 3).await;
        let events = docs(&raw);
        let reference = docs(&take(&mut projected, 2).await);

        // Fields go smallest first (then by name), as many to a fragment as fit.
        let mut small: Vec<(usize, &str)> = reference[0]
            .iter()
            .filter(|(k, _)| *k != "_id")
            .map(|(k, v)| (field_size(k, v), k.as_str()))
            .collect();
        small.sort();
        let mut first = vec!["_id", "splitEvent"];
        first.extend(small.iter().map(|(_, k)| *k));
        first.push("fullDocument");
        let keys = |d: &Document| d.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&events[0]), first);
        assert_eq!(
            keys(&events[1]),
            ["_id", "splitEvent", "fullDocumentBeforeChange"]
        );
        for (i, fragment) in events[..2].iter().enumerate() {
            assert_eq!(
                fragment.get_document("splitEvent").unwrap(),
                &doc! { "fragment": i as i32 + 1, "of": 2 }
            );
            assert!(raw[i].as_bytes().len() < 16 * 1024 * 1024);
        }
        assert!(data(events[0].get("_id").unwrap()) < data(events[1].get("_id").unwrap()));

        // Together they hold the event's fields.
        let merged: BTreeMap<String, Bson> = events[..2]
            .iter()
            .flat_map(|f| f.iter().skip(2).map(|(k, v)| (k.clone(), v.clone())))
            .collect();
        assert_eq!(merged, full_fields(&reference[0]));

        // The next event is small and whole.
        let mut insert = events[2].clone();
        insert.remove("fullDocument");
        assert_eq!(insert, reference[1]);
    });
}

#[tokio::test]
async fn resuming_from_a_fragment_continues_with_the_next() {
    each_target!("large_resume", |t| {
        if !supports_split(&t).await {
            continue;
        }
        let coll = setup(&t).await;
        let mut stream = watch(&coll, vec![split_stage()], None).await.unwrap();
        write(&coll).await;
        let first = take(&mut stream, 1).await.remove(0);
        let token = stream.resume_token().unwrap();
        assert_eq!(
            bson::to_bson(&token).unwrap(),
            first.to_document().unwrap().get("_id").unwrap().clone()
        );
        let rest = take(&mut stream, 2).await;
        drop(stream);

        let mut resumed = watch(&coll, vec![split_stage()], Some(token.clone()))
            .await
            .unwrap();
        assert_eq!(take(&mut resumed, 2).await, rest);

        // From the last fragment: the next event.
        let last: ResumeToken =
            bson::from_bson(rest[0].to_document().unwrap().get("_id").unwrap().clone()).unwrap();
        let mut after = watch(&coll, vec![split_stage()], Some(last)).await.unwrap();
        assert_eq!(take(&mut after, 1).await, &rest[1..]);

        // Without the stage the fragment cannot be found again.
        let Err(err) = watch(&coll, vec![], Some(token)).await else {
            panic!("a stream resuming from a fragment without the stage is refused");
        };
        assert_eq!(
            command_code(&err),
            (
                280,
                "ChangeStreamFatalError".to_owned(),
                "To resume from a split event, the $changeStream pipeline must include a $changeStreamSplitLargeEvent stage".to_owned()
            )
        );
    });
}

#[tokio::test]
async fn resuming_from_a_fragment_of_an_event_no_longer_split_fails() {
    each_target!("large_resume_small", |t| {
        if !supports_split(&t).await {
            continue;
        }
        let coll = setup(&t).await;
        let mut stream = watch(&coll, vec![split_stage()], None).await.unwrap();
        write(&coll).await;
        take(&mut stream, 1).await;
        let token = stream.resume_token().unwrap();
        // Without the pre-image the event is ~9 MiB: there is no fragment to resume after.
        let smaller = vec![
            doc! { "$project": { "fullDocumentBeforeChange": 0 } },
            split_stage(),
        ];
        let Err(err) = watch(&coll, smaller, Some(token)).await else {
            panic!("the resume point cannot be found");
        };
        let (code, name, message) = command_code(&err);
        assert_eq!((code, name.as_str()), (280, "ChangeStreamFatalError"));
        // Some server releases word it "cannot resume stream; the resume token was not found. ...".
        if !t.is_real() {
            assert_eq!(
                message,
                "PlanExecutor error during aggregation :: caused by :: Attempted to resume from a split event fragment, but the event in the resumed stream was not large enough to be split"
            );
        }
    });
}

#[tokio::test]
async fn a_batch_ends_between_fragments_when_the_next_would_overflow_it() {
    each_target!("large_batches", |t| {
        if !supports_split(&t).await {
            continue;
        }
        let coll = setup(&t).await;
        let mut stream = watch(&coll, vec![split_stage()], None).await.unwrap();
        let before = bson::to_bson(&stream.resume_token().unwrap()).unwrap();
        write(&coll).await;
        let events = docs(&take(&mut stream, 3).await);
        let options = doc! {
            "resumeAfter": before,
            "fullDocument": "required",
            "fullDocumentBeforeChange": "required",
        };
        let reply = t
            .db()
            .run_command(doc! {
                "aggregate": "big",
                "pipeline": [{ "$changeStream": options }, split_stage()],
                "cursor": {},
            })
            .await
            .unwrap();
        let cursor = reply.get_document("cursor").unwrap();
        // Both fragments (~9 MiB each) would be over 16 MiB: the first goes alone.
        assert_eq!(
            cursor.get_array("firstBatch").unwrap(),
            &vec![Bson::from(events[0].clone())]
        );
        assert_eq!(cursor.get("postBatchResumeToken"), events[0].get("_id"));
        let id = cursor.get_i64("id").unwrap();
        let more = t
            .db()
            .run_command(doc! { "getMore": id, "collection": "big" })
            .await
            .unwrap();
        assert_eq!(
            more.get_document("cursor")
                .unwrap()
                .get_array("nextBatch")
                .unwrap(),
            &events[1..]
                .iter()
                .cloned()
                .map(Bson::from)
                .collect::<Vec<_>>()
        );
        t.db()
            .run_command(doc! { "killCursors": "big", "cursors": [id] })
            .await
            .unwrap();
    });
}

#[tokio::test]
async fn small_events_pass_the_stage_unchanged() {
    each_target!("large_small", |t| {
        if !supports_split(&t).await {
            continue;
        }
        let coll = setup(&t).await;
        let mut split = watch(&coll, vec![split_stage()], None).await.unwrap();
        let mut plain = watch(&coll, vec![], None).await.unwrap();
        coll.insert_one(doc! { "_id": 3, "v": 1 }).await.unwrap();
        coll.update_one(doc! { "_id": 3 }, doc! { "$set": { "v": 2 } })
            .await
            .unwrap();
        coll.delete_one(doc! { "_id": 3 }).await.unwrap();
        let events = take(&mut split, 3).await;
        assert_eq!(events, take(&mut plain, 3).await);
        for event in docs(&events) {
            assert!(!event.contains_key("splitEvent"), "{event}");
        }
    });
}
