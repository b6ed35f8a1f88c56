//! Evaluation: order across types, missing vs null, truthiness, paths.

use super::*;
use crate::expr::compare::{compare, truthy};
use bson::{Binary, Regex, Timestamp, doc, oid::ObjectId, spec::BinarySubtype};

#[test]
fn values_of_different_types_order_by_the_canonical_type_rank() {
    let ladder = [
        Some(Bson::MinKey),
        None,
        Some(Bson::Null),
        Some(Bson::Int32(100)),
        Some(Bson::String("a".into())),
        Some(Bson::Document(doc! {})),
        Some(Bson::Array(vec![])),
        Some(Bson::Binary(Binary {
            subtype: BinarySubtype::Generic,
            bytes: vec![],
        })),
        Some(Bson::ObjectId(ObjectId::from_bytes([0; 12]))),
        Some(Bson::Boolean(false)),
        Some(Bson::DateTime(bson::DateTime::from_millis(0))),
        Some(Bson::Timestamp(Timestamp {
            time: 0,
            increment: 0,
        })),
        Some(Bson::RegularExpression(Regex {
            pattern: "a".into(),
            options: String::new(),
        })),
        Some(Bson::JavaScriptCode("f".into())),
        Some(Bson::MaxKey),
    ];
    for pair in ladder.windows(2) {
        assert_eq!(
            compare(pair[0].as_ref(), pair[1].as_ref()),
            Ordering::Less,
            "{pair:?}"
        );
        assert_eq!(
            compare(pair[1].as_ref(), pair[0].as_ref()),
            Ordering::Greater,
            "{pair:?}"
        );
    }
}

#[test]
fn missing_is_not_null_but_sorts_with_undefined() {
    let d = doc! {"n": null};
    assert_eq!(compare(None, Some(&Bson::Null)), Ordering::Less);
    assert_eq!(compare(None, Some(&Bson::Undefined)), Ordering::Equal);
    assert_eq!(
        value(bson::bson!({"$eq": ["$missing", null]}), &d),
        Some(Bson::Boolean(false))
    );
    assert_eq!(
        value(bson::bson!({"$eq": ["$n", null]}), &d),
        Some(Bson::Boolean(true))
    );
    assert_eq!(
        value(bson::bson!({"$eq": ["$missing", "$other"]}), &d),
        Some(Bson::Boolean(true))
    );
    assert_eq!(
        value(bson::bson!({"$lt": ["$missing", "$n"]}), &d),
        Some(Bson::Boolean(true))
    );
    assert_eq!(
        value(bson::bson!({"$gt": ["$n", "$missing"]}), &d),
        Some(Bson::Boolean(true))
    );
    assert_eq!(
        value(bson::bson!({"$cmp": ["$missing", "$n"]}), &d),
        Some(Bson::Int32(-1))
    );
    assert_eq!(value(bson::bson!("$missing"), &d), None);
    assert_eq!(value(bson::bson!("$n"), &d), Some(Bson::Null));
}

#[test]
fn numbers_compare_exactly_across_widths() {
    let eq = |a: Bson, b: Bson| compare(Some(&a), Some(&b));
    assert_eq!(eq(Bson::Int32(1), Bson::Double(1.0)), Ordering::Equal);
    assert_eq!(eq(Bson::Int64(1), dec("1.00")), Ordering::Equal);
    assert_eq!(eq(dec("1E+3"), Bson::Int32(1000)), Ordering::Equal);
    assert_eq!(eq(dec("-0"), Bson::Double(0.0)), Ordering::Equal);
    assert_eq!(eq(Bson::Double(-0.0), Bson::Int32(0)), Ordering::Equal);
    // 2^63 as a double is above every long.
    assert_eq!(
        eq(
            Bson::Int64(i64::MAX),
            Bson::Double(9_223_372_036_854_775_808.0)
        ),
        Ordering::Less
    );
    assert_eq!(
        eq(
            Bson::Int64(9_007_199_254_740_993),
            Bson::Double(9_007_199_254_740_992.0)
        ),
        Ordering::Greater
    );
    // The double nearest 0.1 is a little above it.
    assert_eq!(eq(dec("0.1"), Bson::Double(0.1)), Ordering::Less);
    assert_eq!(eq(dec("99.5"), Bson::Double(99.5)), Ordering::Equal);
    assert_eq!(eq(dec("-Infinity"), Bson::Double(f64::MIN)), Ordering::Less);
    assert_eq!(
        eq(dec("Infinity"), Bson::Double(f64::INFINITY)),
        Ordering::Equal
    );
    assert_eq!(
        eq(dec("1E+6000"), Bson::Double(f64::MAX)),
        Ordering::Greater
    );
    // NaN equals NaN and sorts below every other number.
    assert_eq!(eq(Bson::Double(f64::NAN), dec("NaN")), Ordering::Equal);
    assert_eq!(
        eq(Bson::Double(f64::NAN), Bson::Double(f64::NEG_INFINITY)),
        Ordering::Less
    );
    assert_eq!(eq(Bson::Int32(-5), Bson::Int64(3)), Ordering::Less);
}

#[test]
fn strings_documents_and_arrays_compare_as_the_server_compares_them() {
    let cmp = |a: Bson, b: Bson| compare(Some(&a), Some(&b));
    assert_eq!(cmp("B".into(), "a".into()), Ordering::Less);
    assert_eq!(cmp(Bson::Symbol("a".into()), "a".into()), Ordering::Equal);
    assert_eq!(
        cmp(bson::bson!({"a": 1}), bson::bson!({"a": 1, "b": 1})),
        Ordering::Less
    );
    assert_eq!(
        cmp(bson::bson!({"a": 1}), bson::bson!({"b": 0})),
        Ordering::Less
    );
    // Type rank before field name: a string value sorts after a number.
    assert_eq!(
        cmp(bson::bson!({"b": "x"}), bson::bson!({"a": 1})),
        Ordering::Greater
    );
    assert_eq!(
        cmp(bson::bson!({"a": 1.0}), bson::bson!({"a": 1_i64})),
        Ordering::Equal
    );
    assert_eq!(
        cmp(bson::bson!([1, 2]), bson::bson!([1, 3])),
        Ordering::Less
    );
    assert_eq!(cmp(bson::bson!([1]), bson::bson!([1, 0])), Ordering::Less);
    assert_eq!(
        cmp(Bson::Boolean(false), Bson::Boolean(true)),
        Ordering::Less
    );
}

#[test]
fn truthiness_is_the_aggregation_one() {
    for falsy in [
        None,
        Some(Bson::Null),
        Some(Bson::Undefined),
        Some(Bson::Boolean(false)),
        Some(Bson::Int32(0)),
        Some(Bson::Int64(0)),
        Some(Bson::Double(0.0)),
        Some(Bson::Double(-0.0)),
        Some(dec("0.00")),
    ] {
        assert!(!truthy(falsy.as_ref()), "{falsy:?}");
    }
    for truthy_value in [
        Bson::String(String::new()),
        Bson::Array(vec![]),
        Bson::Document(doc! {}),
        Bson::Double(f64::NAN),
        dec("NaN"),
        Bson::Int64(-1),
        Bson::Boolean(true),
    ] {
        assert!(truthy(Some(&truthy_value)), "{truthy_value:?}");
    }
}

#[test]
fn paths_go_through_arrays_of_documents() {
    let d = doc! {
        "arr": [{"x": 1}, {"y": 2}, {"x": [3]}, 5, [{"x": 9}]],
        "a": [{"b": [{"c": 1}, {"c": 2}]}, {"b": {"c": 3}}, {"b": 4}],
    };
    assert_eq!(value("$arr.x".into(), &d), Some(bson::bson!([1, [3]])));
    assert_eq!(value("$a.b.c".into(), &d), Some(bson::bson!([[1, 2], 3])));
    assert_eq!(value("$$CURRENT.arr.y".into(), &d), Some(bson::bson!([2])));
    // Only the array in the first element yields a value (an empty array).
    assert_eq!(value("$$ROOT.a.b.c.d".into(), &d), Some(bson::bson!([[]])));
    assert_eq!(value("$arr.0".into(), &d), Some(bson::bson!([])));
    assert_eq!(value("$$REMOVE".into(), &d), None);
}

#[test]
fn literals_objects_and_arrays_are_evaluated_recursively() {
    let d = doc! {"a": 1};
    assert_eq!(
        value(
            bson::bson!({"x": "$a", "y": ["$a", "$nope", {"$literal": "$a"}], "z": "$nope"}),
            &d
        ),
        Some(bson::bson!({"x": 1, "y": [1, null, "$a"]}))
    );
    assert_eq!(
        value(bson::bson!({"$literal": {"$eq": 1}}), &d),
        Some(bson::bson!({"$eq": 1}))
    );
    assert_eq!(value(bson::bson!({}), &d), Some(bson::bson!({})));
}

#[test]
fn cond_ifnull_in_and_logic() {
    let d = doc! {"n": null, "v": 0, "tags": ["a", 1]};
    let v = |e: Bson| value(e, &d);
    assert_eq!(
        v(bson::bson!({"$cond": {"if": "$v", "then": 1, "else": 2}})),
        Some(Bson::Int32(2))
    );
    assert_eq!(
        v(bson::bson!({"$cond": [{"$ne": ["$v", 1]}, "yes", "no"]})),
        Some("yes".into())
    );
    assert_eq!(
        v(bson::bson!({"$ifNull": ["$n", "$missing", "last"]})),
        Some("last".into())
    );
    assert_eq!(v(bson::bson!({"$ifNull": ["$n", "$missing"]})), None);
    assert_eq!(
        v(bson::bson!({"$ifNull": ["$v", "x"]})),
        Some(Bson::Int32(0))
    );
    assert_eq!(
        v(bson::bson!({"$in": [1.0, "$tags"]})),
        Some(Bson::Boolean(true))
    );
    assert_eq!(
        v(bson::bson!({"$in": ["$missing", [null]]})),
        Some(Bson::Boolean(false))
    );
    assert_eq!(v(bson::bson!({"$and": []})), Some(Bson::Boolean(true)));
    assert_eq!(
        v(bson::bson!({"$or": ["$v", "$n", ""]})),
        Some(Bson::Boolean(true))
    );
    assert_eq!(
        v(bson::bson!({"$not": ["$tags"]})),
        Some(Bson::Boolean(false))
    );
    assert_eq!(
        v(bson::bson!({"$not": "$missing"})),
        Some(Bson::Boolean(true))
    );
}
