//! The specifications of `$project`, `$unset` and `$addFields`/`$set`,
//! checked as the server checks them. The caller adds the server's
//! `Invalid $project` (`$unset`, `$set`, ...) context to these errors.

use super::{Kind, Node, Projection};
use crate::error::CommandError;
use crate::expr::parse::{self, Scope, field_path};
use crate::expr::{Expr, compare};
use crate::indexes::display;
use bson::{Bson, Document};

/// A node of the server's projection syntax tree.
enum Ast {
    Level(Vec<(String, Ast)>),
    Flag(bool),
    Computed(Expr),
}

/// What parsing a `$project` has learned so far.
#[derive(Default)]
struct Ctx {
    kind: Option<Kind>,
    id_specified: bool,
    id_included_entirely: bool,
}

/// `$project` from its fields in order (`$unset` passes `{path: 0}` pairs).
pub fn project(spec: &[(String, Bson)]) -> Result<Projection, CommandError> {
    if spec.is_empty() {
        return Err(CommandError::location(
            51272,
            "projection specification must have at least one field",
        ));
    }
    let mut ctx = Ctx::default();
    let mut root = Vec::new();
    for (name, value) in spec {
        ctx.id_specified |= name == "_id" || name.starts_with("_id.");
        element(&mut ctx, name, value, &mut root, true)?;
    }
    let kind = ctx.kind.unwrap_or(if ctx.id_included_entirely {
        Kind::Inclusion
    } else {
        Kind::Exclusion
    });
    if kind == Kind::Inclusion && !ctx.id_specified {
        root.push(("_id".to_owned(), Ast::Flag(true)));
    }
    if kind == Kind::Exclusion && ctx.id_included_entirely {
        // `{_id: 1, a: 0}` is an exclusion of `a`: the `_id: 1` does nothing.
        root.retain(|(name, _)| name != "_id");
    }
    let mut node = Node::default();
    build(&mut node, root, kind);
    Ok(Projection { kind, root: node })
}

fn build(node: &mut Node, level: Vec<(String, Ast)>, kind: Kind) {
    for (name, ast) in level {
        match ast {
            Ast::Level(sub) => {
                let child = node.child_mut(&name);
                build(child, sub, kind);
                node.computed |= child.computed;
            }
            Ast::Flag(keep) => {
                if keep == (kind == Kind::Inclusion) {
                    node.leaves.push(name);
                }
            }
            Ast::Computed(expr) => node.add_expr(&[name], expr),
        }
    }
}

fn element(
    ctx: &mut Ctx,
    name: &str,
    value: &Bson,
    parent: &mut Vec<(String, Ast)>,
    at_root: bool,
) -> Result<(), CommandError> {
    if name.contains(".$.") || name.ends_with(".$") || name == "$" {
        return Err(CommandError::location(
            31324,
            "Cannot use positional projection in aggregation projection",
        ));
    }
    let top_level_id = at_root && name == "_id";
    match value {
        Bson::Document(sub) => sub_object(ctx, name, sub, parent),
        Bson::Boolean(_)
        | Bson::Int32(_)
        | Bson::Int64(_)
        | Bson::Double(_)
        | Bson::Decimal128(_) => {
            let include = compare::truthy(Some(value));
            let path = field_path(name)?;
            add_at_path(parent, &path, name, Ast::Flag(include))?;
            if top_level_id {
                ctx.id_included_entirely |= include;
                return Ok(());
            }
            let (kind, code, word, other) = if include {
                (Kind::Inclusion, 31253, "inclusion", "exclusion")
            } else {
                (Kind::Exclusion, 31254, "exclusion", "inclusion")
            };
            if ctx.kind.is_some_and(|k| k != kind) {
                return Err(CommandError::location(
                    code,
                    format!("Cannot do {word} on field {name} in {other} projection"),
                ));
            }
            ctx.kind = Some(kind);
            Ok(())
        }
        other => {
            let expr = parse::operand(other, Scope::default())?;
            let path = field_path(name)?;
            add_at_path(parent, &path, name, Ast::Computed(expr))?;
            if ctx.kind == Some(Kind::Exclusion) {
                return Err(CommandError::location(
                    31310,
                    format!(
                        "Cannot use an expression {name}: {} in an exclusion projection",
                        display::value(other)
                    ),
                ));
            }
            ctx.kind = Some(Kind::Inclusion);
            Ok(())
        }
    }
}

/// `{a: {$op: ...}}` (an expression) or `{a: {b: 1}}` (a deeper level).
fn sub_object(
    ctx: &mut Ctx,
    name: &str,
    sub: &Document,
    parent: &mut Vec<(String, Ast)>,
) -> Result<(), CommandError> {
    let path = field_path(name)?;
    if let Some(op) = sub
        .keys()
        .next()
        .filter(|k| sub.len() == 1 && k.starts_with('$'))
    {
        if parse::is_operator(op) {
            if ctx.kind == Some(Kind::Exclusion) {
                return Err(CommandError::location(
                    31252,
                    "Cannot use expression other than $meta in exclusion projection",
                ));
            }
            ctx.kind = Some(Kind::Inclusion);
            let expr = parse::expression(sub, Scope::default())?;
            return add_at_path(parent, &path, name, Ast::Computed(expr));
        }
        if field_path(op).is_err() {
            return Err(CommandError::location(
                31325,
                format!("Unknown expression {op}"),
            ));
        }
    }
    if sub.is_empty() {
        return Err(CommandError::location(
            51270,
            "An empty sub-projection is not a valid value. Found empty object at path",
        ));
    }
    let mut level = parent;
    for part in &path {
        let index = match level.iter().position(|(n, _)| n == part) {
            Some(i) => i,
            None => {
                level.push((part.clone(), Ast::Level(Vec::new())));
                level.len() - 1
            }
        };
        level = match &mut level[index].1 {
            Ast::Level(deeper) => deeper,
            _ => {
                return Err(CommandError::location(
                    31250,
                    format!("Path collision at {name}"),
                ));
            }
        };
    }
    for (field, value) in sub {
        element(ctx, field, value, level, false)?;
    }
    Ok(())
}

/// Adds a node, refusing paths that collide (`a` and `a`, or `a` and `a.b`).
fn add_at_path(
    level: &mut Vec<(String, Ast)>,
    path: &[String],
    full: &str,
    node: Ast,
) -> Result<(), CommandError> {
    let mut level = level;
    for (i, part) in path.iter().enumerate() {
        let existing = level.iter().position(|(n, _)| n == part);
        if i + 1 == path.len() {
            if existing.is_some() {
                return Err(CommandError::location(
                    31250,
                    format!("Path collision at {full}"),
                ));
            }
            level.push((part.clone(), node));
            return Ok(());
        }
        let index = existing.unwrap_or_else(|| {
            level.push((part.clone(), Ast::Level(Vec::new())));
            level.len() - 1
        });
        level = match &mut level[index].1 {
            Ast::Level(deeper) => deeper,
            _ => {
                return Err(CommandError::location(
                    31249,
                    format!(
                        "Path collision at {full} remaining portion {}",
                        path[1..].join(".")
                    ),
                ));
            }
        };
    }
    Ok(())
}

/// `$unset`: a path or an array of paths, removed as `{path: 0}` would.
pub fn unset(spec: &Bson) -> Result<Projection, CommandError> {
    let items = match spec {
        Bson::String(_) => std::slice::from_ref(spec),
        Bson::Array(items) => items.as_slice(),
        _ => {
            return Err(CommandError::location(
                31002,
                "$unset specification must be a string or an array",
            ));
        }
    };
    if items.is_empty() {
        return Err(CommandError::location(
            31119,
            "$unset specification must be a string or an array with at least one field",
        ));
    }
    let pairs = items
        .iter()
        .map(|item| match item {
            Bson::String(path) => Ok((path.clone(), Bson::Int32(0))),
            _ => Err(CommandError::location(
                31120,
                "$unset specification must be a string or an array containing only string values",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    project(&pairs).map_err(|e| e.with_context("Invalid $unset"))
}

/// `$addFields` / `$set`.
pub fn add_fields(spec: &Document) -> Result<Projection, CommandError> {
    let mut seen = Vec::new();
    for (name, value) in spec {
        field_path(name)?;
        validate(spec, &mut seen, value, name.clone())?;
    }
    let mut root = Node::default();
    for (name, value) in spec {
        computed(&mut root, field_path(name)?, value)?;
    }
    Ok(Projection {
        kind: Kind::AddFields,
        root,
    })
}

fn computed(root: &mut Node, path: Vec<String>, value: &Bson) -> Result<(), CommandError> {
    let scope = Scope::default();
    match value {
        Bson::Document(d) if d.keys().next().is_some_and(|k| k.starts_with('$')) => {
            root.add_expr(&path, parse::expression(d, scope)?);
        }
        // `{a: {}}` sets `a` to an empty document.
        Bson::Document(d) if d.is_empty() => root.add_expr(&path, Expr::Object(Vec::new())),
        Bson::Document(d) => {
            for (name, value) in d {
                let mut deeper = path.clone();
                deeper.push(name.clone());
                computed(root, deeper, value)?;
            }
        }
        other => root.add_expr(&path, parse::operand(other, scope)?),
    }
    Ok(())
}

/// The server's `ProjectionSpecValidator`: no two paths may overlap.
fn validate(
    raw: &Document,
    seen: &mut Vec<String>,
    value: &Bson,
    path: String,
) -> Result<(), CommandError> {
    let Bson::Document(sub) = value else {
        return no_conflict(raw, seen, path);
    };
    for (name, value) in sub {
        if name.starts_with('$') {
            if sub.len() != 1 {
                return Err(CommandError::location(
                    40181,
                    format!(
                        "an expression specification must contain exactly one field, the name of the expression. Found {} fields in {}, while parsing object {}",
                        sub.len(),
                        display::document(sub),
                        display::document(raw)
                    ),
                ));
            }
            no_conflict(raw, seen, path.clone())?;
            continue;
        }
        if name.contains('.') {
            return Err(CommandError::location(
                40183,
                format!(
                    "cannot use dotted field name '{name}' in a sub object: {}",
                    display::document(raw)
                ),
            ));
        }
        let deeper = format!("{path}.{name}");
        field_path(&deeper)?;
        validate(raw, seen, value, deeper)?;
    }
    Ok(())
}

fn no_conflict(raw: &Document, seen: &mut Vec<String>, path: String) -> Result<(), CommandError> {
    let prefix_of =
        |a: &str, b: &str| b.len() > a.len() && b.starts_with(a) && b.as_bytes()[a.len()] == b'.';
    if let Some(other) = seen
        .iter()
        .find(|s| **s == path || prefix_of(s, &path) || prefix_of(&path, s.as_str()))
    {
        return Err(CommandError::location(
            40176,
            format!(
                "specification contains two conflicting paths. Cannot specify both '{path}' and '{other}': {}",
                display::document(raw)
            ),
        ));
    }
    seen.push(path);
    Ok(())
}
