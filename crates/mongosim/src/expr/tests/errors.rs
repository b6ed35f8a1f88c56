//! Errors (when evaluating and when parsing), folding, messages.

use super::*;
use bson::doc;

#[test]
fn in_needs_an_array_when_evaluated() {
    let e = eval(bson::bson!({"$in": ["a", "$tags"]}), &doc! {"tags": "a,b"}).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            40081,
            "$in requires an array as a second argument, found: string"
        )
    );
    let e = eval(bson::bson!({"$in": ["a", "$tags"]}), &doc! {}).unwrap_err();
    assert_eq!(
        e.message,
        "$in requires an array as a second argument, found: missing"
    );
}

#[test]
fn constant_parts_are_folded_before_any_document() {
    // Folding evaluates: a constant $in fails before any document is read.
    assert_eq!(error(bson::bson!({"$in": [1, "x"]})).0, 40081);
    // Constants are gathered at the end of $and/$or, and a deciding one decides.
    let folded = |e: Bson| operand(&e, Scope::default()).unwrap().optimize().unwrap();
    assert!(matches!(
        folded(bson::bson!({"$and": [{"$in": ["$a", "$b"]}, false]})),
        Expr::Constant(Some(Bson::Boolean(false)))
    ));
    assert!(matches!(
        folded(bson::bson!({"$or": [true, "$a"]})),
        Expr::Constant(Some(Bson::Boolean(true)))
    ));
    assert!(matches!(
        folded(bson::bson!({"$and": ["$a", 1]})),
        Expr::CoerceToBool(_)
    ));
    assert!(matches!(
        folded(bson::bson!({"$cond": [1, "$a", "$b"]})),
        Expr::Path { .. }
    ));
    assert!(matches!(
        folded(bson::bson!(["$$REMOVE", 1])),
        Expr::Constant(Some(_))
    ));
}

#[test]
fn parse_errors_are_the_servers() {
    let cases = [
        (
            bson::bson!({"$foo": 1}),
            168,
            "Unrecognized expression '$foo'",
        ),
        (
            bson::bson!({"$eq": [1]}),
            16020,
            "Expression $eq takes exactly 2 arguments. 1 were passed in.",
        ),
        (
            bson::bson!({"$not": [1, 2]}),
            16020,
            "Expression $not takes exactly 1 arguments. 2 were passed in.",
        ),
        (
            bson::bson!({"$cond": [1, 2]}),
            16020,
            "Expression $cond takes exactly 3 arguments. 2 were passed in.",
        ),
        (
            bson::bson!({"$ifNull": ["$a"]}),
            1257300,
            "$ifNull needs at least two arguments, had: 1",
        ),
        (
            bson::bson!({"$cond": {"if": 1, "then": 2}}),
            17082,
            "Missing 'else' parameter to $cond",
        ),
        (
            bson::bson!({"$cond": {"if": 1, "when": 2}}),
            17083,
            "Unrecognized parameter to $cond: when",
        ),
        (
            bson::bson!({"$eq": [1, 2], "$ne": [1, 2]}),
            15983,
            "An object representing an expression must have exactly one field: { $eq: [ 1, 2 ], $ne: [ 1, 2 ] }",
        ),
        (
            bson::bson!("$$KEEP"),
            17276,
            "Use of undefined variable: KEEP",
        ),
        (
            bson::bson!("$$nope.a"),
            17276,
            "Use of undefined variable: nope",
        ),
        (
            bson::bson!("$$1x"),
            9,
            "'1x' starts with an invalid character for a user variable name",
        ),
        (bson::bson!("$$"), 9, "empty variable names are not allowed"),
        (
            bson::bson!("$"),
            16872,
            "'$' by itself is not a valid FieldPath",
        ),
        (
            bson::bson!("$a..b"),
            15998,
            "FieldPath field names may not be empty strings.",
        ),
        (
            bson::bson!("$a."),
            40353,
            "FieldPath must not end with a '.'.",
        ),
        (
            bson::bson!({"a": 1, "$b": 2}),
            16410,
            "FieldPath field names may not start with '$'. Consider using $getField or $setField.",
        ),
        (
            bson::bson!({"a": {"b.c": 1}}),
            16412,
            "FieldPath field names may not contain '.'. Consider using $getField or $setField.",
        ),
    ];
    for (expr, code, message) in cases {
        assert_eq!(error(expr.clone()), (code, message.to_owned()), "{expr}");
    }
    let redact = operand(&bson::bson!("$$PRUNE"), Scope { redact: true }).unwrap();
    assert_eq!(
        redact.eval(&Vars::root(&doc! {})).unwrap(),
        Some("prune".into())
    );
}

#[test]
fn values_render_as_in_server_messages() {
    let r = |v: Bson| render::value(Some(&v));
    assert_eq!(render::value(None), "MISSING");
    assert_eq!(
        r(bson::bson!({"a": "x", "b": [1, 2.5, null]})),
        "{a: \"x\", b: [1, 2.5, null]}"
    );
    assert_eq!(r(Bson::Double(1e20)), "1e+20");
    assert_eq!(r(Bson::Double(0.1)), "0.1");
    assert_eq!(r(Bson::Double(123456789.0)), "1.23457e+08");
    assert_eq!(
        r(Bson::DateTime(bson::DateTime::from_millis(
            1_700_000_000_123
        ))),
        "2023-11-14T22:13:20.123Z"
    );
}
