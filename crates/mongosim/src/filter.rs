//! Query filters: herald-core's query language (field conditions, `$and`,
//! `$or`, `$nor`, ...) plus `$expr`, which herald refuses in rule filters
//! but the server accepts in every query: `find`, update and delete
//! filters, `findAndModify`, `count`, `$match` of a pipeline and of a
//! change stream.
//!
//! `$expr` holds an aggregation expression, evaluated with
//! [`crate::expr`] against the whole document (`$$ROOT` and `$$CURRENT`
//! are the document); the document matches when the result is truthy
//! (aggregation truthiness: not false, null, missing or zero). As on the
//! server, `$expr` may stand at the top level of a filter or inside
//! top-level `$and`, `$or` and `$nor`; it is parsed and its constant parts
//! folded when the filter is compiled (parse errors, such as 168
//! `InvalidPipelineOperator`, fail the command), and an evaluation error
//! (a `$in` without an array, ...) fails the command that matches.

use crate::error::CommandError;
use crate::expr::parse::{Scope, operand};
use crate::expr::{Expr, Vars, compare};
use bson::{Bson, Document, RawDocumentBuf};

/// A compiled query filter.
#[derive(Debug, Clone)]
pub struct Filter {
    root: Node,
}

/// A filter's tree: `$expr` and the logical operators around it are
/// evaluated here, everything else by herald-core.
#[derive(Debug, Clone)]
enum Node {
    /// A query without `$expr`.
    Query(Box<herald_core::Filter>),
    /// `{$expr: <expression>}`.
    Expr(Expr),
    And(Vec<Node>),
    Or(Vec<Node>),
    Nor(Vec<Node>),
}

impl Filter {
    /// Compiles a filter document.
    pub fn compile(doc: &Document) -> Result<Self, CommandError> {
        Ok(Self { root: node(doc)? })
    }

    /// `{}`: every document.
    pub fn everything() -> Self {
        Self {
            root: Node::Query(Box::new(herald_core::Filter::everything())),
        }
    }

    /// True if `doc` matches; fails if an `$expr` cannot be evaluated on it.
    pub fn matches(&self, doc: &Document) -> Result<bool, CommandError> {
        let mut raw = None;
        self.root.matches(doc, &mut raw)
    }
}

/// True if `$expr` appears at the top level or inside top-level logical operators.
fn mentions_expr(doc: &Document) -> bool {
    doc.iter().any(|(key, value)| match (key.as_str(), value) {
        ("$expr", _) => true,
        ("$and" | "$or" | "$nor", Bson::Array(items)) => items
            .iter()
            .any(|item| matches!(item, Bson::Document(d) if mentions_expr(d))),
        _ => false,
    })
}

fn query(doc: &Document) -> Result<Node, CommandError> {
    herald_core::Filter::compile(doc)
        .map(|f| Node::Query(Box::new(f)))
        .map_err(|e| CommandError::bad_value(e.to_string()))
}

fn node(doc: &Document) -> Result<Node, CommandError> {
    if !mentions_expr(doc) {
        return query(doc);
    }
    let mut all = Vec::with_capacity(doc.len());
    for (key, value) in doc {
        match key.as_str() {
            "$expr" => all.push(Node::Expr(operand(value, Scope::default())?.optimize()?)),
            "$and" | "$or" | "$nor" => {
                let Bson::Array(items) = value else {
                    return Err(CommandError::bad_value(format!("{key} must be an array")));
                };
                if items.is_empty() {
                    return Err(CommandError::bad_value(
                        "$and/$or/$nor must be a nonempty array",
                    ));
                }
                let branches = items
                    .iter()
                    .map(|item| match item {
                        Bson::Document(d) => node(d),
                        _ => Err(CommandError::bad_value(
                            "$and/$or/$nor entries need to be full objects",
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                all.push(match key.as_str() {
                    "$and" => Node::And(branches),
                    "$or" => Node::Or(branches),
                    _ => Node::Nor(branches),
                });
            }
            "$comment" => {}
            _ => {
                let mut one = Document::new();
                one.insert(key.clone(), value.clone());
                all.push(query(&one)?);
            }
        }
    }
    Ok(Node::And(all))
}

impl Node {
    /// `raw` is the document as raw BSON, made once on first need.
    fn matches(
        &self,
        doc: &Document,
        raw: &mut Option<RawDocumentBuf>,
    ) -> Result<bool, CommandError> {
        Ok(match self {
            Node::Query(filter) => {
                if raw.is_none() {
                    *raw = Some(
                        RawDocumentBuf::from_document(doc)
                            .map_err(|e| CommandError::bad_value(e.to_string()))?,
                    );
                }
                filter.matches(raw.as_ref().expect("made above"))
            }
            Node::Expr(expr) => compare::truthy(expr.eval(&Vars::root(doc))?.as_ref()),
            Node::And(all) => {
                for n in all {
                    if !n.matches(doc, raw)? {
                        return Ok(false);
                    }
                }
                true
            }
            Node::Or(any) => {
                for n in any {
                    if n.matches(doc, raw)? {
                        return Ok(true);
                    }
                }
                false
            }
            Node::Nor(none) => {
                for n in none {
                    if n.matches(doc, raw)? {
                        return Ok(false);
                    }
                }
                true
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn matches(filter: Document, doc: Document) -> bool {
        Filter::compile(&filter).unwrap().matches(&doc).unwrap()
    }

    #[test]
    fn expr_compares_fields_of_the_same_document() {
        let d = doc! {"_id": 1, "spent": 120, "budget": 100, "tags": ["a"]};
        assert!(matches(
            doc! {"$expr": {"$gt": ["$spent", "$budget"]}},
            d.clone()
        ));
        assert!(!matches(
            doc! {"$expr": {"$lt": ["$spent", "$budget"]}},
            d.clone()
        ));
        // Mixed with field conditions, and inside $or / $nor.
        assert!(matches(
            doc! {"_id": 1, "$expr": {"$eq": ["$$ROOT._id", 1]}},
            d.clone()
        ));
        assert!(!matches(
            doc! {"_id": 2, "$expr": {"$eq": ["$_id", 1]}},
            d.clone()
        ));
        assert!(matches(
            doc! {"$or": [{"_id": 5}, {"$expr": {"$in": ["a", "$tags"]}}]},
            d.clone()
        ));
        assert!(!matches(
            doc! {"$nor": [{"$expr": {"$ifNull": ["$missing", true]}}]},
            d.clone()
        ));
        // Aggregation semantics: no array traversal, truthiness of the result.
        assert!(!matches(doc! {"$expr": {"$eq": ["$tags", "a"]}}, d.clone()));
        assert!(matches(doc! {"$expr": "$spent"}, d.clone()));
        assert!(!matches(doc! {"$expr": "$missing"}, d.clone()));
        assert!(matches(
            doc! {"$expr": {"$cond": [{"$not": ["$missing"]}, 1, 0]}},
            d
        ));
    }

    #[test]
    fn expr_errors_are_the_servers() {
        let e = Filter::compile(&doc! {"$expr": {"$frobnicate": 1}}).unwrap_err();
        assert_eq!(e.code, 168);
        let f = Filter::compile(&doc! {"$expr": {"$in": [1, "$notArray"]}}).unwrap();
        assert_eq!(f.matches(&doc! {"notArray": 3}).unwrap_err().code, 40081);
        // A constant error surfaces when the filter is compiled.
        assert_eq!(
            Filter::compile(&doc! {"$expr": {"$in": [1, 2]}})
                .unwrap_err()
                .code,
            40081
        );
    }
}
