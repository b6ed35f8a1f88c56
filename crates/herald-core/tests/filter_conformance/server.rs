//! The server arm: the same table against a real replica set, when `HERALD_TEST_MONGODB_URI` is set.

use crate::{Case, refused, table};
use bson::{Document, doc};
use futures_util::TryStreamExt;
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};
use std::time::Duration;

const TABLE_DB: &str = "hl_filter_conf_table";
const REFUSED_DB: &str = "hl_filter_conf_refused";

/// A client for the configured replica set, or `None` (with a note) when there is none.
async fn server(test: &str) -> Option<Client> {
    match std::env::var("HERALD_TEST_MONGODB_URI") {
        Ok(uri) if !uri.is_empty() => {
            let mut options = ClientOptions::parse(&uri).await.expect("a valid uri");
            options.server_selection_timeout = Some(Duration::from_secs(10));
            Some(Client::with_options(options).expect("a client"))
        }
        _ => {
            eprintln!("{test}: HERALD_TEST_MONGODB_URI is not set; the real-server arm is skipped");
            None
        }
    }
}

/// The server's (major, minor) version.
async fn version(client: &Client) -> (u32, u32) {
    let info = client
        .database("admin")
        .run_command(doc! { "buildInfo": 1 })
        .await
        .expect("buildInfo");
    let parts: Vec<u32> = info
        .get_array("versionArray")
        .expect("versionArray")
        .iter()
        .map(|n| n.as_i32().expect("an int") as u32)
        .collect();
    (parts[0], parts[1])
}

/// Runs `filter` as a `$match` over a collection holding only `doc`.
async fn server_matches(
    db: &Database,
    name: &str,
    filter: &Document,
    doc: &Document,
) -> Result<bool, String> {
    let coll = db.collection::<Document>(name);
    coll.insert_one(doc.clone())
        .await
        .map_err(|e| format!("insert: {e}"))?;
    let cursor = coll
        .aggregate(vec![doc! { "$match": filter.clone() }])
        .await
        .map_err(|e| e.to_string())?;
    let found: Vec<Document> = cursor.try_collect().await.map_err(|e| e.to_string())?;
    Ok(found.len() == 1)
}

fn describe(i: usize, case: &Case, what: &str) -> String {
    format!(
        "case {i}: {what}: {} on {} (expected {})",
        case.filter, case.doc, case.expected
    )
}

#[tokio::test]
async fn the_server_agrees_with_the_table() {
    let Some(client) = server("the_server_agrees_with_the_table").await else {
        return;
    };
    let at = version(&client).await;
    let db = client.database(TABLE_DB);
    db.drop().await.expect("a clean test database");
    let mut wrong = Vec::new();
    for (i, case) in table().iter().enumerate() {
        if case.since > at {
            eprintln!(
                "case {i}: skipped, the server {at:?} predates {:?}",
                case.since
            );
            continue;
        }
        match server_matches(&db, &format!("c{i}"), &case.filter, &case.doc).await {
            Ok(answer) if answer == case.expected => {}
            Ok(_) => wrong.push(describe(i, case, "the server disagrees")),
            Err(e) => wrong.push(describe(i, case, &format!("the server failed ({e})"))),
        }
    }
    db.drop().await.expect("dropping the test database");
    assert_eq!(wrong, Vec::<String>::new());
}

#[tokio::test]
async fn the_server_refuses_the_refused_filters() {
    let Some(client) = server("the_server_refuses_the_refused_filters").await else {
        return;
    };
    let db = client.database(REFUSED_DB);
    db.drop().await.expect("a clean test database");
    let mut accepted = Vec::new();
    for (i, filter) in refused::filters().iter().enumerate() {
        if server_matches(&db, &format!("r{i}"), filter, &doc! { "a": 1 })
            .await
            .is_ok()
        {
            accepted.push(filter.to_string());
        }
    }
    db.drop().await.expect("dropping the test database");
    assert_eq!(accepted, Vec::<String>::new());
}
