//! Arrays and dotted paths: how far the server looks into arrays.
//!
//! Manual, "Query an Array" and "Query an Array of Embedded Documents": a
//! condition on an array field holds for the array or any element; a dotted
//! path goes through arrays of documents; a numeric component picks an element.
//! Where the manual says nothing (arrays of arrays), the cases follow the
//! server's path iterator (`src/mongo/db/matcher/path.cpp`): one level of
//! array is expanded at the end of a path, nested arrays are not entered
//! along it, and an element picked by index is taken whole.

use crate::{Case, no, yes};
use bson::doc;

pub fn cases() -> Vec<Case> {
    vec![
        yes(doc! {"a": 1}, doc! {"a": [1, 2]}),
        // Only one level of array is traversed for equality.
        no(doc! {"a": 1}, doc! {"a": [[1]]}),
        yes(doc! {"a": [1]}, doc! {"a": [[1], 2]}),
        yes(doc! {"a": [1, 2]}, doc! {"a": [1, 2]}),
        // Manual: an array equality needs the same elements in the same order.
        no(doc! {"a": [1, 2]}, doc! {"a": [2, 1]}),
        yes(doc! {"a.b": 1}, doc! {"a": [{"b": 2}, {"b": 1}]}),
        // path.cpp: an array inside an array is not entered by a field name.
        no(doc! {"a.b": 1}, doc! {"a": [[{"b": 1}]]}),
        // ...but an index enters it.
        yes(doc! {"a.0.b": 1}, doc! {"a": [[{"b": 1}]]}),
        yes(doc! {"a.0": 1}, doc! {"a": [1, 2]}),
        no(doc! {"a.1": 1}, doc! {"a": [1, 2]}),
        // path.cpp: the element picked by `a.0` is not expanded.
        no(doc! {"a.0": 1}, doc! {"a": [[1]]}),
        yes(doc! {"a.0": [1]}, doc! {"a": [[1]]}),
        yes(doc! {"a.0.1": 6}, doc! {"a": [[5, 6]]}),
        // jstests/core/array_match2.js: `a.1` is both an index and a field of the documents.
        yes(doc! {"a.1": 4}, doc! {"a": [{"1": 4}, 5]}),
        yes(doc! {"a.1": 5}, doc! {"a": [{"1": 4}, 5]}),
        yes(
            doc! {"a.1.foo": 4},
            doc! {"a": [{"1": {"foo": 4}}, {"foo": 5}]},
        ),
        yes(
            doc! {"a.1.foo": 5},
            doc! {"a": [{"1": {"foo": 4}}, {"foo": 5}]},
        ),
        // An array at the end of a path is expanded one level only.
        no(doc! {"a.b": 1}, doc! {"a": [{"b": [[1]]}]}),
        yes(doc! {"a.b": [1]}, doc! {"a": [{"b": [[1]]}]}),
        yes(doc! {"a.b.c": 2}, doc! {"a": [{"b": [{"c": 1}, {"c": 2}]}]}),
        // `01` is no index: only a field named "01" is.
        no(doc! {"a.01": 1}, doc! {"a": [1, 1]}),
        yes(doc! {"a.01": 1}, doc! {"a": {"01": 1}}),
        // A scalar where the path goes on has nothing below it.
        no(doc! {"a.b": 1}, doc! {"a": 1}),
        yes(
            doc! {"a.b": {"$gt": 1, "$lt": 3}},
            doc! {"a": [{"b": 0}, {"b": 5}]},
        ),
        no(
            doc! {"a": {"$elemMatch": {"b": {"$gt": 1, "$lt": 3}}}},
            doc! {"a": [{"b": 0}, {"b": 5}]},
        ),
        yes(doc! {"a.0": {"$exists": true}}, doc! {"a": [null]}),
        no(doc! {"a.0": {"$exists": true}}, doc! {"a": []}),
        // Already fixed: `$exists: false` is NOT `$exists: true` through arrays.
        no(
            doc! {"items.sku": {"$exists": false}},
            doc! {"items": [{"sku": 1}, {"qty": 2}]},
        ),
        yes(doc! {"a.b": {"$exists": false}}, doc! {"a": [1, 2]}),
        yes(doc! {"a": {"$size": 1}}, doc! {"a": [[1, 2]]}),
        // The server reads arrays inside the array as documents keyed "0", "1", ... for $elemMatch.
        yes(doc! {"a": {"$elemMatch": {"0": 1}}}, doc! {"a": [[1]]}),
    ]
}
