//! `listIndexes` and `dropIndexes`.

use super::find::first_batch;
use super::{Ctx, collection_name, number};
use crate::error::{CommandError, CommandResult};
use crate::indexes::{self, display, spec};
use crate::oplog::{Ns, Op};
use bson::{Bson, Document, doc};

/// `{listIndexes: coll, cursor: {batchSize}}`: `_id_` first, then in creation order.
pub fn list(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let ns = Ns {
        db: ctx.db.clone(),
        coll: collection_name(cmd, "listIndexes")?.to_owned(),
    };
    let batch_size = cmd
        .get_document("cursor")
        .ok()
        .and_then(|c| c.get("batchSize"))
        .and_then(number)
        .map(|n| n.max(0) as usize);
    let docs: Vec<Document> = {
        let state = ctx.shared.lock();
        let coll = state
            .catalog
            .get(&ns.db, &ns.coll)
            .ok_or_else(|| CommandError::namespace_not_found(format!("ns does not exist: {ns}")))?;
        coll.indexes()
            .iter()
            .map(|i| indexes::listed(i.spec()))
            .collect()
    };
    Ok(first_batch(
        ctx,
        format!("{}.$cmd.listIndexes.{}", ns.db, ns.coll),
        docs,
        batch_size,
        false,
        None,
    ))
}

fn index_not_found(message: String) -> CommandError {
    CommandError::new(27, "IndexNotFound", message)
}

fn cannot_drop_id() -> CommandError {
    CommandError::new(72, "InvalidOptions", "cannot drop _id index")
}

/// The names `index` designates (`"*"` stands for every index but `_id_`).
fn names(index: &Bson, coll: &crate::data::Collection) -> Result<Vec<String>, CommandError> {
    match index {
        Bson::String(name) => Ok(vec![name.clone()]),
        Bson::Array(items) => items
            .iter()
            .map(|item| match item {
                Bson::String(name) => Ok(name.clone()),
                other => Err(CommandError::type_mismatch(format!(
                    "BSON field 'dropIndexes.index' is the wrong type '{}', expected types '[string, array, object]'",
                    display::type_name(other)
                ))),
            })
            .collect(),
        Bson::Document(key) => {
            let found: Vec<_> = coll
                .indexes()
                .iter()
                .filter(|i| spec::same_key(i.key(), key))
                .collect();
            match found.as_slice() {
                [] => Err(index_not_found(format!(
                    "can't find index with key: {}",
                    display::document(key)
                ))),
                [one] if one.is_id() => Err(cannot_drop_id()),
                [one] => Ok(vec![one.name().to_owned()]),
                [first, second, ..] => Err(CommandError::new(
                    181,
                    "AmbiguousIndexKeyPattern",
                    format!(
                        "{} indexes found for key: {}, identify by name instead. Conflicting indexes: {}, {}",
                        found.len(),
                        display::document(key),
                        display::document(first.spec()),
                        display::document(second.spec())
                    ),
                )),
            }
        }
        other => Err(CommandError::type_mismatch(format!(
            "BSON field 'dropIndexes.index' is the wrong type '{}', expected types '[string, array, object]'",
            display::type_name(other)
        ))),
    }
}

/// `{dropIndexes: coll, index: "name" | "*" | ["name", ...] | {key}}`: all or none.
pub fn drop(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let ns = Ns {
        db: ctx.db.clone(),
        coll: collection_name(cmd, "dropIndexes")?.to_owned(),
    };
    let index = cmd.get("index").ok_or_else(|| {
        CommandError::location(
            40414,
            "BSON field 'dropIndexes.index' is missing but a required field",
        )
    })?;
    let mut state = ctx.shared.lock();
    let coll = state
        .catalog
        .get(&ns.db, &ns.coll)
        .ok_or_else(|| CommandError::namespace_not_found(format!("ns not found {ns}")))?;
    let was = coll.indexes().len() as i32;
    let requested = names(index, coll)?;
    let all = requested.first().is_some_and(|n| n == "*");
    let targets: Vec<String> = if all {
        coll.indexes()
            .iter()
            .filter(|i| !i.is_id())
            .map(|i| i.name().to_owned())
            .collect()
    } else {
        for (at, name) in requested.iter().enumerate() {
            let repeated = requested[..at].contains(name);
            // Names are dropped one by one, so a repeated name is gone by its second turn.
            match coll.indexes().iter().find(|i| i.name() == name) {
                Some(i) if i.is_id() => return Err(cannot_drop_id()),
                Some(_) if !repeated => {}
                _ => {
                    return Err(index_not_found(format!(
                        "index not found with name [{name}]"
                    )));
                }
            }
        }
        requested
    };
    let coll = state
        .catalog
        .get_mut(&ns.db, &ns.coll)
        .expect("checked above");
    let dropped: Vec<Document> = targets
        .iter()
        .filter_map(|name| coll.drop_index(name))
        .map(|i| i.spec().clone())
        .collect();
    for spec in dropped {
        state.log(Op::DropIndexes {
            ns: ns.clone(),
            indexes: vec![spec],
        });
    }
    ctx.shared.notify_writes(&state);
    let mut reply = doc! { "nIndexesWas": was };
    if all {
        reply.insert("msg", "non-_id indexes dropped for collection");
    }
    Ok(reply)
}
