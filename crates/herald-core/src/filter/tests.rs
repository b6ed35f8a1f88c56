//! Examples of MongoDB query semantics, one behaviour per test.

use super::Filter;
use bson::{Bson, Document, RawDocumentBuf, doc};

fn matches(filter: Document, target: Document) -> bool {
    let filter = Filter::compile(&filter).unwrap_or_else(|e| panic!("{e}"));
    filter.matches(&RawDocumentBuf::from_document(&target).unwrap())
}

#[test]
fn equality_on_scalars_and_arrays() {
    assert!(matches(doc! {"a": 1}, doc! {"a": 1.0}));
    assert!(matches(doc! {"a": 1}, doc! {"a": [3, 1]}));
    assert!(
        !matches(doc! {"a": 1}, doc! {"a": [[1]]}),
        "only one level of arrays expands"
    );
    assert!(matches(doc! {"a": [1, 2]}, doc! {"a": [1, 2]}));
    assert!(matches(doc! {"a": [1, 2]}, doc! {"a": [[1, 2], 3]}));
    assert!(!matches(doc! {"a": [1, 2]}, doc! {"a": [2, 1]}));
    assert!(!matches(doc! {"a": "1"}, doc! {"a": 1}));
}

#[test]
fn dotted_paths_traverse_documents_and_arrays() {
    let order =
        doc! {"items": [{"sku": "x", "qty": 1}, {"sku": "y", "qty": 5}], "c": {"d": {"e": 3}}};
    assert!(matches(doc! {"items.sku": "y"}, order.clone()));
    assert!(matches(doc! {"items.1.sku": "y"}, order.clone()));
    assert!(!matches(doc! {"items.0.sku": "y"}, order.clone()));
    assert!(matches(doc! {"c.d.e": {"$gt": 2}}, order.clone()));
    assert!(!matches(doc! {"c.d.e.f": 3}, order));
}

#[test]
fn null_matches_missing_and_null() {
    assert!(matches(doc! {"a": Bson::Null}, doc! {}));
    assert!(matches(doc! {"a": Bson::Null}, doc! {"a": Bson::Null}));
    assert!(!matches(doc! {"a": Bson::Null}, doc! {"a": 0}));
    assert!(matches(
        doc! {"a.b": Bson::Null},
        doc! {"a": [{"b": 1}, {"c": 2}]}
    ));
    assert!(!matches(doc! {"a.b": Bson::Null}, doc! {"a": [{"b": 1}]}));
    assert!(matches(doc! {"a": {"$ne": Bson::Null}}, doc! {"a": 0}));
    assert!(!matches(doc! {"a": {"$ne": Bson::Null}}, doc! {}));
    assert!(matches(doc! {"a": {"$gte": Bson::Null}}, doc! {}));
    assert!(!matches(doc! {"a": {"$gt": Bson::Null}}, doc! {}));
}

#[test]
fn negations_match_missing_fields() {
    assert!(matches(doc! {"a": {"$ne": 1}}, doc! {}));
    assert!(matches(doc! {"a": {"$nin": [1, 2]}}, doc! {}));
    assert!(matches(doc! {"a": {"$not": {"$gt": 5}}}, doc! {}));
    assert!(
        !matches(doc! {"a": {"$ne": 1}}, doc! {"a": [0, 1]}),
        "$ne means no element equals"
    );
}

#[test]
fn comparisons_bracket_by_type() {
    assert!(!matches(doc! {"a": {"$gt": 5}}, doc! {"a": "six"}));
    assert!(!matches(doc! {"a": {"$lt": "b"}}, doc! {"a": 1}));
    assert!(matches(doc! {"a": {"$lt": "b"}}, doc! {"a": "a"}));
    assert!(matches(
        doc! {"a": {"$gt": Bson::MinKey}},
        doc! {"a": "anything"}
    ));
    assert!(
        matches(doc! {"a": {"$gt": 5, "$lt": 3}}, doc! {"a": [1, 9]}),
        "each condition may use a different element"
    );
    assert!(!matches(
        doc! {"a": {"$elemMatch": {"$gt": 5, "$lt": 3}}},
        doc! {"a": [1, 9]}
    ));
    assert!(matches(
        doc! {"a": {"$elemMatch": {"$gt": 5, "$lt": 10}}},
        doc! {"a": [1, 9]}
    ));
}

#[test]
fn elem_match_with_queries() {
    let d = doc! {"lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 7}]};
    assert!(matches(
        doc! {"lines": {"$elemMatch": {"sku": "b", "qty": {"$gt": 5}}}},
        d.clone()
    ));
    assert!(!matches(
        doc! {"lines": {"$elemMatch": {"sku": "a", "qty": {"$gt": 5}}}},
        d.clone()
    ));
    assert!(matches(
        doc! {"lines": {"$elemMatch": {"$or": [{"sku": "z"}, {"qty": 1}]}}},
        d
    ));
}

#[test]
fn exists_type_size_all_mod_regex() {
    assert!(matches(
        doc! {"a": {"$exists": true}},
        doc! {"a": Bson::Null}
    ));
    assert!(matches(doc! {"a": {"$exists": false}}, doc! {"b": 1}));
    assert!(matches(doc! {"a": {"$type": "number"}}, doc! {"a": 1_i64}));
    assert!(matches(doc! {"a": {"$type": "array"}}, doc! {"a": []}));
    assert!(matches(
        doc! {"a": {"$type": ["string", 16]}},
        doc! {"a": ["x"]}
    ));
    assert!(matches(doc! {"a": {"$size": 2}}, doc! {"a": [1, [2, 3]]}));
    assert!(!matches(doc! {"a": {"$size": 1}}, doc! {"a": 1}));
    assert!(matches(doc! {"a": {"$all": [1, 3]}}, doc! {"a": [3, 2, 1]}));
    assert!(!matches(doc! {"a": {"$all": []}}, doc! {"a": [1]}));
    assert!(matches(doc! {"a": {"$mod": [4, 1]}}, doc! {"a": 9}));
    assert!(matches(
        doc! {"a": {"$regex": "^ex", "$options": "i"}},
        doc! {"a": "Expense"}
    ));
    assert!(matches(
        doc! {"a": {"$in": [bson::Regex { pattern: "^x".into(), options: String::new() }, 3]}},
        doc! {"a": "xy"}
    ));
    assert!(matches(doc! {"a": {"$in": [Bson::Null]}}, doc! {}));
}

#[test]
fn logical_operators() {
    let d = doc! {"a": 1, "b": 2};
    assert!(matches(doc! {"$or": [{"a": 2}, {"b": 2}]}, d.clone()));
    assert!(!matches(doc! {"$and": [{"a": 1}, {"b": 3}]}, d.clone()));
    assert!(matches(doc! {"$nor": [{"a": 2}, {"b": 3}]}, d.clone()));
    assert!(matches(doc! {}, d));
}

#[test]
fn bad_filters_say_where() {
    let cases = [
        (doc! {"a": {"$foo": 1}}, "a.$foo", "unknown operator"),
        (doc! {"$or": []}, "$or", "non-empty"),
        (doc! {"$or": [1]}, "$or.0", "document"),
        (doc! {"x": {"$in": 3}}, "x.$in", "array"),
        (
            doc! {"x": {"$regex": "("}},
            "x.$regex",
            "regular expression",
        ),
        (
            doc! {"x": {"$type": "nope"}},
            "x.$type",
            "unknown BSON type",
        ),
        (doc! {"x": {"$size": -1}}, "x.$size", "non-negative"),
        (doc! {"$where": "true"}, "$where", "not supported"),
        (doc! {"a..b": 1}, "a..b", "empty component"),
        (doc! {"a": {"$not": {}}}, "a.$not", "operator document"),
    ];
    for (filter, at, message) in cases {
        let err = Filter::compile(&filter).unwrap_err();
        assert_eq!(err.at, at, "{filter}");
        assert!(err.message.contains(message), "{filter}: {err}");
    }
}

/// `$exists: false` is NOT(`$exists: true`) on the server: a path through an
/// array exists if any element has it, so it matches only if none has.
#[test]
fn exists_false_is_the_negation_of_exists_true_through_arrays() {
    let mixed = doc! {"items": [{"sku": 1}, {"qty": 2}]};
    assert!(!matches(
        doc! {"items.sku": {"$exists": false}},
        mixed.clone()
    ));
    assert!(matches(doc! {"items.sku": {"$exists": true}}, mixed));
    let none = doc! {"items": [{"qty": 2}, {"qty": 3}]};
    assert!(matches(
        doc! {"items.sku": {"$exists": false}},
        none.clone()
    ));
    assert!(!matches(doc! {"items.sku": {"$exists": true}}, none));
    assert!(matches(
        doc! {"items.sku": {"$exists": false}},
        doc! {"other": 1}
    ));
    assert!(matches(
        doc! {"items.sku": {"$exists": 0}},
        doc! {"items": []}
    ));
}

#[test]
fn server_only_operands() {
    let zero = Bson::Decimal128("0".parse().unwrap());
    let two = Bson::Decimal128("2".parse().unwrap());
    assert!(matches(doc! {"a": {"$exists": zero}}, doc! {}));
    assert!(matches(doc! {"a": {"$type": two.clone()}}, doc! {"a": "x"}));
    assert!(matches(doc! {"a": {"$mod": [two, 1]}}, doc! {"a": 3}));
    assert!(matches(doc! {"$alwaysTrue": 1}, doc! {}));
    assert!(!matches(doc! {"$alwaysFalse": 1, "a": 1}, doc! {"a": 1}));
    assert!(
        matches(
            doc! {"a": {"$elemMatch": {"$comment": "pathless, so a query", "b": 1}}},
            doc! {"a": [{"b": 1}]}
        ),
        "a pathless operator first makes $elemMatch a query on documents"
    );
}

#[test]
fn refusals_say_where() {
    let cases = [
        (
            doc! {"a": {"$all": [{"$elemMatch": {"x": 1}}, 5]}},
            "a.$all.1",
            "consistent",
        ),
        (
            doc! {"a": {"$all": [1, {"$gt": 1}]}},
            "a.$all.1",
            "no $ expressions",
        ),
        (
            doc! {"a": {"$ne": bson::Regex { pattern: "x".into(), options: String::new() }}},
            "a.$ne",
            "$not",
        ),
        (doc! {"a": {"$regex": "(?=x)"}}, "a.$regex", "lookahead"),
        (doc! {"a": {"$size": 1_i64 << 40}}, "a.$size", "32-bit"),
        (doc! {"$alwaysTrue": 2}, "$alwaysTrue", "value of 1"),
    ];
    for (filter, at, message) in cases {
        let err = Filter::compile(&filter).unwrap_err();
        assert_eq!(err.at, at, "{filter}");
        assert!(err.message.contains(message), "{filter}: {err}");
    }
}
