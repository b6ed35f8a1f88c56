//! Stages configured per watch target, checked before any stream opens.
//!
//! After its own `$match`, a stream may apply stages a user configures for a
//! target (`[mongodb.streams."db.coll"] stages = [...]`), to keep large or
//! sensitive fields on the server. The server allows `$match`, `$project`,
//! `$addFields`/`$set`, `$unset`, `$replaceRoot`/`$replaceWith` and
//! `$redact` there. herald refuses, before anything runs, the stages the
//! server would refuse and those that would remove or replace what herald
//! needs of every event: `_id` (the resume token), `operationType`, `ns`,
//! `documentKey` and `clusterTime`.

use bson::{Bson, Document};
use herald_core::WatchTarget;
use std::collections::BTreeMap;

/// The fields herald needs in every event.
pub const PROTECTED: [&str; 5] = ["_id", "operationType", "ns", "documentKey", "clusterTime"];

/// True if removing or setting `path` touches a protected field.
fn touches_protected(path: &str) -> bool {
    PROTECTED.iter().any(|field| {
        path == *field
            || path.starts_with(&format!("{field}."))
            || field.starts_with(&format!("{path}."))
    })
}

/// Operation types a user `$match` cannot filter out: herald's stop and
/// restart policies act on them.
pub const LIFECYCLE: [&str; 4] = ["drop", "rename", "dropDatabase", "invalidate"];

/// A configured stage as the stream runs it: a `$match` also lets the
/// lifecycle events through ([`LIFECYCLE`]), so a filter on documents cannot
/// hide the drop or rename a target's policy must see. (Rules still receive
/// only the operation types they name.)
///
/// ```
/// use bson::doc;
/// let ran = herald_ingest::mongo::stages::as_run(&doc! {"$match": {"fullDocument.kind": "a"}});
/// assert_eq!(ran, doc! {"$match": {"$or": [
///     {"fullDocument.kind": "a"},
///     {"operationType": {"$in": ["drop", "rename", "dropDatabase", "invalidate"]}},
/// ]}});
/// ```
pub fn as_run(stage: &Document) -> Document {
    match stage.get_document("$match") {
        Ok(filter) if stage.len() == 1 => bson::doc! {
            "$match": { "$or": [filter.clone(), { "operationType": { "$in": LIFECYCLE.to_vec() } }] }
        },
        _ => stage.clone(),
    }
}

/// Checks one target's stages; the error names the stage (`stages[i]`) and why.
///
/// ```
/// use bson::doc;
/// use herald_ingest::mongo::stages::check;
/// assert!(check(&[doc! {"$unset": "fullDocument.receiptImage"}]).is_ok());
/// let err = check(&[doc! {"$match": {}}, doc! {"$replaceRoot": {"newRoot": "$fullDocument"}}]).unwrap_err();
/// assert!(err.starts_with("stages[1]: $replaceRoot"), "{err}");
/// assert!(check(&[doc! {"$unset": "ns"}]).is_err());
/// ```
pub fn check(stages: &[Document]) -> Result<(), String> {
    for (i, stage) in stages.iter().enumerate() {
        check_stage(stage).map_err(|why| format!("stages[{i}]: {why}"))?;
    }
    Ok(())
}

/// Why stages configured per target cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StagesError {
    /// A stage the server or herald refuses.
    #[error("stages of \"{target}\": {why}")]
    Refused {
        /// The target the stage is configured for.
        target: WatchTarget,
        /// Which stage, and why ([`check`]).
        why: String,
    },
    /// Two targets, one inside the other, both with stages.
    #[error(
        "both \"{outer}\" and \"{inner}\" inside it have stages; stages apply to every event of their target, so put them on one target"
    )]
    Nested {
        /// The wider target.
        outer: WatchTarget,
        /// The target inside it.
        inner: WatchTarget,
    },
}

/// Checks the stages of every target ([`check`]), and that no target with
/// stages lies inside another (the inner target's events would reach
/// neither stream).
///
/// ```
/// use bson::doc;
/// use herald_ingest::mongo::stages::{StagesError, check_targets};
/// let unset = vec![doc! {"$unset": "fullDocument.card"}];
/// let nested = [("shop".parse().unwrap(), unset.clone()), ("shop.orders".parse().unwrap(), unset)].into();
/// assert!(matches!(check_targets(&nested), Err(StagesError::Nested { .. })));
/// ```
pub fn check_targets(stages: &BTreeMap<WatchTarget, Vec<Document>>) -> Result<(), StagesError> {
    for (target, list) in stages {
        check(list).map_err(|why| StagesError::Refused {
            target: target.clone(),
            why,
        })?;
    }
    for outer in stages.keys() {
        if let Some(inner) = stages
            .keys()
            .find(|inner| *inner != outer && outer.contains(inner))
        {
            return Err(StagesError::Nested {
                outer: outer.clone(),
                inner: inner.clone(),
            });
        }
    }
    Ok(())
}

/// How a `$project` treats a field, by its value: `0`, `false` (and any
/// numeric zero) exclude it, `true` and any other number include it, and
/// anything else computes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Projection {
    Exclude,
    Include,
    Computed,
}

impl Projection {
    fn of(value: &Bson) -> Self {
        let zero = match value {
            Bson::Boolean(b) => !b,
            Bson::Int32(n) => *n == 0,
            Bson::Int64(n) => *n == 0,
            Bson::Double(x) => *x == 0.0,
            Bson::Decimal128(d) => match d.to_string().parse::<f64>() {
                Ok(x) => x == 0.0,
                Err(_) => return Self::Computed,
            },
            _ => return Self::Computed,
        };
        if zero { Self::Exclude } else { Self::Include }
    }
}

/// A `$project`'s fields as dotted paths, nested specifications flattened
/// (`{"fullDocument": {"card": 0}}` is `fullDocument.card: 0`); an operator
/// expression (`{"$concat": [...]}`) is one computed field.
fn flatten(prefix: &str, fields: &Document, out: &mut Vec<(String, Bson)>) {
    for (key, value) in fields {
        let path = match prefix {
            "" => key.clone(),
            _ => format!("{prefix}.{key}"),
        };
        match value {
            Bson::Document(inner) if inner.keys().next().is_some_and(|k| !k.starts_with('$')) => {
                flatten(&path, inner, out);
            }
            _ => out.push((path, value.clone())),
        }
    }
}

fn check_stage(stage: &Document) -> Result<(), String> {
    let mut entries = stage.iter();
    let (Some((name, spec)), None) = (entries.next(), entries.next()) else {
        return Err(
            "a stage is a table with exactly one key, such as { \"$unset\" = \"fullDocument.x\" }"
                .into(),
        );
    };
    let protected = |path: &str| {
        if touches_protected(path) {
            Err(format!(
                "{name} would change `{path}`, and herald needs {} of every event as the server sends them",
                PROTECTED.join(", ")
            ))
        } else {
            Ok(())
        }
    };
    match name.as_str() {
        "$match" | "$redact" => Ok(()),
        "$unset" => {
            let paths: Vec<&str> = match spec {
                Bson::String(path) => vec![path],
                Bson::Array(paths) => paths
                    .iter()
                    .map(|p| {
                        p.as_str()
                            .ok_or("$unset takes a field path or a list of them")
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err("$unset takes a field path or a list of them".into()),
            };
            if paths.is_empty() || paths.iter().any(|p| p.is_empty()) {
                return Err(
                    "$unset takes one or more field paths, and the server refuses an empty list or path"
                        .into(),
                );
            }
            paths.into_iter().try_for_each(protected)
        }
        "$addFields" | "$set" => {
            let fields = spec
                .as_document()
                .ok_or_else(|| format!("{name} takes a table of fields"))?;
            fields.keys().try_for_each(|k| protected(k))
        }
        "$project" => {
            let spec = spec
                .as_document()
                .ok_or("$project takes a table of fields")?;
            let mut fields = Vec::new();
            flatten("", spec, &mut fields);
            let how = |path: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k == path)
                    .map(|(_, v)| Projection::of(v))
            };
            let inclusion = fields
                .iter()
                .any(|(k, v)| k != "_id" && Projection::of(v) != Projection::Exclude);
            if inclusion {
                // Keeps only what it names: it must name what herald needs.
                for field in PROTECTED {
                    let kept = match how(field) {
                        Some(projection) => projection != Projection::Exclude,
                        None => field == "_id",
                    };
                    if !kept {
                        return Err(format!(
                            "this $project keeps only the fields it names, and drops `{field}`, which herald needs of every event; name {} too, or exclude fields instead (\"field\" = 0)",
                            PROTECTED.join(", ")
                        ));
                    }
                }
                // Computed fields must not replace what herald needs.
                fields
                    .iter()
                    .filter(|(_, v)| Projection::of(v) == Projection::Computed)
                    .try_for_each(|(k, _)| protected(k))
            } else {
                fields.iter().try_for_each(|(k, _)| protected(k))
            }
        }
        "$replaceRoot" | "$replaceWith" => Err(format!(
            "{name} replaces the whole event, and herald needs {} of every event; use $project or $unset to drop fields instead",
            PROTECTED.join(", ")
        )),
        "$changeStreamSplitLargeEvent" => Err(
            "set split_large_events = true in [mongodb] instead; herald adds this stage last"
                .into(),
        ),
        other => Err(format!(
            "{other} is not allowed after $changeStream; the server allows $match, $project, $addFields, $set, $unset, $replaceRoot, $replaceWith and $redact"
        )),
    }
}

/// The field paths a target's stages remove outright (`$unset`, and
/// `$project` exclusions), for warning rules that read them.
pub fn removed_paths(stages: &[Document]) -> Vec<String> {
    let mut out = Vec::new();
    for stage in stages {
        match (stage.get("$unset"), stage.get_document("$project")) {
            (Some(Bson::String(path)), _) => out.push(path.clone()),
            (Some(Bson::Array(paths)), _) => {
                out.extend(paths.iter().filter_map(|p| p.as_str().map(str::to_owned)));
            }
            (_, Ok(spec)) => {
                let mut fields = Vec::new();
                flatten("", spec, &mut fields);
                out.extend(
                    fields
                        .into_iter()
                        .filter(|(_, v)| Projection::of(v) == Projection::Exclude)
                        .map(|(k, _)| k),
                );
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn what_herald_needs_stays() {
        assert!(check(&[doc! {"$unset": ["fullDocument.a", "fullDocument.b"]}]).is_ok());
        assert!(check(&[doc! {"$project": {"fullDocument.card": 0}}]).is_ok());
        assert!(check(&[doc! {"$set": {"fullDocument.masked": true}}]).is_ok());
        assert!(check(&[doc! {"$redact": "$$DESCEND"}]).is_ok());
        for bad in [
            doc! {"$unset": "_id"},
            doc! {"$unset": ["fullDocument.a", "ns.coll"]},
            doc! {"$set": {"documentKey": 1}},
            doc! {"$project": {"clusterTime": 0}},
            doc! {"$project": {"fullDocument": 1}},
            doc! {"$replaceWith": "$fullDocument"},
            doc! {"$group": {"_id": null}},
            doc! {"$changeStreamSplitLargeEvent": {}},
        ] {
            assert!(check(std::slice::from_ref(&bad)).is_err(), "{bad}");
        }
        // As the server reads $project: numeric zeros and false exclude,
        // other numbers and true include, nested tables are paths.
        assert!(check(&[doc! {"$project": {"fullDocument": {"card": 0}}}]).is_ok());
        assert!(check(&[doc! {"$project": {"fullDocument": {"card": 0.0}}}]).is_ok());
        assert!(check(&[doc! {"$project": {"fullDocument": {"card": false}}}]).is_ok());
        assert!(check(&[doc! {"$project": {"ns": {"coll": 0}}}]).is_err());
        let truthy = |n: Bson| {
            doc! {"$project": {"_id": 1, "operationType": true, "ns": n, "documentKey": 1_i64, "clusterTime": 1, "fullDocument.a": 2}}
        };
        assert!(check(&[truthy(Bson::Double(1.0))]).is_ok());
        assert!(check(&[truthy(Bson::Int32(2))]).is_ok());
        assert!(check(&[truthy(Bson::Int32(0))]).is_err(), "drops ns");
        assert!(
            check(&[truthy(Bson::String("$ns".into()))]).is_err(),
            "computes ns"
        );
        assert!(check(&[doc! {"$unset": []}]).is_err());
        assert!(check(&[doc! {"$unset": ""}]).is_err());
        assert_eq!(
            removed_paths(&[
                doc! {"$project": {"fullDocument": {"a": 0.0, "b": false, "c": 0_i64, "d": {"e": 0}}}}
            ]),
            [
                "fullDocument.a",
                "fullDocument.b",
                "fullDocument.c",
                "fullDocument.d.e"
            ]
        );
        let keeps_all = doc! {"$project": {"_id": 1, "operationType": 1, "ns": 1, "documentKey": 1, "clusterTime": 1, "fullDocument.amount": 1}};
        assert!(check(&[keeps_all]).is_ok());
        assert_eq!(
            removed_paths(&[
                doc! {"$unset": "fullDocument.a"},
                doc! {"$project": {"fullDocument.b": 0}}
            ]),
            ["fullDocument.a", "fullDocument.b"]
        );
    }
}
