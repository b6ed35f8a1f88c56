//! `$type`: every alias of the manual's table, numeric codes, arrays of types.
//!
//! Manual, "$type": the aliases and codes below; `"number"` is double, int,
//! long and decimal; `$type: "array"` matches an array field itself; on an
//! array field the other types match its elements.

use crate::{Case, dec, no, re, yes};
use bson::oid::ObjectId;
use bson::spec::BinarySubtype;
use bson::{Binary, Bson, DateTime, Timestamp, doc};

pub fn cases() -> Vec<Case> {
    let binary = Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: vec![1, 2],
    });
    let by_alias = [
        ("double", Bson::Double(1.5)),
        ("string", Bson::String("x".into())),
        ("object", Bson::Document(doc! {"b": 1})),
        ("array", Bson::Array(vec![])),
        ("binData", binary),
        ("undefined", Bson::Undefined),
        ("objectId", Bson::ObjectId(ObjectId::from_bytes([7; 12]))),
        ("bool", Bson::Boolean(false)),
        ("date", Bson::DateTime(DateTime::from_millis(0))),
        ("null", Bson::Null),
        ("regex", re("^x", "i")),
        ("javascript", Bson::JavaScriptCode("1".into())),
        ("int", Bson::Int32(1)),
        (
            "timestamp",
            Bson::Timestamp(Timestamp {
                time: 1,
                increment: 1,
            }),
        ),
        ("long", Bson::Int64(1)),
        ("decimal", dec("1")),
        ("minKey", Bson::MinKey),
        ("maxKey", Bson::MaxKey),
    ];
    let mut cases: Vec<Case> = by_alias
        .into_iter()
        .map(|(alias, value)| yes(doc! {"a": {"$type": alias}}, doc! {"a": value}))
        .collect();
    cases.extend([
        no(doc! {"a": {"$type": "double"}}, doc! {"a": 1}),
        no(doc! {"a": {"$type": "int"}}, doc! {"a": 1_i64}),
        no(doc! {"a": {"$type": "object"}}, doc! {"a": []}),
        yes(doc! {"a": {"$type": "number"}}, doc! {"a": 1}),
        yes(doc! {"a": {"$type": "number"}}, doc! {"a": dec("2.5")}),
        no(doc! {"a": {"$type": "number"}}, doc! {"a": "1"}),
        no(doc! {"a": {"$type": "number"}}, doc! {}),
        yes(doc! {"a": {"$type": 1}}, doc! {"a": 2.5}),
        yes(doc! {"a": {"$type": 16}}, doc! {"a": 2}),
        yes(doc! {"a": {"$type": 18}}, doc! {"a": 2_i64}),
        yes(doc! {"a": {"$type": 19}}, doc! {"a": dec("2")}),
        yes(doc! {"a": {"$type": -1}}, doc! {"a": Bson::MinKey}),
        yes(doc! {"a": {"$type": 127}}, doc! {"a": Bson::MaxKey}),
        yes(doc! {"a": {"$type": 2.0}}, doc! {"a": "x"}),
        yes(doc! {"a": {"$type": [2, "int"]}}, doc! {"a": 3}),
        yes(doc! {"a": {"$type": ["string", 16]}}, doc! {"a": ["x"]}),
        // "array" matches the array itself, an array element, and not a scalar.
        yes(doc! {"a": {"$type": "array"}}, doc! {"a": [1]}),
        yes(doc! {"a": {"$type": "array"}}, doc! {"a": [[1]]}),
        no(doc! {"a": {"$type": "array"}}, doc! {"a": 1}),
        yes(
            doc! {"a.b": {"$type": "string"}},
            doc! {"a": [{"b": 1}, {"b": ["x"]}]},
        ),
    ]);
    cases
}
