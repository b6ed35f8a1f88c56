//! `update`: operator updates, replacements, upserts, `multi`.

use super::insert::{ensure_collection, insert_one};
use super::{Ctx, collection_name, query};
use crate::error::{CommandError, CommandResult};
use crate::oplog::{Ns, Op};
use crate::state::State;
use crate::update::{apply_operators, describe, immutable_id, is_operator_update};
use bson::{Bson, Document, doc};

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
}

/// Applies one update to the document in `slot` and logs it; returns (before, after, changed).
pub fn update_slot(
    state: &mut State,
    ns: &Ns,
    slot: u64,
    update: &Document,
) -> Result<(Document, Document, bool), CommandError> {
    let coll = state
        .catalog
        .get_mut(&ns.db, &ns.coll)
        .expect("caller found the slot");
    let before = coll.get(slot).cloned().expect("slot exists");
    let id = before.get("_id").cloned().unwrap_or(Bson::Null);
    let images = coll.pre_post_images;
    if is_operator_update(update) {
        let mut after = before.clone();
        let changes = apply_operators(&mut after, update, false)?;
        if changes.is_empty() {
            return Ok((before.clone(), before, false));
        }
        coll.replace(&ns.to_string(), slot, after.clone())?;
        let description = describe(&after, &changes);
        let (ts, _) = state.log(Op::Update {
            ns: ns.clone(),
            key: doc! { "_id": id },
            description,
            pre: images.then(|| before.clone()),
            post: images.then(|| after.clone()),
        });
        state.remember(ts, ns, slot, Some(before.clone()));
        Ok((before, after, true))
    } else {
        if update.keys().any(|k| k.starts_with('$')) {
            return Err(CommandError::failed_to_parse(
                "replacement documents cannot contain operators",
            ));
        }
        immutable_id(before.get("_id"), update.get("_id"))?;
        let mut after = doc! { "_id": id.clone() };
        after.extend(
            update
                .iter()
                .filter(|(k, _)| *k != "_id")
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        if after == before {
            return Ok((before.clone(), before, false));
        }
        coll.replace(&ns.to_string(), slot, after.clone())?;
        let (ts, _) = state.log(Op::Replace {
            ns: ns.clone(),
            key: doc! { "_id": id },
            doc: after.clone(),
            pre: images.then(|| before.clone()),
        });
        state.remember(ts, ns, slot, Some(before.clone()));
        Ok((before, after, true))
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

/// Runs one update statement.
pub fn update_statement(
    state: &mut State,
    ns: &Ns,
    filter_doc: &Document,
    update: &Document,
    multi: bool,
    upsert: bool,
) -> Result<Outcome, CommandError> {
    if multi && !is_operator_update(update) && !update.is_empty() {
        return Err(CommandError::failed_to_parse(
            "multi update is not supported for replacement-style update",
        ));
    }
    let filter = query::filter(Some(filter_doc))?;
    let slots = match state.catalog.get(&ns.db, &ns.coll) {
        None => Vec::new(),
        Some(coll) if multi => coll.find_slots(&filter),
        Some(coll) => coll.find_one_slot(&filter).into_iter().collect(),
    };
    let mut outcome = Outcome::default();
    for slot in slots {
        let (before, after, changed) = update_slot(state, ns, slot, update)?;
        outcome.matched += 1;
        outcome.modified += i64::from(changed);
        outcome.before = Some(before);
        outcome.after = Some(after);
    }
    if outcome.matched == 0 && upsert {
        ensure_collection(state, ns);
        let doc = super::insert::with_id(upsert_document(filter_doc, update)?);
        let id = insert_one(state, ns, doc.clone())?;
        outcome.upserted = Some(id);
        outcome.after = Some(doc);
    }
    Ok(outcome)
}

/// `{update: coll, updates: [{q, u, upsert, multi}], ordered}`.
pub fn run(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let ns = Ns {
        db: ctx.db.clone(),
        coll: collection_name(cmd, "update")?.to_owned(),
    };
    let updates = cmd.get_array("updates").map_err(|_| {
        CommandError::failed_to_parse("BSON field 'update.updates' is missing but a required field")
    })?;
    let ordered = cmd.get_bool("ordered").unwrap_or(true);
    let mut state = ctx.lock();
    let (mut n, mut modified) = (0i64, 0i64);
    let mut upserted = Vec::new();
    let mut write_errors = Vec::new();
    for (index, statement) in updates.iter().enumerate() {
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
        match update_statement(&mut state, &ns, q, u, multi, upsert) {
            Ok(outcome) => {
                n += outcome.matched;
                modified += outcome.modified;
                if let Some(id) = outcome.upserted {
                    n += 1;
                    upserted.push(doc! { "index": index as i32, "_id": id });
                }
            }
            Err(e) => {
                write_errors.push(super::write_error(index, &e));
                if ordered {
                    break;
                }
            }
        }
    }
    ctx.shared.notify_writes(&state);
    let mut reply = doc! { "n": n as i32, "nModified": modified as i32 };
    if !upserted.is_empty() {
        reply.insert("upserted", upserted);
    }
    if !write_errors.is_empty() {
        reply.insert("writeErrors", write_errors);
    }
    Ok(reply)
}
