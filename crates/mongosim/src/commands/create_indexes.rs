//! `createIndexes`: validates the specs, skips indexes that already exist,
//! refuses conflicting names and keys, and builds the rest over the existing
//! documents, all or none, as the server's index build does (a duplicate on
//! a new unique index fails the build with E11000 and changes nothing).

use super::insert::ensure_collection;
use super::{Ctx, collection_name};
use crate::error::{CommandError, CommandResult};
use crate::indexes::spec::{self, Comparison, IndexSpec};
use crate::indexes::{Index, MAX_INDEXES, display};
use crate::oplog::{Ns, Op};
use bson::{Bson, Document, doc};

fn conflict(
    code: i32,
    code_name: &str,
    what: &str,
    spec: &IndexSpec,
    existing: &Index,
) -> CommandError {
    CommandError::new(
        code,
        code_name,
        format!(
            "{what}. Requested index: {}, existing index: {}",
            display::document(&spec.spec),
            display::document(existing.spec())
        ),
    )
}

/// `_doesSpecConflictWithExisting`: `Ok(true)` if an identical index exists.
fn already_exists(
    ns: &Ns,
    candidate: &IndexSpec,
    existing: &[&Index],
) -> Result<bool, CommandError> {
    if candidate.name.is_empty() {
        return Err(CommandError::new(
            67,
            "CannotCreateIndex",
            "index name cannot be empty",
        ));
    }
    if let Some(same_name) = existing.iter().find(|i| i.name() == candidate.name) {
        return match spec::compare(candidate, same_name) {
            Comparison::Identical => Ok(true),
            Comparison::Different => Err(conflict(
                86,
                "IndexKeySpecsConflict",
                "An existing index has the same name as the requested index",
                candidate,
                same_name,
            )),
            Comparison::Equivalent => Err(conflict(
                85,
                "IndexOptionsConflict",
                "An equivalent index already exists with the same name but different options",
                candidate,
                same_name,
            )),
        };
    }
    let same_key = existing
        .iter()
        .map(|i| (i, spec::compare(candidate, i)))
        .find(|(_, c)| *c != Comparison::Different);
    match same_key {
        Some((index, Comparison::Identical)) => Err(CommandError::new(
            85,
            "IndexOptionsConflict",
            format!(
                "Index already exists with a different name: {}",
                index.name()
            ),
        )),
        Some((index, _)) => Err(conflict(
            85,
            "IndexOptionsConflict",
            "An equivalent index already exists with a different name and options",
            candidate,
            index,
        )),
        None if existing.len() >= MAX_INDEXES => Err(CommandError::new(
            67,
            "CannotCreateIndex",
            format!(
                "add index fails, too many indexes for {ns} key:{}",
                display::document(&candidate.key)
            ),
        )),
        None => Ok(false),
    }
}

/// The requested specs, validated.
fn parse_specs(cmd: &Document) -> Result<Vec<IndexSpec>, CommandError> {
    let indexes = match cmd.get("indexes") {
        Some(Bson::Array(a)) => a,
        Some(other) => {
            return Err(CommandError::type_mismatch(format!(
                "BSON field 'createIndexes.indexes' is the wrong type '{}', expected type 'array'",
                display::type_name(other)
            )));
        }
        None => {
            return Err(CommandError::location(
                40414,
                "BSON field 'createIndexes.indexes' is missing but a required field",
            ));
        }
    };
    let specs = indexes
        .iter()
        .enumerate()
        .map(|(i, entry)| match entry {
            Bson::Document(d) => spec::parse(d),
            other => Err(CommandError::type_mismatch(format!(
                "BSON field 'createIndexes.indexes.{i}' is the wrong type '{}', expected type 'object'",
                display::type_name(other)
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if specs.is_empty() {
        return Err(CommandError::bad_value(
            "Must specify at least one index to create",
        ));
    }
    Ok(specs)
}

/// `{createIndexes: coll, indexes: [{key, name, unique?, sparse?}, ...]}`.
pub fn run(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    let ns = Ns {
        db: ctx.db.clone(),
        coll: collection_name(cmd, "createIndexes")?.to_owned(),
    };
    let specs = parse_specs(cmd)?;
    let mut state = ctx.shared.lock();
    let created = !state.catalog.exists(&ns.db, &ns.coll);
    // Which indexes to build; nothing changes until all of them are known to be valid.
    let (before, new, non_empty) = {
        let id_only = [Index::id()];
        let current: &[Index] = match state.catalog.get(&ns.db, &ns.coll) {
            Some(coll) => coll.indexes(),
            None => &id_only,
        };
        let non_empty = state
            .catalog
            .get(&ns.db, &ns.coll)
            .is_some_and(|c| !c.is_empty());
        let mut new: Vec<Index> = Vec::new();
        for candidate in &specs {
            let existing: Vec<&Index> = current.iter().chain(&new).collect();
            if !already_exists(&ns, candidate, &existing)? {
                new.push(Index::new(candidate.clone()));
            }
        }
        (current.len(), new, non_empty)
    };
    let specs_built: Vec<Document> = new.iter().map(|i| i.spec().clone()).collect();
    if !new.is_empty() || created {
        if non_empty {
            let uuid = state
                .catalog
                .get(&ns.db, &ns.coll)
                .map(|c| c.uuid)
                .expect("non-empty");
            let build = bson::Uuid::new();
            state
                .catalog
                .get_mut(&ns.db, &ns.coll)
                .expect("exists")
                .add_indexes(&ns.to_string(), new)
                .map_err(|e| {
                    e.with_context(format!(
                        "Index build failed: {build}: Collection {ns} ( {uuid} )"
                    ))
                })?;
            // A two-phase build: one commitIndexBuild entry for all its indexes.
            state.log(Op::CreateIndexes {
                ns: ns.clone(),
                indexes: specs_built.clone(),
            });
        } else {
            ensure_collection(&mut state, &ns);
            state
                .catalog
                .get_mut(&ns.db, &ns.coll)
                .expect("just ensured")
                .add_indexes(&ns.to_string(), new)?;
            // An empty collection: a createIndexes entry per index.
            for spec in &specs_built {
                state.log(Op::CreateIndexes {
                    ns: ns.clone(),
                    indexes: vec![spec.clone()],
                });
            }
        }
        ctx.shared.notify_writes(&state);
    }
    let after = before + specs_built.len();
    let mut reply = doc! { "numIndexesBefore": before as i32, "numIndexesAfter": after as i32 };
    if created {
        reply.insert("createdCollectionAutomatically", true);
    } else if !specs_built.is_empty() {
        reply.insert("createdCollectionAutomatically", false);
    }
    if ctx.shared.set_name.is_some() && (created || !specs_built.is_empty()) {
        // A replica set builds in two phases, with the default commit quorum
        // (7.0 leaves it out when every index already exists).
        reply.insert("commitQuorum", "votingMembers");
    }
    if after == before {
        reply.insert("note", "all indexes already exist");
    } else if after < before + specs.len() {
        reply.insert("note", "index already exists");
    }
    Ok(reply)
}
