//! Read pipelines on a collection: `aggregate` without `$changeStream`.
//!
//! `$match`, `$sort`, `$skip`, `$limit`, `$group` (`$sum` only) and `$count`
//! work on the whole result; `$project`, `$addFields`/`$set`, `$unset`,
//! `$replaceRoot`/`$replaceWith` and `$redact` run per document with the
//! change-stream stages' evaluator ([`crate::change_stream::stages`]), so
//! both kinds of pipeline evaluate expressions (`$$ROOT`, `$literal`, ...)
//! the same way. As on the server, the whole pipeline is parsed (and its
//! constant parts folded) before any document is read; any other stage
//! fails the `aggregate`.

use super::{number, query};
use crate::change_stream::stages::{self, Stage};
use crate::error::CommandError;
use crate::filter::Filter;
use bson::{Bson, Document, doc};

/// One parsed stage.
#[derive(Debug)]
pub enum Step {
    /// `$match`.
    Match(Box<Filter>),
    /// `$sort`.
    Sort(Document),
    /// `$skip`.
    Skip(usize),
    /// `$limit`.
    Limit(usize),
    /// `$group`.
    Group(Document),
    /// `$count`.
    Count(String),
    /// A per-document stage shared with change streams.
    Each(Stage),
}

/// The per-document stages a collection pipeline shares with change streams.
const PER_DOCUMENT: [&str; 8] = [
    "$project",
    "$addFields",
    "$set",
    "$unset",
    "$replaceRoot",
    "$replaceWith",
    "$redact",
    "$match",
];

/// Parses a pipeline (without `$changeStream`).
pub fn parse(pipeline: &[Bson]) -> Result<Vec<Step>, CommandError> {
    let mut steps = Vec::with_capacity(pipeline.len());
    for stage in pipeline {
        let (name, spec) = crate::change_stream::stages::stage_parts(stage)?;
        steps.push(match (name.as_str(), spec) {
            ("$match", Bson::Document(q)) => Step::Match(Box::new(query::filter(Some(q))?)),
            ("$sort", Bson::Document(s)) => Step::Sort(s.clone()),
            ("$skip", n) => Step::Skip(number(n).unwrap_or(0).max(0) as usize),
            ("$limit", n) => Step::Limit(number(n).unwrap_or(0).max(0) as usize),
            ("$group", Bson::Document(g)) => Step::Group(g.clone()),
            ("$count", Bson::String(field)) => Step::Count(field.clone()),
            (name, spec) if PER_DOCUMENT.contains(&name) => {
                let stage = stages::parse_stage(name, spec)?;
                Step::Each(
                    stages::optimize(stage)
                        .map_err(|e| e.with_context("Failed to optimize pipeline"))?,
                )
            }
            (other, _) => {
                return Err(CommandError::location(
                    40324,
                    format!(
                        "Unrecognized pipeline stage name: '{other}' (mongosim supports $match, $sort, $skip, $limit, $project, $addFields, $set, $unset, $replaceRoot, $replaceWith, $redact, $group, $count)"
                    ),
                ));
            }
        });
    }
    Ok(steps)
}

/// Runs parsed stages over the collection's documents.
pub fn run(steps: &[Step], mut docs: Vec<Document>) -> Result<Vec<Document>, CommandError> {
    for step in steps {
        match step {
            Step::Match(filter) => {
                let mut kept = Vec::with_capacity(docs.len());
                for d in docs {
                    if filter.matches(&d)? {
                        kept.push(d);
                    }
                }
                docs = kept;
            }
            Step::Sort(spec) => query::sort(&mut docs, spec)?,
            Step::Skip(n) => {
                docs.drain(..(*n).min(docs.len()));
            }
            Step::Limit(n) => docs.truncate(*n),
            Step::Group(spec) => docs = group(&docs, spec)?,
            Step::Count(field) => {
                docs = if docs.is_empty() {
                    vec![]
                } else {
                    vec![doc! { field: docs.len() as i32 }]
                }
            }
            Step::Each(stage) => {
                let one = std::slice::from_ref(stage);
                let mut out = Vec::with_capacity(docs.len());
                for d in docs {
                    if let Some(d) = stages::apply(one, d)
                        .map_err(|e| e.with_context("PlanExecutor error during aggregation"))?
                    {
                        out.push(d);
                    }
                }
                docs = out;
            }
        }
    }
    Ok(docs)
}

/// `$group` with a constant or field-path `_id` and `$sum` accumulators (what drivers'
/// `countDocuments` sends: `{$group: {_id: 1, n: {$sum: 1}}}`).
fn group(docs: &[Document], spec: &Document) -> Result<Vec<Document>, CommandError> {
    let key_of = |d: &Document| -> Bson {
        match spec.get("_id") {
            Some(Bson::String(path)) if path.starts_with('$') => crate::paths::get(d, &path[1..])
                .cloned()
                .unwrap_or(Bson::Null),
            Some(other) => other.clone(),
            None => Bson::Null,
        }
    };
    let mut groups: Vec<(Bson, Document)> = Vec::new();
    for d in docs {
        let key = key_of(d);
        let index = match groups.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                groups.push((key.clone(), doc! { "_id": key }));
                groups.len() - 1
            }
        };
        for (field, acc) in spec.iter().filter(|(f, _)| *f != "_id") {
            let Bson::Document(acc) = acc else {
                continue;
            };
            let Some(sum) = acc.get("$sum") else {
                return Err(CommandError::location(
                    15952,
                    format!("mongosim supports only $sum in $group, not {acc}"),
                ));
            };
            let add = match sum {
                Bson::String(path) if path.starts_with('$') => crate::paths::get(d, &path[1..])
                    .and_then(number)
                    .unwrap_or(0),
                other => number(other).unwrap_or(0),
            };
            let current = groups[index].1.get(field).and_then(number).unwrap_or(0);
            let total = current + add;
            groups[index].1.insert(
                field.clone(),
                i32::try_from(total).map_or(Bson::Int64(total), Bson::Int32),
            );
        }
    }
    Ok(groups.into_iter().map(|(_, d)| d).collect())
}
