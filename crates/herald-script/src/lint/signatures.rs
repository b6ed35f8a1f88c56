//! Calls to herald's builtins with the wrong number or type of arguments.
//!
//! Rhai picks a function by name, argument count and argument types when the
//! call runs, so `set_state("k")` or `notify(42, #{})` compile and fail every
//! event. Each call to one of [`crate::intents::BUILTINS`] or
//! [`VALUE_BUILTINS`] is compared here
//! with the signatures the engine has registered under that name: the
//! registration is the table, so the check cannot drift from it. The count
//! is always checked; a type only where the argument is a literal (a
//! variable's type is known at run time only). A literal log level must be
//! one `log` accepts.

use super::Found;
use rhai::{AST, ASTNode, Array, Dynamic, Engine, Expr, FnCallExpr, ImmutableString, Map, Stmt};
use std::any::TypeId;
use std::collections::HashMap;

/// herald's builtins besides the intents: `require` ([`crate::event_view`]),
/// `date` and `date_from_millis` ([`crate::values`]).
pub const VALUE_BUILTINS: [&str; 3] = ["require", "date", "date_from_millis"];

/// True for the builtins whose calls are checked.
fn checked(name: &str) -> bool {
    crate::intents::BUILTINS.contains(&name) || VALUE_BUILTINS.contains(&name)
}

/// The parameter types of each overload of each builtin, from the engine.
type Signatures = HashMap<String, Vec<Vec<TypeId>>>;

fn signatures(engine: &Engine) -> Signatures {
    let mut found: Signatures = HashMap::new();
    let overloads = engine.collect_fn_metadata(
        None,
        |info| {
            let name = info.metadata.name.as_str();
            (info.script.is_none() && checked(name))
                .then(|| (name.to_owned(), info.metadata.param_types.to_vec()))
        },
        false,
    );
    for (name, params) in overloads {
        let entry = found.entry(name).or_default();
        if !entry.contains(&params) {
            entry.push(params);
        }
    }
    for overloads in found.values_mut() {
        // By count, then by type names: the engine's order is a hash's.
        overloads.sort_by_key(|types| (types.len(), params(types)));
    }
    found
}

/// A type as a rule's author knows it.
fn type_name(id: TypeId) -> &'static str {
    if id == TypeId::of::<Dynamic>() {
        "any value"
    } else if id == TypeId::of::<ImmutableString>() {
        "string"
    } else if id == TypeId::of::<crate::event_view::EventView>() {
        "document"
    } else if id == TypeId::of::<Map>() {
        "map"
    } else if id == TypeId::of::<Array>() {
        "array"
    } else if id == TypeId::of::<rhai::INT>() {
        "int"
    } else if id == TypeId::of::<rhai::FLOAT>() {
        "float"
    } else if id == TypeId::of::<bool>() {
        "bool"
    } else if id == TypeId::of::<char>() {
        "char"
    } else if id == TypeId::of::<()>() {
        "()"
    } else {
        "value"
    }
}

/// A type with its article: "an int", "a map".
fn a_type(id: TypeId) -> String {
    match type_name(id) {
        "()" => "()".to_owned(),
        name if name.starts_with(['a', 'e', 'i', 'o', 'u']) => format!("an {name}"),
        name => format!("a {name}"),
    }
}

/// The type of a literal argument; `None` when only the run knows it.
fn literal_type(arg: &Expr) -> Option<TypeId> {
    Some(match arg {
        Expr::StringConstant(..) | Expr::InterpolatedString(..) => TypeId::of::<ImmutableString>(),
        Expr::IntegerConstant(..) => TypeId::of::<rhai::INT>(),
        Expr::FloatConstant(..) => TypeId::of::<rhai::FLOAT>(),
        Expr::BoolConstant(..) => TypeId::of::<bool>(),
        Expr::CharConstant(..) => TypeId::of::<char>(),
        Expr::Unit(..) => TypeId::of::<()>(),
        Expr::Array(..) => TypeId::of::<Array>(),
        Expr::Map(..) => TypeId::of::<Map>(),
        Expr::DynamicConstant(value, _) => value.type_id(),
        _ => return None,
    })
}

/// `(string, map)`.
fn params(types: &[TypeId]) -> String {
    let names: Vec<&str> = types.iter().map(|t| type_name(*t)).collect();
    format!("({})", names.join(", "))
}

/// `2 arguments (string, map)`, or several joined with "or".
fn accepted(overloads: &[Vec<TypeId>]) -> String {
    let mut each: Vec<String> = Vec::new();
    for types in overloads {
        let s = if types.len() == 1 { "" } else { "s" };
        let one = format!("{} argument{s} {}", types.len(), params(types));
        if !each.contains(&one) {
            each.push(one);
        }
    }
    each.join(" or ")
}

/// What is wrong with one call, if anything.
fn check_call(call: &FnCallExpr, overloads: &[Vec<TypeId>]) -> Option<String> {
    let name = call.name.as_str();
    let given = call.args.len();
    let same_count: Vec<&Vec<TypeId>> = overloads.iter().filter(|o| o.len() == given).collect();
    if same_count.is_empty() {
        return Some(format!(
            "`{name}` takes {}, given {given}",
            accepted(overloads)
        ));
    }
    for (i, arg) in call.args.iter().enumerate() {
        let Some(literal) = literal_type(arg) else {
            continue;
        };
        let fits = same_count
            .iter()
            .any(|o| o[i] == literal || o[i] == TypeId::of::<Dynamic>());
        if !fits {
            let takes: Vec<String> = same_count.iter().map(|o| params(o)).collect();
            return Some(format!(
                "argument {} of `{name}` is {}, but `{name}` takes {}",
                i + 1,
                a_type(literal),
                takes.join(" or ")
            ));
        }
    }
    if name == "log"
        && given == 2
        && let Some(Expr::StringConstant(level, _)) = call.args.first()
        && let Err(why) = crate::intents::log_level(level)
    {
        return Some(why);
    }
    None
}

/// Every call in `ast` to a builtin of `engine` whose arguments no
/// registered signature takes, or whose literal log level is unknown, in
/// source order. A function the file defines under a builtin's name is
/// called instead of the builtin for its own number of arguments, so those
/// calls are left alone.
///
/// ```
/// let engine = herald_script::sandbox::engine();
/// let ast = engine.compile("fn handle(e) { set_state(\"k\"); notify(42, #{}); }").unwrap();
/// let found = herald_script::lint::builtin_misuse(&engine, &ast);
/// assert_eq!(found[0].message, "`set_state` takes 2 arguments (string, any value), given 1");
/// assert_eq!(found[1].message, "argument 1 of `notify` is an int, but `notify` takes (string, map)");
/// ```
pub fn builtin_misuse(engine: &Engine, ast: &AST) -> Vec<Found> {
    let signatures = signatures(engine);
    let defined: Vec<(&str, usize)> = ast
        .iter_functions()
        .map(|f| (f.name, f.params.len()))
        .collect();
    let mut found = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        let (call, position) = match path.last() {
            Some(ASTNode::Expr(Expr::FnCall(call, position)))
            | Some(ASTNode::Stmt(Stmt::FnCall(call, position))) => (call, position),
            _ => return true,
        };
        let name = call.name.as_str();
        if !call.namespace.is_empty() || defined.contains(&(name, call.args.len())) {
            return true;
        }
        if let Some(overloads) = signatures.get(name)
            && let Some(message) = check_call(call, overloads)
        {
            found.push(Found::at(*position, message));
        }
        true
    });
    found.sort_by_key(|f| (f.line, f.column));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn misuse(body: &str) -> Vec<String> {
        let engine = crate::sandbox::engine();
        let source = format!("fn handle(event) {{\n{body}\n}}");
        let ast = engine.compile(&source).unwrap();
        builtin_misuse(&engine, &ast)
            .into_iter()
            .map(|f| format!("{}:{}: {}", f.line, f.column, f.message))
            .collect()
    }

    #[test]
    fn right_calls_pass() {
        let body = r#"
    let m = #{ a: 1 };
    let c = "ops";
    notify(c, m);
    notify("ops", #{ a: event.x });
    notify("ops", #{ a: 1, b: [1, "x"], c: #{ d: () } });
    set_state("k" + "1", 1.5);
    webhook(`crm-${1}`, m);
    insert_doc("a.b", #{});
    log("info", 42);
    log("warning", "x");
    log(c, "x");
    log(42);
    set_state("k", [1, 2]);
    del_state("k");
    let v = get_state(c);"#;
        assert_eq!(misuse(body), Vec::<String>::new());
    }

    #[test]
    fn wrong_counts_name_what_the_builtin_takes() {
        assert_eq!(
            misuse("    set_state(\"k\");\n    log(\"info\", \"a\", \"b\");\n    notify(\"x\");"),
            vec![
                "2:5: `set_state` takes 2 arguments (string, any value), given 1",
                "3:5: `log` takes 1 argument (any value) or 2 arguments (string, any value), given 3",
                "4:5: `notify` takes 2 arguments (string, map), given 1",
            ]
        );
    }

    #[test]
    fn literals_of_the_wrong_type_are_refused() {
        assert_eq!(
            misuse(
                "    notify(42, #{});\n    webhook(\"w\", \"text\");\n    let x = get_state(#{});"
            ),
            vec![
                "2:5: argument 1 of `notify` is an int, but `notify` takes (string, map)",
                "3:5: argument 2 of `webhook` is a string, but `webhook` takes (string, map)",
                "4:13: argument 1 of `get_state` is a map, but `get_state` takes (string)",
            ]
        );
    }

    #[test]
    fn value_builtins_are_registered_and_checked() {
        let engine = crate::sandbox::engine();
        for name in VALUE_BUILTINS {
            assert!(signatures(&engine).contains_key(name), "{name}");
        }
        assert_eq!(
            misuse(
                "    let d = date(5);\n    let r = require(\"x\", \"a\");\n    let m = require(#{ a: 1 }, \"a\");\n    let n = date_from_millis();"
            ),
            vec![
                "2:13: argument 1 of `date` is an int, but `date` takes (string)",
                "3:13: argument 1 of `require` is a string, but `require` takes (array, string) or (document, string) or (map, string)",
                "5:13: `date_from_millis` takes 1 argument (int), given 0",
            ]
        );
    }

    #[test]
    fn literal_log_levels_must_be_known() {
        assert_eq!(
            misuse("    log(\"verbose\", \"x\");\n    log(\"verbose\");"),
            vec!["2:5: unknown log level \"verbose\"; use debug, info, warn or error"]
        );
    }

    #[test]
    fn a_function_of_the_file_under_a_builtins_name_is_its_own() {
        let engine = crate::sandbox::engine();
        let ast = engine
            .compile("fn notify(x) { x }\nfn handle(event) { notify(1); notify(1, 2, 3); }")
            .unwrap();
        let found = builtin_misuse(&engine, &ast);
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("given 3"), "{}", found[0].message);
    }
}
