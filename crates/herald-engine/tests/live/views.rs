//! What a rule receives does not depend on the rules that share its stream.
//!
//! A stream asks the server for the strongest images any of its rules needs,
//! and herald hides from each rule the images it did not ask for. The
//! server-side `$match` must agree: a rule's branch may not test an image the
//! rule never sees, or the server drops events the rule would match.

use crate::harness::*;
use bson::doc;

/// A rule on update events of `ns` that notifies with the document key.
fn on_update(ns: &str, options: &str, filter: &str) -> String {
    format!(
        "const RULE = #{{ watch: \"{ns}\", on: [\"update\"]{options}, filter: #{{ {filter} }} }};\nfn handle(event) {{ notify(\"out\", #{{ id: event.documentKey._id }}); }}\n"
    )
}

/// Runs `plain` (and, with `other`, a rule beside it on the same stream),
/// makes the writes of `write`, and returns `plain`'s effects as document ids,
/// once the marker document (`_id: 99`, updated last) has reached it.
async fn plain_receives(
    test: &str,
    plain: &str,
    other: Option<&str>,
    pre_images: bool,
    write: &[(bson::Document, bson::Document)],
) -> Vec<i32> {
    let t = Target::any(test).await;
    let dir = tempfile::tempdir().unwrap();
    let ns = t.ns("d.c");
    let plain = on_update(&ns, "", plain);
    let mut list: Vec<(&str, String)> = vec![("plain", plain)];
    if let Some(other) = other {
        list.push(("other", other.replace("{ns}", &ns)));
    }
    let list: Vec<(&str, &str)> = list.iter().map(|(n, r)| (*n, r.as_str())).collect();
    let rules_dir = rules(dir.path(), &list);
    let db = mongodb::Client::with_uri_str(t.uri())
        .await
        .unwrap()
        .database(&t.ns("d"));
    if pre_images {
        db.run_command(doc! { "create": "c", "changeStreamPreAndPostImages": { "enabled": true } })
            .await
            .unwrap();
    }
    let (recorder, running) = launch(&t, &rules_dir, dir.path(), 1).await;
    let c = coll(&t, "d", "c").await;
    for (insert, update) in write {
        c.insert_one(insert.clone()).await.unwrap();
        let id = insert.get("_id").unwrap().clone();
        c.update_one(doc! {"_id": id}, update.clone())
            .await
            .unwrap();
    }
    c.insert_one(doc! {"_id": 99}).await.unwrap();
    c.update_one(doc! {"_id": 99}, doc! {"$set": {"n": 1}})
        .await
        .unwrap();
    let marker = |s: &[Seen]| {
        s.iter()
            .any(|e| e.rule == "plain" && e.args.get_i32("id") == Ok(99))
    };
    recorder.wait_for("the marker update", marker).await;
    running.stop().await.unwrap();
    let mut ids: Vec<i32> = recorder
        .all()
        .iter()
        .filter(|s| s.rule == "plain")
        .map(|s| s.args.get_i32("id").unwrap())
        .collect();
    ids.sort_unstable();
    ids
}

/// A rule with the default `full_document` filters on `fullDocument`, which
/// it never sees on updates; an `updateLookup` rule beside it makes the
/// server look the document up, and must not make the server drop the
/// updates the plain rule matches.
#[tokio::test]
async fn a_lookup_rule_beside_it_does_not_hide_updates_from_a_plain_rule() {
    let plain = "\"fullDocument.deleted\": #{ \"$ne\": true }";
    let lookup = on_update(
        "{ns}",
        ", full_document: \"updateLookup\"",
        "\"fullDocument.status\": \"paid\"",
    );
    let write = [(
        doc! {"_id": 1, "deleted": true, "status": "new"},
        doc! {"$set": {"n": 1}},
    )];
    let alone = plain_receives("post_alone", plain, None, false, &write).await;
    let shared = plain_receives("post_shared", plain, Some(&lookup), false, &write).await;
    assert_eq!(alone, [1, 99]);
    assert_eq!(shared, alone, "the lookup rule changed what plain receives");
}

/// The same for the image before the change: a rule that asked for none
/// filters as if there were none, whatever another rule asked of the stream.
#[tokio::test]
async fn a_pre_image_rule_beside_it_does_not_hide_updates_from_a_plain_rule() {
    let plain = "\"fullDocumentBeforeChange.status\": #{ \"$ne\": \"new\" }";
    let before = on_update(
        "{ns}",
        ", full_document_before_change: \"whenAvailable\"",
        "\"fullDocumentBeforeChange.status\": \"paid\"",
    );
    let write = [(doc! {"_id": 1, "status": "new"}, doc! {"$set": {"n": 1}})];
    let alone = plain_receives("pre_alone", plain, None, true, &write).await;
    let shared = plain_receives("pre_shared", plain, Some(&before), true, &write).await;
    assert_eq!(alone, [1, 99]);
    assert_eq!(
        shared, alone,
        "the pre-image rule changed what plain receives"
    );
}
