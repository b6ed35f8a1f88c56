//! The channels and webhooks a rule names, found in its compiled script.
//!
//! `notify("approvals", ..)` and `webhook("crm", ..)` with a literal name can
//! be checked against the configuration before any event arrives, so a typo
//! is an error at load (with `file:line:col`) instead of effects that go
//! nowhere. Names computed at run time cannot be checked here; with a
//! configuration, an unknown one fails its event at run time instead.

use rhai::{AST, ASTNode, Expr, Stmt};

/// Which builtin names a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// `notify(channel, ..)`: a `[channels.NAME]` of the configuration.
    Notify,
    /// `webhook(name, ..)`: a `[webhooks.NAME]` of the configuration.
    Webhook,
}

impl TargetKind {
    /// The builtin's name.
    pub fn builtin(self) -> &'static str {
        match self {
            Self::Notify => "notify",
            Self::Webhook => "webhook",
        }
    }
}

/// A literal channel or webhook name in a rule, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedTarget {
    /// `notify` or `webhook`.
    pub kind: TargetKind,
    /// The name.
    pub name: String,
    /// 1-based line of the call.
    pub line: usize,
    /// 1-based column of the call.
    pub column: usize,
}

/// Every `notify`/`webhook` call with a literal first argument, in source order.
///
/// ```
/// use herald_script::targets::{named_targets, TargetKind};
/// let engine = herald_script::sandbox::engine();
/// let ast = engine.compile("fn handle(e) { notify(\"ops\", #{}); let w = \"crm\"; webhook(w, #{}); }").unwrap();
/// let found = named_targets(&ast);
/// assert_eq!(found.len(), 1);
/// assert_eq!((found[0].kind, found[0].name.as_str()), (TargetKind::Notify, "ops"));
/// ```
pub fn named_targets(ast: &AST) -> Vec<NamedTarget> {
    let mut found = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        // A call is an expression, or a statement when its value is unused.
        let call = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, position))) => Some((call, position)),
            Some(ASTNode::Stmt(Stmt::FnCall(call, position))) => Some((call, position)),
            _ => None,
        };
        if let Some((call, position)) = call {
            let kind = match call.name.as_str() {
                "notify" => Some(TargetKind::Notify),
                "webhook" => Some(TargetKind::Webhook),
                _ => None,
            };
            if let (Some(kind), Some(Expr::StringConstant(name, _))) = (kind, call.args.first())
                && call.namespace.is_empty()
            {
                found.push(NamedTarget {
                    kind,
                    name: name.to_string(),
                    line: position.line().unwrap_or(0),
                    column: position.position().unwrap_or(0),
                });
            }
        }
        true
    });
    found.sort_by_key(|t| (t.line, t.column));
    found
}
