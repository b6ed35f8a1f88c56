//! Expressions from BSON, with the server's parse errors (they fail the
//! `aggregate` that opens the stream, as on the server).

use super::{Cmp, Expr, Var};
use crate::error::CommandError;
use crate::indexes::display;
use bson::{Bson, Document};

/// Which variables exist where an expression is parsed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope {
    /// Inside `$redact`: `$$KEEP`, `$$PRUNE` and `$$DESCEND` exist.
    pub redact: bool,
}

/// The operators mongosim evaluates.
const OPERATORS: [&str; 15] = [
    "$literal", "$const", "$cond", "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$cmp", "$and",
    "$or", "$not", "$in", "$ifNull",
];

/// `$`-prefixed names a field path may still contain (DBRefs, metadata).
const ALLOWED_DOLLAR_FIELDS: [&str; 7] = [
    "$id",
    "$ref",
    "$db",
    "$sortKey",
    "$recordId",
    "$searchSortValues",
    "$searchScore",
];

/// The most components a field path may have (the server's BSON depth limit).
const MAX_PATH_LENGTH: usize = 200;

/// True for an operator name mongosim evaluates.
pub fn is_operator(name: &str) -> bool {
    OPERATORS.contains(&name)
}

/// Any value in an expression position: a field path string, an object,
/// an array of expressions, or a constant.
pub fn operand(value: &Bson, scope: Scope) -> Result<Expr, CommandError> {
    Ok(match value {
        Bson::String(s) if s.starts_with('$') => field_path_expression(s, scope)?,
        Bson::Document(d) => object(d, scope)?,
        Bson::Array(items) => Expr::Array(
            items
                .iter()
                .map(|item| operand(item, scope))
                .collect::<Result<_, _>>()?,
        ),
        other => Expr::Constant(Some(other.clone())),
    })
}

/// An object: `{}`, an operator (`{$eq: [...]}`), or fields of expressions.
pub fn object(doc: &Document, scope: Scope) -> Result<Expr, CommandError> {
    match doc.keys().next() {
        None => Ok(Expr::Object(Vec::new())),
        Some(first) if first.starts_with('$') => expression(doc, scope),
        Some(_) => doc
            .iter()
            .map(|(name, value)| {
                check_field_name(name)?;
                Ok((name.clone(), operand(value, scope)?))
            })
            .collect::<Result<_, _>>()
            .map(Expr::Object),
    }
}

/// `{$operator: arguments}`.
pub fn expression(doc: &Document, scope: Scope) -> Result<Expr, CommandError> {
    let Some((name, arg)) = doc.iter().next().filter(|_| doc.len() == 1) else {
        return Err(CommandError::location(
            15983,
            format!(
                "An object representing an expression must have exactly one field: {}",
                display::document(doc)
            ),
        ));
    };
    let cmp = |op| -> Result<Expr, CommandError> {
        Ok(Expr::Compare(op, Box::new(fixed::<2>(name, arg, scope)?)))
    };
    match name.as_str() {
        "$literal" | "$const" => Ok(Expr::Constant(Some(arg.clone()))),
        "$cond" => cond(arg, scope),
        "$eq" => cmp(Cmp::Eq),
        "$ne" => cmp(Cmp::Ne),
        "$gt" => cmp(Cmp::Gt),
        "$gte" => cmp(Cmp::Gte),
        "$lt" => cmp(Cmp::Lt),
        "$lte" => cmp(Cmp::Lte),
        "$cmp" => cmp(Cmp::Cmp),
        "$and" => Ok(Expr::And(arguments(arg, scope)?)),
        "$or" => Ok(Expr::Or(arguments(arg, scope)?)),
        "$not" => {
            let [e] = fixed::<1>(name, arg, scope)?;
            Ok(Expr::Not(Box::new(e)))
        }
        "$in" => Ok(Expr::In(Box::new(fixed::<2>(name, arg, scope)?))),
        "$toHashedIndexKey" => Ok(Expr::HashedIndexKey(Box::new(operand(arg, scope)?))),
        "$ifNull" => {
            let args = arguments(arg, scope)?;
            if args.len() < 2 {
                return Err(CommandError::location(
                    1257300,
                    format!("$ifNull needs at least two arguments, had: {}", args.len()),
                ));
            }
            Ok(Expr::IfNull(args))
        }
        _ => Err(CommandError::new(
            168,
            "InvalidPipelineOperator",
            format!("Unrecognized expression '{name}'"),
        )),
    }
}

/// An operator's arguments: the elements of an array, or one argument.
fn arguments(arg: &Bson, scope: Scope) -> Result<Vec<Expr>, CommandError> {
    match arg {
        Bson::Array(items) => items.iter().map(|item| operand(item, scope)).collect(),
        other => Ok(vec![operand(other, scope)?]),
    }
}

fn fixed<const N: usize>(name: &str, arg: &Bson, scope: Scope) -> Result<[Expr; N], CommandError> {
    let args = arguments(arg, scope)?;
    let count = args.len();
    args.try_into().map_err(|_| {
        CommandError::location(
            16020,
            format!("Expression {name} takes exactly {N} arguments. {count} were passed in."),
        )
    })
}

/// `$cond`: `{if, then, else}` or `[if, then, else]`.
fn cond(arg: &Bson, scope: Scope) -> Result<Expr, CommandError> {
    let Bson::Document(parts) = arg else {
        return Ok(Expr::Cond(Box::new(fixed::<3>("$cond", arg, scope)?)));
    };
    let mut found: [Option<Expr>; 3] = [None, None, None];
    for (name, value) in parts {
        let slot = match name.as_str() {
            "if" => 0,
            "then" => 1,
            "else" => 2,
            _ => {
                return Err(CommandError::location(
                    17083,
                    format!("Unrecognized parameter to $cond: {name}"),
                ));
            }
        };
        found[slot] = Some(operand(value, scope)?);
    }
    let [test, then, otherwise] = found;
    let missing =
        |code, part| CommandError::location(code, format!("Missing '{part}' parameter to $cond"));
    Ok(Expr::Cond(Box::new([
        test.ok_or_else(|| missing(17080, "if"))?,
        then.ok_or_else(|| missing(17081, "then"))?,
        otherwise.ok_or_else(|| missing(17082, "else"))?,
    ])))
}

/// `"$a.b"`, `"$$ROOT.a"`, `"$$CURRENT"`, ...
fn field_path_expression(raw: &str, scope: Scope) -> Result<Expr, CommandError> {
    if raw.len() < 2 {
        return Err(CommandError::location(
            16872,
            "'$' by itself is not a valid FieldPath",
        ));
    }
    let (var, path) = match raw.strip_prefix("$$") {
        Some(rest) => {
            let name = rest.split('.').next().unwrap_or_default();
            check_variable_name(name)?;
            (variable(name, scope)?, rest.to_owned())
        }
        None => (Var::Current, format!("CURRENT.{}", &raw[1..])),
    };
    let mut fields = field_path(&path)?;
    fields.remove(0);
    Ok(Expr::Path { var, fields })
}

fn variable(name: &str, scope: Scope) -> Result<Var, CommandError> {
    Ok(match name {
        "ROOT" => Var::Root,
        "CURRENT" => Var::Current,
        "REMOVE" => Var::Remove,
        "KEEP" if scope.redact => Var::Redact("keep"),
        "PRUNE" if scope.redact => Var::Redact("prune"),
        "DESCEND" if scope.redact => Var::Redact("descend"),
        "NOW" | "CLUSTER_TIME" | "USER_ROLES" | "SEARCH_META" | "JS_SCOPE" | "IS_MR" => {
            return Err(CommandError::location(
                31325,
                format!("mongosim does not evaluate $${name} (a real server does)"),
            ));
        }
        _ => {
            return Err(CommandError::location(
                17276,
                format!("Use of undefined variable: {name}"),
            ));
        }
    })
}

/// A variable name as the server accepts it for reading.
fn check_variable_name(name: &str) -> Result<(), CommandError> {
    let bytes = name.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return Err(CommandError::failed_to_parse(
            "empty variable names are not allowed",
        ));
    };
    if !(first.is_ascii_alphabetic() || first >= 0x80) {
        return Err(CommandError::failed_to_parse(format!(
            "'{name}' starts with an invalid character for a user variable name"
        )));
    }
    if let Some(&bad) = rest
        .iter()
        .find(|&&b| !(b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80))
    {
        return Err(CommandError::failed_to_parse(format!(
            "'{name}' contains an invalid character for a variable name: '{}'",
            bad as char
        )));
    }
    Ok(())
}

/// The components of a dotted path, validated as the server's `FieldPath`.
pub fn field_path(path: &str) -> Result<Vec<String>, CommandError> {
    if path.is_empty() {
        return Err(CommandError::location(
            40352,
            "FieldPath cannot be constructed with empty string",
        ));
    }
    if path.ends_with('.') {
        return Err(CommandError::location(
            40353,
            "FieldPath must not end with a '.'.",
        ));
    }
    let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
    if parts.len() > MAX_PATH_LENGTH {
        return Err(CommandError::new(45, "Overflow", "FieldPath is too long"));
    }
    for part in &parts {
        check_field_name(part)?;
    }
    Ok(parts)
}

/// One field name, as the server's `FieldPath::uassertValidFieldName`.
pub fn check_field_name(name: &str) -> Result<(), CommandError> {
    const HINT: &str = " Consider using $getField or $setField.";
    if name.is_empty() {
        return Err(CommandError::location(
            15998,
            "FieldPath field names may not be empty strings.",
        ));
    }
    if name.starts_with('$') && !ALLOWED_DOLLAR_FIELDS.contains(&name) {
        return Err(CommandError::location(
            16410,
            format!("FieldPath field names may not start with '$'.{HINT}"),
        ));
    }
    if name.contains('\0') {
        // The server's message is a C string that ends at its own '\0'.
        return Err(CommandError::location(
            16411,
            "FieldPath field names may not contain '",
        ));
    }
    if name.contains('.') {
        return Err(CommandError::location(
            16412,
            format!("FieldPath field names may not contain '.'.{HINT}"),
        ));
    }
    Ok(())
}
