//! Unit tests of `$project`, `$unset`, `$addFields` and of the stages'
//! parse errors, as the server shapes them.

use crate::change_stream::stages::{self, Stage};
use crate::error::CommandError;
use bson::{Bson, Document, bson, doc};

fn run(stage: Document, event: Document) -> Result<Option<Document>, CommandError> {
    let stages = stages::parse_all(&[Bson::Document(stage)])?;
    stages::apply(&stages, event)
}

fn out(stage: Document, event: Document) -> Document {
    run(stage, event).unwrap().unwrap()
}

/// Equal, field order included (`Document`'s `==` ignores the order).
fn same(actual: Document, expected: Document) {
    assert_eq!(actual.to_string(), expected.to_string());
}

fn error(stage: Document) -> (i32, String) {
    let e = stages::parse_all(&[Bson::Document(stage)]).unwrap_err();
    (e.code, e.message)
}

#[test]
fn exclusions_go_through_arrays_and_keep_other_elements() {
    let event = doc! {"_id": 1, "a": [{"b": 1, "c": 2}, 5, [{"b": 3, "d": 4}]], "b": 1};
    same(
        out(doc! {"$project": {"a.b": 0}}, event.clone()),
        doc! {"_id": 1, "a": [{"c": 2}, 5, [{"d": 4}]], "b": 1},
    );
    // "0" is a field name, not an index.
    same(out(doc! {"$unset": "a.0"}, event.clone()), event.clone());
    same(
        out(doc! {"$unset": ["b", "a.c"]}, event),
        doc! {"_id": 1, "a": [{"b": 1}, 5, [{"b": 3, "d": 4}]]},
    );
}

#[test]
fn inclusions_keep_the_input_order_and_drop_unreached_values() {
    let event = doc! {"x": 0, "a": [{"b": 1, "c": 2}, 5, [{"b": 3}]], "_id": 7, "s": 2};
    same(
        out(doc! {"$project": {"s": 1, "a.b": 1}}, event.clone()),
        doc! {"a": [{"b": 1}, [{"b": 3}]], "_id": 7, "s": 2},
    );
    // A scalar under a projected path is dropped; a document without the field stays, empty.
    same(
        out(
            doc! {"$project": {"_id": 0, "s.t": 1, "a.c.d": 1}},
            event.clone(),
        ),
        doc! {"a": [{}, [{}]]},
    );
    same(
        out(doc! {"$project": {"_id": 1}}, event.clone()),
        doc! {"_id": 7},
    );
    same(
        out(doc! {"$project": {"_id": 1, "x": 0}}, event.clone()),
        doc! {"a": [{"b": 1, "c": 2}, 5, [{"b": 3}]], "_id": 7, "s": 2},
    );
    same(
        out(doc! {"$project": {"_id": 0}}, event),
        doc! {"x": 0, "a": [{"b": 1, "c": 2}, 5, [{"b": 3}]], "s": 2},
    );
}

#[test]
fn computed_fields_in_a_project_come_after_the_kept_ones() {
    let event = doc! {"_id": 1, "x": {"a": 5, "z": 1}, "n": 2};
    same(
        out(
            doc! {"$project": {"big": {"$gt": ["$n", 1]}, "n": 1, "label": "fixed", "copy": "$x.z"}},
            event.clone(),
        ),
        doc! {"_id": 1, "n": 2, "big": true, "label": "fixed", "copy": 1},
    );
    // A computed field under a scalar replaces it in place.
    same(
        out(
            doc! {"$project": {"_id": 0, "x.a.b": 1, "x.a.c": {"$literal": 1}, "x.z": 1}},
            event,
        ),
        doc! {"x": {"a": {"c": 1}, "z": 1}},
    );
}

#[test]
fn add_fields_sets_in_place_through_arrays_from_the_original_event() {
    let event = doc! {"_id": 1, "a": 5, "arr": [1, {"x": 1}, [2]], "d": {"k": 1}};
    same(
        out(
            doc! {"$set": {"b": "$a", "a": 1, "arr.y": "$a", "d": {"m": "$d.k"}, "e.f": true}},
            event.clone(),
        ),
        doc! {"_id": 1, "a": 1, "arr": [{"y": 5}, {"x": 1, "y": 5}, [{"y": 5}]], "d": {"k": 1, "m": 1}, "b": 5, "e": {"f": true}},
    );
    // A missing result removes the field; `{}` sets an empty document.
    same(
        out(
            doc! {"$addFields": {"a": "$nope", "d": {}, "z": "$$REMOVE"}},
            event,
        ),
        doc! {"_id": 1, "arr": [1, {"x": 1}, [2]], "d": {}},
    );
}

#[test]
fn redact_descends_into_documents_and_arrays() {
    let expr = doc! {"$cond": {"if": {"$eq": ["$level", "secret"]}, "then": "$$PRUNE", "else": "$$DESCEND"}};
    let event = doc! {
        "_id": {"_data": "82"},
        "fullDocument": {"card": {"level": "secret", "n": 1}, "notes": [{"level": "secret"}, {"t": 1}, 3, [{"level": "secret"}]], "ok": 1},
    };
    same(
        out(doc! {"$redact": expr.clone()}, event),
        doc! {"_id": {"_data": "82"}, "fullDocument": {"notes": [{"t": 1}, 3, []], "ok": 1}},
    );
    assert_eq!(
        run(doc! {"$redact": expr}, doc! {"level": "secret"}).unwrap(),
        None
    );
    // $$ROOT stays the event while $$CURRENT is the sub-document.
    let by_root = doc! {"$cond": [{"$eq": ["$$ROOT.kind", "x"]}, "$$KEEP", "$$PRUNE"]};
    same(
        out(doc! {"$redact": by_root}, doc! {"kind": "x"}),
        doc! {"kind": "x"},
    );
    let e = run(doc! {"$redact": "$kind"}, doc! {"kind": "x"}).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            17053,
            "$redact's expression should not return anything aside from the variables $$KEEP, $$DESCEND, and $$PRUNE, but returned \"x\""
        )
    );
}

#[test]
fn stage_errors_carry_the_servers_context() {
    let cases = [
        (
            doc! {"$set": {"x": {"$foo": 1}}},
            168,
            "Invalid $set :: caused by :: Unrecognized expression '$foo'",
        ),
        (
            doc! {"$redact": {"$foo": 1}},
            168,
            "Unrecognized expression '$foo'",
        ),
        (
            doc! {"$project": {"x": {"$foo": 1}}},
            31325,
            "Invalid $project :: caused by :: Unknown expression $foo",
        ),
        (
            doc! {"$project": {"x": {"$eq": [{"$foo": 1}, 1]}}},
            168,
            "Invalid $project :: caused by :: Unrecognized expression '$foo'",
        ),
        (
            doc! {"$project": {}},
            51272,
            "Invalid $project :: caused by :: projection specification must have at least one field",
        ),
        (
            doc! {"$project": {"foo": true, "bar": false}},
            31254,
            "Invalid $project :: caused by :: Cannot do exclusion on field bar in inclusion projection",
        ),
        (
            doc! {"$project": {"foo": 0, "bar": 1}},
            31253,
            "Invalid $project :: caused by :: Cannot do inclusion on field bar in exclusion projection",
        ),
        (
            doc! {"$project": {"foo": 0, "bar": {"$literal": 1}}},
            31252,
            "Invalid $project :: caused by :: Cannot use expression other than $meta in exclusion projection",
        ),
        (
            doc! {"$project": {"foo": 0, "bar": "x"}},
            31310,
            "Invalid $project :: caused by :: Cannot use an expression bar: \"x\" in an exclusion projection",
        ),
        (
            doc! {"$project": {"v": 1, "v.foo.bar": 1}},
            31249,
            "Invalid $project :: caused by :: Path collision at v.foo.bar remaining portion foo.bar",
        ),
        (
            doc! {"$project": {"v.$": 1}},
            31324,
            "Invalid $project :: caused by :: Cannot use positional projection in aggregation projection",
        ),
        (
            doc! {"$project": {"v": {"$type": 42, "$op": 42}}},
            16410,
            "Invalid $project :: caused by :: FieldPath field names may not start with '$'. Consider using $getField or $setField.",
        ),
        (
            doc! {"$unset": ["v", "v"]},
            31250,
            "Invalid $unset :: caused by :: Path collision at v",
        ),
        (
            doc! {"$unset": "v."},
            40353,
            "Invalid $unset :: caused by :: FieldPath must not end with a '.'.",
        ),
        (
            doc! {"$unset": []},
            31119,
            "$unset specification must be a string or an array with at least one field",
        ),
        (
            doc! {"$unset": ["a", 1]},
            31120,
            "$unset specification must be a string or an array containing only string values",
        ),
        (
            doc! {"$set": "x"},
            40272,
            "$set specification stage must be an object, got string",
        ),
        (
            doc! {"$addFields": {"$foo": "v"}},
            16410,
            "Invalid $addFields :: caused by :: FieldPath field names may not start with '$'. Consider using $getField or $setField.",
        ),
        (
            doc! {"$set": {"a": 1, "a.b": 1}},
            40176,
            "Invalid $set :: caused by :: specification contains two conflicting paths. Cannot specify both 'a.b' and 'a': { a: 1, a.b: 1 }",
        ),
        (
            doc! {"$set": {"a": {"b.c": 1}}},
            40183,
            "Invalid $set :: caused by :: cannot use dotted field name 'b.c' in a sub object: { a: { b.c: 1 } }",
        ),
        (
            doc! {"$set": {"x": {"$in": [1, "y"]}}},
            40081,
            "Failed to optimize pipeline :: caused by :: $in requires an array as a second argument, found: string",
        ),
        (
            doc! {"$replaceRoot": {"root": "$a"}},
            40415,
            "BSON field '$replaceRoot.root' is an unknown field.",
        ),
    ];
    for (stage, code, message) in cases {
        assert_eq!(error(stage.clone()), (code, message.to_owned()), "{stage}");
    }
}

#[test]
fn replace_root_needs_a_document() {
    same(
        out(doc! {"$replaceWith": "$d"}, doc! {"d": {"k": 1}}),
        doc! {"k": 1},
    );
    let e = run(doc! {"$replaceRoot": {"newRoot": "$nope"}}, doc! {"a": 1}).unwrap_err();
    assert_eq!(e.code, 40228);
    assert!(
        e.message.starts_with("'newRoot' expression  must evaluate to an object, but resulting value was: MISSING. Type of resulting value: 'missing'."),
        "{}",
        e.message
    );
    assert!(matches!(
        stages::parse_all(&[bson!({"$replaceWith": {"a": "$b"}})]).unwrap()[0],
        Stage::ReplaceRoot { .. }
    ));
}
