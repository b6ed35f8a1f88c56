//! `$project`, `$unset` and `$addFields`/`$set` as the server runs them:
//! a tree of fields (the server's `ProjectionNode`) applied to each event.
//!
//! Paths go through arrays: `{"a.b": 0}` removes `b` from every document
//! in the array `a` (arrays inside it too); an inclusion keeps only the
//! documents' `b` and drops other elements; a computed `a.b` is set in
//! every element, a non-document element becoming `{b: ...}`. Fields keep
//! the input's order; new ones come after, in the order they were given.
//!
//! - [`parse`]: the stages' specifications, with the server's errors.

pub mod parse;

use crate::error::CommandError;
use crate::expr::{Expr, Vars};
use bson::{Bson, Document};

/// What a projection does with the fields it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `$project` keeping the named fields (and computing others).
    Inclusion,
    /// `$project` / `$unset` removing the named fields.
    Exclusion,
    /// `$addFields` / `$set`: computed fields added to the event.
    AddFields,
}

/// A parsed `$project`, `$unset` or `$addFields`.
#[derive(Debug, Clone)]
pub struct Projection {
    kind: Kind,
    root: Node,
}

/// One level of the tree.
#[derive(Debug, Clone, Default)]
struct Node {
    /// Fields kept (inclusion) or removed (exclusion) at this level.
    leaves: Vec<String>,
    /// Deeper levels.
    children: Vec<(String, Node)>,
    /// Computed fields.
    exprs: Vec<(String, Expr)>,
    /// Children and computed fields, in the order they were first named.
    order: Vec<String>,
    /// True if this level or a deeper one computes a field.
    computed: bool,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c)
    }

    fn child_mut(&mut self, name: &str) -> &mut Node {
        let index = match self.children.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.order.push(name.to_owned());
                self.children.push((name.to_owned(), Node::default()));
                self.children.len() - 1
            }
        };
        &mut self.children[index].1
    }

    fn add_expr(&mut self, path: &[String], expr: Expr) {
        self.computed = true;
        match path {
            [name] => {
                self.order.push(name.clone());
                self.exprs.push((name.clone(), expr));
            }
            [first, rest @ ..] => self.child_mut(first).add_expr(rest, expr),
            [] => {}
        }
    }

    fn optimize(self) -> Result<Self, CommandError> {
        Ok(Self {
            children: self
                .children
                .into_iter()
                .map(|(n, c)| Ok((n, c.optimize()?)))
                .collect::<Result<_, CommandError>>()?,
            exprs: self
                .exprs
                .into_iter()
                .map(|(n, e)| Ok((n, e.optimize()?)))
                .collect::<Result<_, CommandError>>()?,
            ..self
        })
    }
}

/// A value being built: like the server's, it may be *missing*, which
/// keeps its place in a document or an array until the result is written.
#[derive(Debug, Clone)]
enum Val {
    Missing,
    Leaf(Bson),
    Doc(Vec<(String, Val)>),
    Arr(Vec<Val>),
}

impl Val {
    fn from_document(doc: &Document) -> Vec<(String, Val)> {
        doc.iter()
            .map(|(k, v)| (k.clone(), Val::Leaf(v.clone())))
            .collect()
    }

    fn into_bson(self) -> Option<Bson> {
        match self {
            Val::Missing => None,
            Val::Leaf(v) => Some(v),
            Val::Doc(fields) => Some(Bson::Document(into_document(fields))),
            Val::Arr(items) => Some(Bson::Array(
                items.into_iter().filter_map(Val::into_bson).collect(),
            )),
        }
    }
}

fn into_document(fields: Vec<(String, Val)>) -> Document {
    fields
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.into_bson()?)))
        .collect()
}

/// Sets a field in place, or appends it.
fn set(fields: &mut Vec<(String, Val)>, name: &str, value: Val) {
    match fields.iter_mut().find(|(k, _)| k == name) {
        Some((_, slot)) => *slot = value,
        None => fields.push((name.to_owned(), value)),
    }
}

/// Takes a field's value out (missing if absent), leaving its place.
fn take(fields: &mut [(String, Val)], name: &str) -> Val {
    fields
        .iter_mut()
        .find(|(k, _)| k == name)
        .map_or(Val::Missing, |(_, v)| std::mem::replace(v, Val::Missing))
}

impl Projection {
    /// Folds constant expressions (see [`Expr::optimize`]).
    pub fn optimize(self) -> Result<Self, CommandError> {
        Ok(Self {
            kind: self.kind,
            root: self.root.optimize()?,
        })
    }

    /// Applies the stage to an event.
    pub fn apply(&self, event: &Document) -> Result<Document, CommandError> {
        let vars = Vars::root(event);
        let fields = match self.kind {
            Kind::Exclusion => self.project_doc(&self.root, event),
            Kind::Inclusion => {
                let mut out = self.project_doc(&self.root, event);
                if self.root.computed {
                    self.compute_doc(&self.root, &vars, &mut out)?;
                }
                out
            }
            Kind::AddFields => {
                let mut out = Val::from_document(event);
                self.compute_doc(&self.root, &vars, &mut out)?;
                out
            }
        };
        Ok(into_document(fields))
    }

    /// What a value the projection does not reach becomes.
    fn skipped(&self, value: Val) -> Val {
        match self.kind {
            Kind::Exclusion => value,
            Kind::Inclusion | Kind::AddFields => Val::Missing,
        }
    }

    fn project_doc(&self, node: &Node, doc: &Document) -> Vec<(String, Val)> {
        let mut out = match self.kind {
            Kind::Inclusion => Vec::new(),
            // Only inclusions and exclusions project (an $addFields only computes).
            Kind::Exclusion | Kind::AddFields => Val::from_document(doc),
        };
        for (name, value) in doc {
            if node.leaves.contains(name) {
                let kept = match self.kind {
                    Kind::Exclusion => Val::Missing,
                    Kind::Inclusion | Kind::AddFields => Val::Leaf(value.clone()),
                };
                set(&mut out, name, kept);
            } else if let Some(child) = node.child(name) {
                set(&mut out, name, self.project_value(child, value));
            }
        }
        out
    }

    fn project_value(&self, node: &Node, value: &Bson) -> Val {
        match value {
            Bson::Document(d) => Val::Doc(self.project_doc(node, d)),
            Bson::Array(items) => Val::Arr(
                items
                    .iter()
                    .map(|item| self.project_value(node, item))
                    .collect(),
            ),
            other => self.skipped(Val::Leaf(other.clone())),
        }
    }

    fn compute_doc(
        &self,
        node: &Node,
        vars: &Vars<'_>,
        out: &mut Vec<(String, Val)>,
    ) -> Result<(), CommandError> {
        for name in &node.order {
            let value = match node.child(name) {
                Some(child) => {
                    let current = take(out, name);
                    self.compute_value(child, vars, current)?
                }
                None => {
                    let (_, expr) = node
                        .exprs
                        .iter()
                        .find(|(n, _)| n == name)
                        .expect("every ordered name is a child or an expression");
                    expr.eval(vars)?.map_or(Val::Missing, Val::Leaf)
                }
            };
            set(out, name, value);
        }
        Ok(())
    }

    fn compute_value(&self, node: &Node, vars: &Vars<'_>, value: Val) -> Result<Val, CommandError> {
        Ok(match value {
            Val::Doc(mut fields) => {
                self.compute_doc(node, vars, &mut fields)?;
                Val::Doc(fields)
            }
            Val::Leaf(Bson::Document(d)) => {
                let mut fields = Val::from_document(&d);
                self.compute_doc(node, vars, &mut fields)?;
                Val::Doc(fields)
            }
            Val::Arr(items) => Val::Arr(
                items
                    .into_iter()
                    .map(|item| self.compute_value(node, vars, item))
                    .collect::<Result<_, _>>()?,
            ),
            Val::Leaf(Bson::Array(items)) => Val::Arr(
                items
                    .into_iter()
                    .map(|item| self.compute_value(node, vars, Val::Leaf(item)))
                    .collect::<Result<_, _>>()?,
            ),
            // A computed `a.b` replaces a scalar (or missing) `a` with `{b: ...}`.
            _ if node.computed => {
                let mut fields = Vec::new();
                self.compute_doc(node, vars, &mut fields)?;
                Val::Doc(fields)
            }
            other => self.skipped(other),
        })
    }
}

#[cfg(test)]
mod tests;
