//! `null`: missing fields, null values, and (before 8.0) undefined.
//!
//! Manual, "Query for Null or Missing Fields": `{a: null}` matches null and
//! missing. "Compatibility Changes in MongoDB 8.0": equality to null no longer
//! matches `undefined` (for `$eq` and `$in`). The dotted-path cases through
//! arrays come from `jstests/core/query/null_query_semantics.js` (8.0), which
//! the manual does not spell out.

use crate::{Case, no, yes};
use bson::{Bson, doc};

pub fn cases() -> Vec<Case> {
    let undefined = Bson::Undefined;
    vec![
        yes(doc! {"a": null}, doc! {}),
        yes(doc! {"a": null}, doc! {"a": null}),
        no(doc! {"a": null}, doc! {"a": undefined.clone()}).since(8, 0),
        yes(doc! {"a": null}, doc! {"a": [1, null]}),
        no(doc! {"a": null}, doc! {"a": []}),
        no(doc! {"a": null}, doc! {"a": 0}),
        yes(doc! {"a.b": null}, doc! {"a": [{"b": 3}, {}]}),
        yes(doc! {"a.b": null}, doc! {"a": 4}),
        no(doc! {"a.b": null}, doc! {"a": [{"b": 1}, {"b": 3}]}),
        // 8.0: a path through an array with no documents in it counts as missing.
        yes(doc! {"a.b": null}, doc! {"a": [1, "string", 4]}).since(8, 0),
        yes(doc! {"a.b": null}, doc! {"a": []}).since(8, 0),
        yes(doc! {"a.b": null}, doc! {"a": [[]]}).since(8, 0),
        no(doc! {"a.b": {"$ne": null}}, doc! {"a": [1, "string", 4]}).since(8, 0),
        yes(
            doc! {"a.b": {"$in": [null, 75]}},
            doc! {"a": [1, "string", 4]},
        )
        .since(8, 0),
        no(
            doc! {"a.b": null},
            doc! {"a": [{"b": undefined.clone()}, {"b": 3}]},
        )
        .since(8, 0),
        // Unclear (no manual text or jstest): an array holding both documents and
        // scalars; herald treats the path as reaching only `b: 1`, so not missing.
        no(doc! {"a.b": null}, doc! {"a": [{"b": 1}, 5]}).since(8, 0),
        yes(doc! {"a": {"$ne": null}}, doc! {"a": undefined.clone()}).since(8, 0),
        no(doc! {"a": {"$ne": null}}, doc! {}),
        no(doc! {"a": {"$ne": null}}, doc! {"a": [1, null]}),
        yes(doc! {"a": {"$in": [null, 4]}}, doc! {}),
        no(doc! {"a": {"$in": [null]}}, doc! {"a": undefined.clone()}).since(8, 0),
        no(doc! {"a": {"$nin": [null]}}, doc! {}),
        yes(doc! {"a": {"$nin": [null, []]}}, doc! {"a": 4}),
        no(doc! {"a": {"$nin": [null, []]}}, doc! {"a": []}),
        // Comparison Query Operators: null compares only with null (and missing).
        no(doc! {"a": {"$gt": null}}, doc! {}),
        no(doc! {"a": {"$gt": null}}, doc! {"a": 1}),
        yes(doc! {"a": {"$gte": null}}, doc! {}),
        yes(doc! {"a": {"$lte": null}}, doc! {"a": null}),
        // null_query_semantics.js (8.0): `{$not: {$gte: null}}` matches undefined.
        no(doc! {"a": {"$gte": null}}, doc! {"a": undefined.clone()}).since(8, 0),
        yes(
            doc! {"a": {"$elemMatch": {"$eq": null}}},
            doc! {"a": [1, null]},
        ),
        no(doc! {"a": {"$elemMatch": {"$eq": null}}}, doc! {"a": null}),
        yes(doc! {"a": {"$elemMatch": {"b": null}}}, doc! {"a": [[]]}),
        yes(doc! {"a": {"$exists": true}}, doc! {"a": null}),
        no(doc! {"a": {"$type": "null"}}, doc! {}),
    ]
}
