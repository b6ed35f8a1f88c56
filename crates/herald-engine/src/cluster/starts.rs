//! Where each rule starts in cluster mode, under `start_at = "now"`.
//!
//! A rule new to the cluster must start at one point in every partition,
//! however late each partition's instance picks the rule up (in a rolling
//! restart, some partitions run the old rules for a while). The first
//! instance to run a rule records the server's time then; every other takes
//! that record. A rule moved to another watch target is a new rule.

use bson::{Bson, Document, Timestamp, doc};
use mongodb::Database;
use mongodb::error::ErrorKind;
use std::collections::BTreeMap;

/// The collection of the rules' starts.
pub const RULE_STARTS: &str = "rule_starts";

/// MongoDB's duplicate key error.
const DUPLICATE_KEY: i32 = 11000;

/// Records `now` as the start of each of `rules` (name, watch target) that
/// no instance has recorded yet, and returns each rule's start, by name.
///
/// ```no_run
/// # async fn demo(database: mongodb::Database) -> mongodb::error::Result<()> {
/// let now = bson::Timestamp { time: 1_700_000_000, increment: 1 };
/// let rules = [("expense_approval".to_owned(), "shop.expenses".to_owned())];
/// let starts = herald_engine::cluster::rule_starts(&database, &rules, now).await?;
/// assert!(starts["expense_approval"] <= now);
/// # Ok(()) }
/// ```
pub async fn rule_starts(
    database: &Database,
    rules: &[(String, String)],
    now: Timestamp,
) -> mongodb::error::Result<BTreeMap<String, Timestamp>> {
    use futures_util::TryStreamExt;
    if rules.is_empty() {
        return Ok(BTreeMap::new());
    }
    let options = mongodb::options::CollectionOptions::builder()
        .write_concern(mongodb::options::WriteConcern::majority())
        .read_concern(mongodb::options::ReadConcern::majority())
        .selection_criteria(mongodb::options::SelectionCriteria::ReadPreference(
            mongodb::options::ReadPreference::Primary,
        ))
        .build();
    let starts = database.collection_with_options::<Document>(RULE_STARTS, options);
    let id = |(rule, watch): &(String, String)| doc! {"rule": rule, "watch": watch};
    let records: Vec<Document> = rules
        .iter()
        .map(|r| doc! {"_id": id(r), "start": now})
        .collect();
    // Those recorded before stay as they are (a duplicate key each).
    if let Err(e) = starts.insert_many(records).ordered(false).await {
        let only_duplicates = match e.kind.as_ref() {
            ErrorKind::InsertMany(failure) => {
                failure.write_concern_error.is_none()
                    && failure
                        .write_errors
                        .iter()
                        .flatten()
                        .all(|w| w.code == DUPLICATE_KEY)
            }
            _ => false,
        };
        if !only_duplicates {
            return Err(e);
        }
    }
    let ids: Vec<Bson> = rules.iter().map(|r| Bson::Document(id(r))).collect();
    let found: Vec<Document> = starts
        .find(doc! {"_id": {"$in": ids}})
        .await?
        .try_collect()
        .await?;
    Ok(found
        .iter()
        .filter_map(|d| {
            let rule = d.get_document("_id").ok()?.get_str("rule").ok()?;
            Some((rule.to_owned(), d.get_timestamp("start").ok()?))
        })
        .collect())
}
