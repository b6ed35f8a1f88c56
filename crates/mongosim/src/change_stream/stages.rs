//! The stages a change stream pipeline may contain after `$changeStream`.
//!
//! Expressions are limited to what change-stream pipelines use in practice:
//! literals, `{$literal: v}`, field paths (`"$fullDocument.x"`), and for
//! `$redact` the variables `$$KEEP` / `$$PRUNE` / `$$DESCEND`. Anything
//! else is refused with a clear error rather than evaluated wrongly.

use crate::error::CommandError;
use crate::paths;
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
    /// Keep (`true`) or drop (`false`) these paths; `_id` unless excluded.
    Project {
        include: bool,
        paths: Vec<String>,
        keep_id: bool,
    },
    /// Set fields to expression values.
    AddFields(Vec<(String, Expr)>),
    /// Remove fields.
    Unset(Vec<String>),
    /// Replace the event with a sub-document.
    ReplaceRoot(Expr),
    /// Keep or drop the whole event.
    Redact(bool),
    /// Split events too large for one document: done by the cursor
    /// (see [`super::split`]), since it changes one event into several.
    SplitLargeEvent,
}

/// A supported expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A constant.
    Literal(Bson),
    /// `$a.b`: the value at a path of the event.
    Path(String),
}

impl Expr {
    fn parse(value: &Bson, at: &str) -> Result<Self, CommandError> {
        match value {
            Bson::String(s) if s.starts_with("$$") => Err(unsupported(at, s)),
            Bson::String(s) if s.starts_with('$') => Ok(Self::Path(s[1..].to_owned())),
            Bson::Document(d) if d.len() == 1 && d.contains_key("$literal") => {
                Ok(Self::Literal(d["$literal"].clone()))
            }
            Bson::Document(d) if d.keys().any(|k| k.starts_with('$')) => {
                Err(unsupported(at, &value.to_string()))
            }
            other => Ok(Self::Literal(other.clone())),
        }
    }

    fn eval(&self, event: &Document) -> Option<Bson> {
        match self {
            Self::Literal(v) => Some(v.clone()),
            Self::Path(p) => paths::get(event, p).cloned(),
        }
    }
}

fn unsupported(at: &str, what: &str) -> CommandError {
    CommandError::location(
        31325,
        format!(
            "mongosim supports only literals, $literal and field paths in {at}; {what} is not supported"
        ),
    )
}

/// Compiles the stages after `$changeStream`, refusing any the server refuses.
pub fn parse_all(stages: &[Bson]) -> Result<Vec<Stage>, CommandError> {
    let mut out = Vec::with_capacity(stages.len());
    for (i, stage) in stages.iter().enumerate() {
        let Bson::Document(stage) = stage else {
            return Err(CommandError::type_mismatch(
                "Each element of the 'pipeline' array must be an object",
            ));
        };
        let Some((name, spec)) = stage.iter().next() else {
            return Err(CommandError::location(
                40323,
                "A pipeline stage specification object must contain exactly one field.",
            ));
        };
        if stage.len() != 1 {
            return Err(CommandError::location(
                40323,
                "A pipeline stage specification object must contain exactly one field.",
            ));
        }
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
    Ok(out)
}

fn parse_stage(name: &str, spec: &Bson) -> Result<Stage, CommandError> {
    let doc = || {
        spec.as_document().ok_or_else(|| {
            CommandError::failed_to_parse(format!("{name} specification must be an object"))
        })
    };
    Ok(match name {
        "$match" => Stage::Match(Box::new(Filter::compile(doc()?).map_err(|e| CommandError::bad_value(e.to_string()))?)),
        "$project" => {
            let spec = doc()?;
            let mut include = None;
            let mut keep_id = true;
            let mut list = Vec::new();
            for (path, value) in spec {
                let flag = match value {
                    Bson::Boolean(b) => *b,
                    Bson::Int32(n) => *n != 0,
                    Bson::Int64(n) => *n != 0,
                    Bson::Double(x) => *x != 0.0,
                    other => return Err(unsupported("$project", &other.to_string())),
                };
                if path == "_id" {
                    keep_id = flag;
                    continue;
                }
                if include.is_some_and(|i| i != flag) {
                    return Err(CommandError::location(31254, format!("Invalid $project :: caused by :: Cannot do {} in inclusion projection", if flag { "inclusion" } else { "exclusion" })));
                }
                include = Some(flag);
                list.push(path.clone());
            }
            Stage::Project { include: include.unwrap_or(false), paths: list, keep_id }
        }
        "$addFields" | "$set" => {
            let fields = doc()?.iter().map(|(k, v)| Ok((k.clone(), Expr::parse(v, name)?))).collect::<Result<_, CommandError>>()?;
            Stage::AddFields(fields)
        }
        "$unset" => match spec {
            Bson::String(s) => Stage::Unset(vec![s.clone()]),
            Bson::Array(items) => Stage::Unset(items.iter().map(|i| i.as_str().map(str::to_owned).ok_or_else(|| CommandError::location(31120, "$unset specification must be a string or an array containing only string values"))).collect::<Result<_, _>>()?),
            _ => return Err(CommandError::location(31002, "$unset specification must be a string or an array")),
        },
        "$replaceRoot" => {
            let new_root = doc()?.get("newRoot").ok_or_else(|| CommandError::location(40231, "no newRoot specified for the $replaceRoot stage"))?;
            Stage::ReplaceRoot(Expr::parse(new_root, name)?)
        }
        "$replaceWith" => Stage::ReplaceRoot(Expr::parse(spec, name)?),
        "$redact" => match spec {
            Bson::String(s) if s == "$$KEEP" || s == "$$DESCEND" => Stage::Redact(true),
            Bson::String(s) if s == "$$PRUNE" => Stage::Redact(false),
            other => return Err(unsupported("$redact", &other.to_string())),
        },
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

/// Runs the stages on one event; `None` if a stage filtered it out.
pub fn apply(stages: &[Stage], mut event: Document) -> Result<Option<Document>, CommandError> {
    for stage in stages {
        match stage {
            Stage::Match(filter) => {
                if !crate::data::matches(filter, &event) {
                    return Ok(None);
                }
            }
            Stage::Project {
                include,
                paths: list,
                keep_id,
            } => {
                event = if *include {
                    let mut kept = Document::new();
                    if *keep_id && let Some(id) = event.get("_id") {
                        kept.insert("_id", id.clone());
                    }
                    for path in list {
                        if let Some(v) = paths::get(&event, path) {
                            paths::set(&mut kept, path, v.clone())?;
                        }
                    }
                    kept
                } else {
                    for path in list {
                        paths::remove(&mut event, path);
                    }
                    if !keep_id {
                        event.remove("_id");
                    }
                    event
                };
            }
            Stage::AddFields(fields) => {
                for (path, expr) in fields {
                    match expr.eval(&event) {
                        Some(value) => paths::set(&mut event, path, value)?,
                        None => {
                            paths::remove(&mut event, path);
                        }
                    }
                }
            }
            Stage::Unset(list) => {
                for path in list {
                    paths::remove(&mut event, path);
                }
            }
            Stage::ReplaceRoot(expr) => match expr.eval(&event) {
                Some(Bson::Document(root)) => event = root,
                other => {
                    return Err(CommandError::location(
                        40228,
                        format!(
                            "'newRoot' expression must evaluate to an object, but resulting value was: {}",
                            other.map_or("MISSING".to_owned(), |v| v.to_string())
                        ),
                    ));
                }
            },
            Stage::Redact(keep) => {
                if !keep {
                    return Ok(None);
                }
            }
            Stage::SplitLargeEvent => {}
        }
    }
    Ok(Some(event))
}
