//! `listCollections`, `listDatabases`.

use super::find::first_batch;
use super::{Ctx, optional_doc, query};
use crate::error::CommandResult;
use bson::{Document, doc};

/// `{listCollections: 1, filter, nameOnly}`.
pub fn collections(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let filter = query::filter(optional_doc(cmd, "filter")?)?;
    let name_only = cmd.get_bool("nameOnly").unwrap_or(false);
    let all: Vec<Document> = {
        let state = ctx.shared.lock();
        state
            .catalog
            .dbs
            .get(&ctx.db)
            .map(|colls| {
                colls
                    .iter()
                    .map(|(name, coll)| {
                        if name_only {
                            doc! { "name": name, "type": "collection" }
                        } else {
                            let mut options = Document::new();
                            if coll.pre_post_images {
                                options.insert(
                                    "changeStreamPreAndPostImages",
                                    doc! { "enabled": true },
                                );
                            }
                            doc! {
                                "name": name, "type": "collection", "options": options,
                                "info": { "readOnly": false, "uuid": coll.uuid },
                                "idIndex": { "v": 2, "key": { "_id": 1 }, "name": "_id_" },
                            }
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut docs = Vec::with_capacity(all.len());
    for d in all {
        if filter.matches(&d)? {
            docs.push(d);
        }
    }
    Ok(first_batch(
        ctx,
        format!("{}.$cmd.listCollections", ctx.db),
        docs,
        None,
        true,
        None,
    ))
}

/// `{listDatabases: 1, nameOnly}`.
pub fn databases(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let name_only = cmd.get_bool("nameOnly").unwrap_or(false);
    let state = ctx.shared.lock();
    let databases: Vec<Document> = state
        .catalog
        .dbs
        .iter()
        .map(|(name, colls)| {
            if name_only {
                doc! { "name": name }
            } else {
                let docs: usize = colls.values().map(|c| c.len()).sum();
                doc! { "name": name, "sizeOnDisk": (docs as i64) * 256, "empty": docs == 0 }
            }
        })
        .collect();
    let mut reply = doc! { "databases": databases };
    if !name_only {
        reply.insert("totalSize", 0_i64);
    }
    Ok(reply)
}
