//! The stages a change stream pipeline may contain after `$changeStream`.
//!
//! Their expressions are the aggregation expression language of
//! [`crate::expr`]; what mongosim does not evaluate is refused when the
//! stream is opened, with the server's error for an unknown operator.
//! As on the server, a pipeline is parsed (errors carry the stage's
//! `Invalid $set` context), then optimized (constant parts are folded,
//! and their errors carry `Failed to optimize pipeline`), then run on each
//! event (errors fail the `getMore`).

use super::project::{self, Projection};
use super::redact;
use crate::error::CommandError;
use crate::expr::parse::{self as expr_parse, Scope};
use crate::expr::{Expr, Vars, compare, render};
use bson::{Bson, Document};
use herald_core::Filter;

/// Stages allowed after `$changeStream` (the server's list).
pub const ALLOWED: [&str; 9] = [
    "$match",
    "$project",
    "$addFields",
    "$set",
    "$replaceRoot",
    "$replaceWith",
    "$redact",
    "$unset",
    "$changeStreamSplitLargeEvent",
];

/// One compiled stage.
#[derive(Debug, Clone)]
pub enum Stage {
    /// Keep events matching a query.
    Match(Box<Filter>),
    /// `$project`, `$unset`, `$addFields`, `$set`.
    Project(Box<Projection>),
    /// Replace the event with a document; the context names the stage in errors.
    ReplaceRoot { expr: Expr, context: &'static str },
    /// Keep, prune or descend, per (sub)document.
    Redact(Expr),
    /// Split events too large for one document: done by the cursor
    /// (see [`super::split`]), since it changes one event into several.
    SplitLargeEvent,
}

/// A pipeline stage's name and spec, refused as the server refuses a stage
/// that is not a document of exactly one field.
pub fn stage_parts(stage: &Bson) -> Result<(&String, &Bson), CommandError> {
    let Bson::Document(stage) = stage else {
        return Err(CommandError::type_mismatch(
            "Each element of the 'pipeline' array must be an object",
        ));
    };
    stage
        .iter()
        .next()
        .filter(|_| stage.len() == 1)
        .ok_or_else(|| {
            CommandError::location(
                40323,
                "A pipeline stage specification object must contain exactly one field.",
            )
        })
}

/// Compiles the stages after `$changeStream`, refusing any the server refuses.
pub fn parse_all(stages: &[Bson]) -> Result<Vec<Stage>, CommandError> {
    let mut out = Vec::with_capacity(stages.len());
    for (i, stage) in stages.iter().enumerate() {
        let (name, spec) = stage_parts(stage)?;
        if !ALLOWED.contains(&name.as_str()) {
            return Err(CommandError::illegal_operation(format!(
                "{name} is not permitted in a $changeStream pipeline"
            )));
        }
        if name == "$changeStreamSplitLargeEvent" && i + 1 != stages.len() {
            return Err(CommandError::location(
                7182802,
                "$changeStreamSplitLargeEvent must be the last stage in the pipeline",
            ));
        }
        out.push(parse_stage(name, spec)?);
    }
    out.into_iter()
        .map(optimize)
        .collect::<Result<_, _>>()
        .map_err(|e| e.with_context("Failed to optimize pipeline"))
}

/// Folds constant expressions in a stage (errors carry no context yet).
pub fn optimize(stage: Stage) -> Result<Stage, CommandError> {
    Ok(match stage {
        Stage::Project(p) => Stage::Project(Box::new(p.optimize()?)),
        Stage::ReplaceRoot { expr, context } => Stage::ReplaceRoot {
            expr: expr.optimize()?,
            context,
        },
        Stage::Redact(expr) => Stage::Redact(expr.optimize()?),
        other => other,
    })
}

/// Compiles one stage named in [`ALLOWED`] (collection pipelines use the
/// same stages, except `$changeStreamSplitLargeEvent`).
pub fn parse_stage(name: &str, spec: &Bson) -> Result<Stage, CommandError> {
    let invalid = |e: CommandError| e.with_context(format!("Invalid {name}"));
    Ok(match (name, spec) {
        ("$match", Bson::Document(query)) => {
            Stage::Match(Box::new(crate::commands::query::compile(query)?))
        }
        ("$match", _) => {
            return Err(CommandError::location(
                15959,
                "the match filter must be an expression in an object",
            ));
        }
        ("$project", Bson::Document(d)) => {
            let pairs: Vec<(String, Bson)> =
                d.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            Stage::Project(Box::new(project::parse::project(&pairs).map_err(invalid)?))
        }
        ("$project", _) => {
            return Err(CommandError::location(
                15969,
                "$project specification must be an object",
            ));
        }
        ("$unset", _) => Stage::Project(Box::new(project::parse::unset(spec)?)),
        ("$addFields" | "$set", Bson::Document(d)) => {
            Stage::Project(Box::new(project::parse::add_fields(d).map_err(invalid)?))
        }
        ("$addFields" | "$set", other) => {
            return Err(CommandError::location(
                40272,
                format!(
                    "{name} specification stage must be an object, got {}",
                    compare::type_name(Some(other))
                ),
            ));
        }
        ("$replaceRoot", _) => Stage::ReplaceRoot {
            expr: expr_parse::operand(new_root(spec)?, Scope::default())?,
            context: "'newRoot' expression ",
        },
        ("$replaceWith", _) => Stage::ReplaceRoot {
            expr: expr_parse::operand(spec, Scope::default())?,
            context: "'replacement document' ",
        },
        ("$redact", _) => Stage::Redact(expr_parse::operand(spec, Scope { redact: true })?),
        _ => match spec {
            Bson::Document(d) if d.is_empty() => Stage::SplitLargeEvent,
            _ => {
                return Err(CommandError::location(
                    7182800,
                    "$changeStreamSplitLargeEvent spec should be an empty object",
                ));
            }
        },
    })
}

/// `$replaceRoot`'s `{newRoot: <expression>}`, checked as the server's IDL does.
fn new_root(spec: &Bson) -> Result<&Bson, CommandError> {
    let Bson::Document(d) = spec else {
        return Err(CommandError::location(
            40229,
            format!(
                "expected an object as specification for $replaceRoot stage, got {}",
                compare::type_name(Some(spec))
            ),
        ));
    };
    if let Some(unknown) = d.keys().find(|k| *k != "newRoot") {
        return Err(CommandError::location(
            40415,
            format!("BSON field '$replaceRoot.{unknown}' is an unknown field."),
        ));
    }
    d.get("newRoot").ok_or_else(|| {
        CommandError::location(
            40414,
            "BSON field '$replaceRoot.newRoot' is missing but a required field",
        )
    })
}

/// Runs the stages on one event; `None` if a stage filtered it out.
pub fn apply(stages: &[Stage], mut event: Document) -> Result<Option<Document>, CommandError> {
    for stage in stages {
        match stage {
            Stage::Match(filter) => {
                if !crate::data::matches(filter, &event) {
                    return Ok(None);
                }
            }
            Stage::Project(projection) => event = projection.apply(&event)?,
            Stage::ReplaceRoot { expr, context } => match expr.eval(&Vars::root(&event))? {
                Some(Bson::Document(root)) => event = root,
                other => {
                    return Err(CommandError::location(
                        40228,
                        format!(
                            "{context} must evaluate to an object, but resulting value was: {}. Type of resulting value: '{}'. Input document: {}",
                            render::value(other.as_ref()),
                            compare::type_name(other.as_ref()),
                            render::document(&event)
                        ),
                    ));
                }
            },
            Stage::Redact(expr) => match redact::apply(expr, &event)? {
                Some(kept) => event = kept,
                None => return Ok(None),
            },
            Stage::SplitLargeEvent => {}
        }
    }
    Ok(Some(event))
}
