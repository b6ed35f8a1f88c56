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
            paths.into_iter().try_for_each(protected)
        }
        "$addFields" | "$set" => {
            let fields = spec
                .as_document()
                .ok_or_else(|| format!("{name} takes a table of fields"))?;
            fields.keys().try_for_each(|k| protected(k))
        }
        "$project" => {
            let fields = spec
                .as_document()
                .ok_or("$project takes a table of fields")?;
            let excluded = |v: &Bson| {
                matches!(v, Bson::Boolean(false))
                    || v.as_i64().or(v.as_i32().map(i64::from)) == Some(0)
                    || v.as_f64() == Some(0.0)
            };
            let inclusion = fields.iter().any(|(k, v)| k != "_id" && !excluded(v));
            if inclusion {
                // Keeps only what it names: it must name what herald needs.
                for field in PROTECTED {
                    let kept = match fields.get(field) {
                        Some(v) => !excluded(v),
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
                    .filter(|(_, v)| {
                        !matches!(v, Bson::Boolean(true))
                            && v.as_i64().or(v.as_i32().map(i64::from)) != Some(1)
                    })
                    .try_for_each(|(k, _)| protected(k))
            } else {
                fields.keys().try_for_each(|k| protected(k))
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
            (_, Ok(fields)) => out.extend(
                fields
                    .iter()
                    .filter(|(_, v)| {
                        matches!(v, Bson::Boolean(false))
                            || v.as_i32() == Some(0)
                            || v.as_i64() == Some(0)
                    })
                    .map(|(k, _)| k.clone()),
            ),
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
