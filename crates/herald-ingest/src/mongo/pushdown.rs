//! The part of a snapshot's filter the server can apply to the documents
//! themselves, before they are turned into events.
//!
//! A snapshot reads a collection, but the rules' filters are written on
//! change events (`fullDocument.status`). Where every branch of the union
//! can be rewritten to the document (`fullDocument.x` → `x`,
//! `documentKey._id` → `_id`, and conditions every snapshot event meets,
//! such as `operationType: "insert"`, dropped), the read starts with that
//! `$match`, which the server can answer from an index. Otherwise it reads
//! every document. Either way the filter on the built event follows, so
//! what the rules receive is exact; the rewrite only saves reading.

use bson::{Bson, Document};

/// `filter` (on change events) as a filter on the documents, if every part
/// of it can be rewritten.
///
/// ```
/// use bson::doc;
/// use herald_ingest::mongo::pushdown::on_documents;
/// let rules = doc! { "$or": [
///     { "fullDocument.status": "pending", "fullDocument.amount": { "$gte": 1000 } },
///     { "operationType": "insert", "documentKey._id": 7 },
/// ]};
/// assert_eq!(
///     on_documents(&rules),
///     Some(doc! { "$or": [{ "status": "pending", "amount": { "$gte": 1000 } }, { "_id": 7 }] })
/// );
/// // A condition on something a document does not have: read them all.
/// assert_eq!(on_documents(&doc! { "updateDescription.updatedFields.status": "x" }), None);
/// ```
pub fn on_documents(filter: &Document) -> Option<Document> {
    let mut out = Document::new();
    for (key, value) in filter {
        match key.as_str() {
            "$and" | "$or" | "$nor" => {
                let branches = value.as_array()?;
                let rewritten = branches
                    .iter()
                    .map(|b| b.as_document().and_then(on_documents).map(Bson::Document))
                    .collect::<Option<Vec<Bson>>>()?;
                out.insert(key.clone(), rewritten);
            }
            "operationType" if meets_insert(value) => {}
            "snapshot" if *value == Bson::Boolean(true) => {}
            "documentKey._id" => {
                out.insert("_id", value.clone());
            }
            field => {
                let inner = field.strip_prefix("fullDocument.")?;
                if inner.starts_with('$') {
                    return None;
                }
                out.insert(inner, value.clone());
            }
        }
    }
    Some(out)
}

/// True if an `insert` meets this condition on `operationType`.
fn meets_insert(value: &Bson) -> bool {
    match value {
        Bson::String(op) => op == "insert",
        Bson::Document(ops) if ops.len() == 1 => match ops.iter().next() {
            Some((op, Bson::Array(list))) if op == "$in" => {
                list.contains(&Bson::String("insert".into()))
            }
            Some((op, Bson::String(other))) if op == "$eq" => other == "insert",
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn only_whole_rewrites_are_pushed_down() {
        let cases = [
            (doc! {}, Some(doc! {})),
            (
                doc! { "operationType": { "$in": ["insert", "update"] }, "fullDocument.a.b": { "$exists": true } },
                Some(doc! { "a.b": { "$exists": true } }),
            ),
            (
                doc! { "$nor": [{ "fullDocument.x": 1 }] },
                Some(doc! { "$nor": [{ "x": 1 }] }),
            ),
            // Conditions a snapshot event may miss, or that need the event itself.
            (doc! { "operationType": "update" }, None),
            (doc! { "fullDocument": { "a": 1 } }, None),
            (doc! { "ns.coll": "c" }, None),
            (doc! { "$expr": { "$gt": ["$fullDocument.a", 1] } }, None),
            (
                doc! { "$or": [{ "fullDocument.a": 1 }, { "clusterTime": 1 }] },
                None,
            ),
            (doc! { "snapshot": false }, None),
        ];
        for (filter, want) in cases {
            assert_eq!(on_documents(&filter), want, "{filter}");
        }
    }
}
