//! `update`: operator updates, replacements, upserts, `multi`.

use super::insert::insert_one;
use super::write_errors::WriteErrors;
use super::{Ctx, collection_name, query, wait};
use crate::error::{CommandError, CommandResult};
use crate::oplog::Ns;
use crate::update::{apply_operators, describe, immutable_id, is_operator_update};
use crate::writer::{Change, Writer};
use bson::{Bson, Document, doc};
use std::collections::HashSet;

/// What one update statement did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Documents matched.
    pub matched: i64,
    /// Documents changed.
    pub modified: i64,
    /// The `_id` of an upserted document.
    pub upserted: Option<Bson>,
    /// The last document after the update (for findAndModify).
    pub after: Option<Document>,
    /// The last document before the update (for findAndModify).
    pub before: Option<Document>,
    /// The slots updated so far.
    pub done: HashSet<u64>,
}

/// Applies one update to the document in `slot` (`before`); returns (after, changed).
pub fn update_slot(
    w: &mut Writer<'_>,
    ns: &Ns,
    slot: u64,
    before: &Document,
    update: &Document,
) -> Result<(Document, bool), CommandError> {
    let id = before.get("_id").cloned().unwrap_or(Bson::Null);
    if is_operator_update(update) {
        let mut after = before.clone();
        let changes = apply_operators(&mut after, update, false)?;
        if changes.is_empty() {
            return Ok((after, false));
        }
        let description = describe(&after, &changes);
        w.replace(ns, slot, before, after.clone(), Change::Update(description))?;
        Ok((after, true))
    } else {
        if update.keys().any(|k| k.starts_with('$')) {
            return Err(CommandError::failed_to_parse(
                "replacement documents cannot contain operators",
            ));
        }
        immutable_id(before.get("_id"), update.get("_id"))?;
        let mut after = doc! { "_id": id };
        after.extend(
            update
                .iter()
                .filter(|(k, _)| *k != "_id")
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        if after == *before {
            return Ok((after, false));
        }
        w.replace(ns, slot, before, after.clone(), Change::Replace)?;
        Ok((after, true))
    }
}

/// The document an upsert inserts: the query's equality fields, then the update.
pub fn upsert_document(filter: &Document, update: &Document) -> Result<Document, CommandError> {
    let mut doc = Document::new();
    if is_operator_update(update) {
        for (key, value) in filter {
            let equality = !key.starts_with('$')
                && !matches!(value, Bson::Document(d) if d.keys().next().is_some_and(|k| k.starts_with('$')));
            if equality {
                crate::paths::set(&mut doc, key, value.clone())?;
            } else if let Bson::Document(d) = value
                && let Some(eq) = d.get("$eq")
            {
                crate::paths::set(&mut doc, key, eq.clone())?;
            }
        }
        apply_operators(&mut doc, update, true)?;
    } else {
        if let Some(id) = filter
            .get("_id")
            .filter(|v| !matches!(v, Bson::Document(_)))
        {
            doc.insert("_id", id.clone());
        }
        doc.extend(update.clone());
    }
    Ok(doc)
}

/// Runs one update statement; `outcome` keeps its progress across waits
/// for a transaction (a multi-update does not update a document twice).
pub fn update_statement(
    w: &mut Writer<'_>,
    ns: &Ns,
    filter_doc: &Document,
    update: &Document,
    multi: bool,
    upsert: bool,
    outcome: &mut Outcome,
) -> Result<(), CommandError> {
    if multi && !is_operator_update(update) && !update.is_empty() {
        return Err(CommandError::failed_to_parse(
            "multi update is not supported for replacement-style update",
        ));
    }
    let filter = query::filter(Some(filter_doc))?;
    let matched = w.find(ns, &filter, !multi)?;
    for (slot, before) in matched {
        if outcome.done.contains(&slot) {
            continue;
        }
        let (after, changed) = update_slot(w, ns, slot, &before, update)?;
        outcome.done.insert(slot);
        outcome.matched += 1;
        outcome.modified += i64::from(changed);
        outcome.before = Some(before);
        outcome.after = Some(after);
    }
    if outcome.matched == 0 && upsert {
        let doc = super::insert::with_id(upsert_document(filter_doc, update)?);
        let id = insert_one(w, ns, doc.clone())?;
        outcome.upserted = Some(id);
        outcome.after = Some(doc);
    }
    Ok(())
}

/// `{update: coll, updates: [{q, u, upsert, multi}], ordered}`.
pub async fn run(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let ns = Ns {
        db: ctx.db.clone(),
        coll: collection_name(cmd, "update")?.to_owned(),
    };
    let updates = cmd.get_array("updates").map_err(|_| {
        CommandError::failed_to_parse("BSON field 'update.updates' is missing but a required field")
    })?;
    let mut statements = Vec::with_capacity(updates.len());
    for statement in updates {
        let Bson::Document(statement) = statement else {
            return Err(CommandError::type_mismatch("updates must be objects"));
        };
        let q = statement.get_document("q").map_err(|_| {
            CommandError::failed_to_parse(
                "BSON field 'update.updates.q' is missing but a required field",
            )
        })?;
        let u = match statement.get("u") {
            Some(Bson::Document(u)) => u,
            Some(Bson::Array(_)) => {
                return Err(CommandError::failed_to_parse(
                    "mongosim does not support pipeline-style updates",
                ));
            }
            _ => {
                return Err(CommandError::failed_to_parse(
                    "BSON field 'update.updates.u' is missing but a required field",
                ));
            }
        };
        let multi = statement.get_bool("multi").unwrap_or(false);
        let upsert = statement.get_bool("upsert").unwrap_or(false);
        statements.push((q.clone(), u.clone(), multi, upsert));
    }
    let txn = ctx.txn.clone();
    // Progress survives waiting for a transaction.
    let mut next = 0;
    let mut outcome = Outcome::default();
    let (mut n, mut modified) = (0i64, 0i64);
    let mut upserted = Vec::new();
    let mut write_errors = WriteErrors::new(cmd);
    wait::until_unblocked(ctx, wait::deadline(cmd), |state| {
        let mut w = Writer::new(state, txn.as_ref())?;
        while next < statements.len() {
            let (q, u, multi, upsert) = &statements[next];
            match update_statement(&mut w, &ns, q, u, *multi, *upsert, &mut outcome) {
                Ok(()) => {
                    n += outcome.matched;
                    modified += outcome.modified;
                    if let Some(id) = outcome.upserted.take() {
                        n += 1;
                        upserted.push(doc! { "index": next as i32, "_id": id });
                    }
                }
                Err(e) => {
                    if !write_errors.record(&mut w, next, e)? {
                        break;
                    }
                }
            }
            outcome = Outcome::default();
            next += 1;
        }
        Ok(())
    })
    .await?;
    let mut reply = doc! { "n": n as i32, "nModified": modified as i32 };
    if !upserted.is_empty() {
        reply.insert("upserted", upserted);
    }
    write_errors.reply(&mut reply);
    Ok(reply)
}
