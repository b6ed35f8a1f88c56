//! Property tests: the filter against MongoDB's stated semantics.

use bson::{Bson, Document, RawBson, RawDocumentBuf, doc};
use herald_core::Filter;
use herald_core::filter::order::{compare, type_rank};
use proptest::prelude::*;
use std::cmp::Ordering;

fn scalar() -> impl Strategy<Value = Bson> {
    prop_oneof![
        Just(Bson::Null),
        any::<bool>().prop_map(Bson::Boolean),
        (-5i32..5).prop_map(Bson::Int32),
        (-5i64..5).prop_map(Bson::Int64),
        (-10i32..10).prop_map(|n| Bson::Double(f64::from(n) / 2.0)),
        "[a-c]{0,2}".prop_map(Bson::String),
        (0i64..3).prop_map(|n| Bson::DateTime(bson::DateTime::from_millis(n))),
        Just(Bson::MinKey),
        Just(Bson::MaxKey),
    ]
}

fn value() -> impl Strategy<Value = Bson> {
    scalar().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Bson::Array),
            prop::collection::vec(("[xy]", inner), 0..2)
                .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
        ]
    })
}

fn cmp(a: &Bson, b: &Bson) -> Ordering {
    let (a, b) = (
        RawBson::try_from(a.clone()).unwrap(),
        RawBson::try_from(b.clone()).unwrap(),
    );
    compare(a.as_raw_bson_ref(), b.as_raw_bson_ref())
}

fn rank(a: &Bson) -> u8 {
    type_rank(RawBson::try_from(a.clone()).unwrap().as_raw_bson_ref())
}

fn matches(filter: Document, target: &Document) -> bool {
    Filter::compile(&filter)
        .unwrap()
        .matches(&RawDocumentBuf::from_document(target).unwrap())
}

/// The values a condition on field `a` is tested against: the value and, for an array, its elements.
fn candidates(v: &Bson) -> Vec<Bson> {
    let mut all = vec![v.clone()];
    if let Bson::Array(items) = v {
        all.extend(items.iter().cloned());
    }
    all
}

proptest! {
    #[test]
    fn order_is_a_total_order(a in value(), b in value(), c in value()) {
        prop_assert_eq!(cmp(&a, &b), cmp(&b, &a).reverse());
        prop_assert_eq!(cmp(&a, &a), Ordering::Equal);
        if cmp(&a, &b) != Ordering::Greater && cmp(&b, &c) != Ordering::Greater {
            prop_assert_ne!(cmp(&a, &c), Ordering::Greater);
        }
    }

    #[test]
    fn types_of_different_rank_never_compare_equal(a in value(), b in value()) {
        if rank(&a) != rank(&b) {
            prop_assert_eq!(cmp(&a, &b), rank(&a).cmp(&rank(&b)));
        }
    }

    #[test]
    fn eq_holds_for_the_value_or_an_element(field in value(), operand in scalar()) {
        let target = doc! {"a": field.clone()};
        let expected = if operand == Bson::Null {
            candidates(&field).contains(&Bson::Null)
        } else {
            candidates(&field).iter().any(|c| rank(c) == rank(&operand) && cmp(c, &operand) == Ordering::Equal)
        };
        prop_assert_eq!(matches(doc! {"a": operand.clone()}, &target), expected);
        prop_assert_eq!(matches(doc! {"a": {"$eq": operand.clone()}}, &target), expected);
        prop_assert_eq!(matches(doc! {"a": {"$ne": operand}}, &target), !expected);
    }

    #[test]
    fn comparisons_only_within_a_type_class(field in value(), operand in scalar()) {
        prop_assume!(!matches!(operand, Bson::MinKey | Bson::MaxKey | Bson::Null));
        let target = doc! {"a": field.clone()};
        for (op, wanted) in [("$gt", Ordering::Greater), ("$lt", Ordering::Less)] {
            let expected = candidates(&field)
                .iter()
                .any(|c| rank(c) == rank(&operand) && cmp(c, &operand) == wanted);
            prop_assert_eq!(matches(doc! {"a": {op: operand.clone()}}, &target), expected, "{}", op);
        }
        let gte = matches(doc! {"a": {"$gte": operand.clone()}}, &target);
        let gt_or_eq = matches(doc! {"a": {"$gt": operand.clone()}}, &target)
            || matches(doc! {"a": {"$eq": operand.clone()}}, &target);
        prop_assert_eq!(gte, gt_or_eq);
    }

    #[test]
    fn missing_fields(operand in scalar()) {
        let empty = doc! {"b": 1};
        prop_assert_eq!(matches(doc! {"a": operand.clone()}, &empty), operand == Bson::Null);
        let absent = matches(doc! {"a": {"$exists": false}}, &empty);
        let present = matches(doc! {"a": {"$exists": true}}, &empty);
        prop_assert!(absent && !present);
        prop_assert_eq!(matches(doc! {"a": {"$ne": operand.clone()}}, &empty), operand != Bson::Null);
        let nin = matches(doc! {"a": {"$nin": [operand.clone()]}}, &empty);
        prop_assert_eq!(nin, operand != Bson::Null);
    }

    #[test]
    fn in_is_an_or_of_equalities(field in value(), items in prop::collection::vec(scalar(), 1..4)) {
        let target = doc! {"a": field};
        let any = items.iter().any(|i| matches(doc! {"a": i.clone()}, &target));
        prop_assert_eq!(matches(doc! {"a": {"$in": items.clone()}}, &target), any);
        prop_assert_eq!(matches(doc! {"a": {"$nin": items}}, &target), !any);
    }

    #[test]
    fn logical_operators_compose(field in value(), x in scalar(), y in scalar()) {
        let target = doc! {"a": field};
        let fx = matches(doc! {"a": x.clone()}, &target);
        let fy = matches(doc! {"a": y.clone()}, &target);
        prop_assert_eq!(matches(doc! {"$and": [{"a": x.clone()}, {"a": y.clone()}]}, &target), fx && fy);
        prop_assert_eq!(matches(doc! {"$or": [{"a": x.clone()}, {"a": y.clone()}]}, &target), fx || fy);
        prop_assert_eq!(matches(doc! {"$nor": [{"a": x}, {"a": y}]}, &target), !(fx || fy));
    }

    #[test]
    fn paths_through_arrays_of_documents(values in prop::collection::vec(scalar(), 0..4), operand in scalar()) {
        prop_assume!(operand != Bson::Null);
        let items: Vec<Bson> = values.iter().map(|v| Bson::Document(doc! {"b": v.clone()})).collect();
        let target = doc! {"a": items};
        let expected = values.iter().any(|v| matches(doc! {"b": operand.clone()}, &doc! {"b": v.clone()}));
        prop_assert_eq!(matches(doc! {"a.b": operand}, &target), expected);
    }

    #[test]
    fn numbers_are_equal_across_widths(n in -1000i32..1000) {
        let target = doc! {"a": n};
        let long = matches(doc! {"a": i64::from(n)}, &target);
        let double = matches(doc! {"a": f64::from(n)}, &target);
        let range = matches(doc! {"a": {"$gte": f64::from(n) - 0.5, "$lt": f64::from(n) + 0.5}}, &target);
        prop_assert!(long && double && range);
    }

    #[test]
    fn decimals_equal_doubles_of_the_same_exact_value(n in -100_000i32..100_000, halvings in 0u32..4) {
        let x = f64::from(n) / f64::from(1 << halvings);
        // Halves, quarters and eighths print exactly, so the decimal is the double's exact value.
        let decimal = Bson::Decimal128(x.to_string().parse().unwrap());
        let equal = matches(doc! {"a": decimal.clone()}, &doc! {"a": x});
        let below = matches(doc! {"a": {"$lt": decimal.clone()}}, &doc! {"a": x - 1e-3});
        let above = matches(doc! {"a": {"$gt": decimal}}, &doc! {"a": x});
        prop_assert!(equal && below && !above, "{}: {} {} {}", x, equal, below, above);
    }
}
