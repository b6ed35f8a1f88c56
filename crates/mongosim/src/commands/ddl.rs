//! `create`, `collMod`, `drop`, `dropDatabase`, `renameCollection`.

use super::{Ctx, collection_name};
use crate::data::Collection;
use crate::error::{CommandError, CommandResult};
use crate::oplog::{Ns, Op};
use bson::{Document, doc};

fn images_option(cmd: &Document) -> Option<bool> {
    cmd.get_document("changeStreamPreAndPostImages")
        .ok()
        .map(|o| o.get_bool("enabled").unwrap_or(false))
}

/// `{create: coll, changeStreamPreAndPostImages: {enabled}}`.
pub fn create(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let ns = Ns {
        db: ctx.db.clone(),
        coll: collection_name(cmd, "create")?.to_owned(),
    };
    let mut state = ctx.shared.lock();
    if state.catalog.exists(&ns.db, &ns.coll) {
        return Err(CommandError::namespace_exists(format!(
            "Collection {ns} already exists."
        )));
    }
    let mut coll = Collection::default();
    coll.pre_post_images = images_option(cmd).unwrap_or(false);
    state
        .catalog
        .dbs
        .entry(ns.db.clone())
        .or_default()
        .insert(ns.coll.clone(), coll);
    state.log(Op::Create { ns });
    ctx.shared.notify_writes(&state);
    Ok(Document::new())
}

/// `{collMod: coll, changeStreamPreAndPostImages: {enabled}}`.
pub fn coll_mod(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let coll = collection_name(cmd, "collMod")?;
    let mut state = ctx.shared.lock();
    let target = state.catalog.get_mut(&ctx.db, coll).ok_or_else(|| {
        CommandError::namespace_not_found(format!("ns does not exist: {}.{coll}", ctx.db))
    })?;
    if let Some(enabled) = images_option(cmd) {
        target.pre_post_images = enabled;
    }
    Ok(Document::new())
}

/// `{drop: coll}` (since 7.0 a missing collection is not an error).
pub fn drop(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let ns = Ns {
        db: ctx.db.clone(),
        coll: collection_name(cmd, "drop")?.to_owned(),
    };
    let mut state = ctx.shared.lock();
    let dropped = state
        .catalog
        .dbs
        .get_mut(&ns.db)
        .and_then(|db| db.remove(&ns.coll));
    // Its indexes go with it, without an event of their own.
    let indexes_were = dropped.as_ref().map_or(1, |c| c.indexes().len() as i32);
    if dropped.is_some() {
        if state
            .catalog
            .dbs
            .get(&ns.db)
            .is_some_and(|db| db.is_empty())
        {
            state.catalog.dbs.remove(&ns.db);
        }
        let (ts, _) = state.log(Op::Drop { ns: ns.clone() });
        if let Some(dropped) = &dropped {
            state.remember_all(ts, &ns, dropped);
        }
        ctx.shared.notify_writes(&state);
    }
    Ok(doc! { "ns": ns.to_string(), "nIndexesWas": indexes_were })
}

/// `{dropDatabase: 1}`: a `drop` for each collection, then `dropDatabase`.
pub fn drop_database(ctx: &mut Ctx<'_>, _cmd: &Document) -> CommandResult {
    let mut state = ctx.shared.lock();
    if let Some(colls) = state.catalog.dbs.remove(&ctx.db) {
        for (coll, dropped) in &colls {
            let ns = Ns {
                db: ctx.db.clone(),
                coll: coll.clone(),
            };
            let (ts, _) = state.log(Op::Drop { ns: ns.clone() });
            state.remember_all(ts, &ns, dropped);
        }
        state.log(Op::DropDatabase { db: ctx.db.clone() });
        ctx.shared.notify_writes(&state);
    }
    Ok(doc! { "dropped": &ctx.db })
}

fn parse_ns(value: &str) -> Result<Ns, CommandError> {
    match value.split_once('.') {
        Some((db, coll)) if !db.is_empty() && !coll.is_empty() => Ok(Ns {
            db: db.to_owned(),
            coll: coll.to_owned(),
        }),
        _ => Err(CommandError::invalid_namespace(format!(
            "Invalid namespace specified '{value}'"
        ))),
    }
}

/// Waits until no open transaction uses the collections a DDL command
/// changes (the database, for `dropDatabase`), as the server's DDL waits
/// for the transactions' locks.
pub async fn wait_for_transactions(
    ctx: &Ctx<'_>,
    name: &str,
    cmd: &Document,
) -> Result<(), CommandError> {
    let deadline = super::wait::deadline(cmd);
    if name == "dropDatabase" {
        let db = ctx.db.clone();
        return super::wait::until_idle(ctx, deadline, |s| s.txns.touching_db(&db)).await;
    }
    let mut namespaces = Vec::new();
    if name == "renameCollection" {
        for field in ["renameCollection", "to"] {
            if let Ok(ns) = cmd
                .get_str(field)
                .map_err(|_| ())
                .and_then(|v| parse_ns(v).map_err(|_| ()))
            {
                namespaces.push(ns);
            }
        }
    } else if let Ok(coll) = cmd.get_str(name) {
        namespaces.push(Ns {
            db: ctx.db.clone(),
            coll: coll.to_owned(),
        });
    }
    super::wait::until_idle(ctx, deadline, |s| {
        namespaces.iter().any(|ns| s.txns.touching(ns))
    })
    .await
}

/// `{renameCollection: "db.from", to: "db.to", dropTarget}` on `admin`.
pub fn rename(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    if ctx.db != "admin" {
        return Err(CommandError::new(
            13,
            "Unauthorized",
            "renameCollection may only be run against the admin database.",
        ));
    }
    let from = parse_ns(
        cmd.get_str("renameCollection")
            .map_err(|_| CommandError::type_mismatch("renameCollection must be a string"))?,
    )?;
    let to = parse_ns(
        cmd.get_str("to")
            .map_err(|_| CommandError::type_mismatch("to must be a string"))?,
    )?;
    let drop_target = cmd.get_bool("dropTarget").unwrap_or(false);
    let mut state = ctx.shared.lock();
    if !state.catalog.exists(&from.db, &from.coll) {
        return Err(CommandError::namespace_not_found(
            "Source collection does not exist",
        ));
    }
    if state.catalog.exists(&to.db, &to.coll) {
        if !drop_target {
            return Err(CommandError::namespace_exists("target namespace exists"));
        }
        let dropped = state
            .catalog
            .dbs
            .get_mut(&to.db)
            .and_then(|db| db.remove(&to.coll))
            .expect("checked");
        let (ts, _) = state.log(Op::Drop { ns: to.clone() });
        state.remember_all(ts, &to, &dropped);
    }
    let moved = state
        .catalog
        .dbs
        .get_mut(&from.db)
        .and_then(|db| db.remove(&from.coll))
        .expect("checked");
    let (ts, _) = state.log(Op::Rename {
        from: from.clone(),
        to: to.clone(),
    });
    // At earlier times the documents were in `from`, and not in `to`.
    state.remember_all(ts, &from, &moved);
    for (slot, _) in moved.iter_slots() {
        state.remember(ts, &to, slot, None);
    }
    state
        .catalog
        .dbs
        .entry(to.db.clone())
        .or_default()
        .insert(to.coll.clone(), moved);
    ctx.shared.notify_writes(&state);
    Ok(Document::new())
}
