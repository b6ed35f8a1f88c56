//! `$all`, `$size`, `$elemMatch` and the rest.
//!
//! Manual, "$all": an array of nested arrays matches the nested array or an
//! element equal to it; `$all` with `$elemMatch` items. The server evaluates
//! such an `$all` on one array at a time (`AllElemMatchOp`), which the manual
//! implies ("the array field must contain elements that match each
//! $elemMatch") but does not spell out for dotted paths. Manual, "$size":
//! only arrays of exactly that length match; "$elemMatch": only arrays.

use crate::{Case, no, yes};
use bson::doc;

pub fn cases() -> Vec<Case> {
    let two_kinds = doc! {"a": {"$all": [{"$elemMatch": {"x": 1}}, {"$elemMatch": {"y": 2}}]}};
    let one_array =
        doc! {"a.b": {"$all": [{"$elemMatch": {"$gt": 1}}, {"$elemMatch": {"$lt": 1}}]}};
    vec![
        yes(two_kinds.clone(), doc! {"a": [{"x": 1}, {"y": 2}]}),
        no(two_kinds, doc! {"a": [{"x": 1}, {"y": 3}]}),
        no(one_array.clone(), doc! {"a": [{"b": [2]}, {"b": [0]}]}),
        yes(one_array, doc! {"a": [{"b": [2, 0]}]}),
        yes(doc! {"a": {"$all": [[1, 2]]}}, doc! {"a": [1, 2]}),
        yes(doc! {"a": {"$all": [[1, 2]]}}, doc! {"a": [[1, 2], 3]}),
        no(doc! {"a": {"$all": [[1, 2]]}}, doc! {"a": [2, 1]}),
        no(doc! {"a": {"$all": []}}, doc! {"a": []}),
        yes(doc! {"a": {"$all": [1, 3]}}, doc! {"a": [3, 2, 1]}),
        no(doc! {"a": {"$all": [1, 4]}}, doc! {"a": [3, 2, 1]}),
        yes(doc! {"a": {"$all": [1]}}, doc! {"a": 1}),
        yes(doc! {"a": {"$size": 2}}, doc! {"a": [1, [2, 3]]}),
        no(doc! {"a": {"$size": 1}}, doc! {"a": 1}),
        no(doc! {"a": {"$size": 1}}, doc! {"a": "x"}),
        no(doc! {"a": {"$size": 0}}, doc! {}),
        yes(doc! {"a": {"$size": 0}}, doc! {"a": []}),
        yes(doc! {"a": {"$size": 2.0}}, doc! {"a": [1, 2]}),
        yes(
            doc! {"a.b": {"$size": 1}},
            doc! {"a": [{"b": [1, 2]}, {"b": [3]}]},
        ),
        no(
            doc! {"a": {"$elemMatch": {"$gt": 5, "$lt": 3}}},
            doc! {"a": [1, 9]},
        ),
        yes(doc! {"a": {"$gt": 5, "$lt": 3}}, doc! {"a": [1, 9]}),
        no(doc! {"a": {"$elemMatch": {"$eq": 1}}}, doc! {"a": 1}),
        yes(
            doc! {"a": {"$elemMatch": {"$or": [{"b": 1}, {"c": 1}]}}},
            doc! {"a": [{"c": 1}]},
        ),
        yes(
            doc! {"a": {"$elemMatch": {"$elemMatch": {"$gt": 1}}}},
            doc! {"a": [[0, 2]]},
        ),
        yes(doc! {"a": {"$not": {"$size": 1}}}, doc! {"a": [1, 2]}),
        // Manual, "$exists": the operand is read as a boolean.
        yes(doc! {"a": {"$exists": 0}}, doc! {}),
        yes(doc! {"a": 1, "$comment": "ignored"}, doc! {"a": 1}),
        yes(doc! {"$nor": [{"a": 1}, {"b": 1}]}, doc! {"a": 2}),
        // Manual, "Database References": a DBRef in a filter is a value, not operators.
        yes(
            doc! {"r": {"$ref": "c", "$id": 1}},
            doc! {"r": {"$ref": "c", "$id": 1}},
        ),
    ]
}
