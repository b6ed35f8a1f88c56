//! Filters the server refuses, which herald must refuse too (rather than route by a guess).
//!
//! From the manual's operator pages and the server's parser messages:
//! "$size may not be negative", "$size must be a whole number", "invalid flag
//! in regex options", "options set in both $regex and $options",
//! "$all/$elemMatch has to be consistent", "no $ expressions in $all",
//! "Can't have regex as arg to $ne", "cannot compare to undefined", ...

use crate::{dec, re};
use bson::{Bson, Document, doc};

pub fn filters() -> Vec<Document> {
    vec![
        doc! {"a": {"$size": -1}},
        doc! {"a": {"$size": 2.5}},
        doc! {"a": {"$size": dec("1")}},
        doc! {"a": {"$size": "1"}},
        doc! {"a": {"$regex": "a", "$options": "g"}},
        doc! {"a": {"$regex": re("a", "i"), "$options": "m"}},
        doc! {"a": {"$regex": "("}},
        doc! {"a": {"$regex": 1}},
        doc! {"a": {"$options": "i"}},
        doc! {"a": {"$all": [{"$elemMatch": {"x": 1}}, 5]}},
        doc! {"a": {"$all": [{"$gt": 1}]}},
        doc! {"a": {"$all": 1}},
        doc! {"a": {"$ne": re("a", "")}},
        doc! {"a": {"$gt": re("a", "")}},
        doc! {"a": {"$eq": Bson::Undefined}},
        doc! {"a": {"$type": "nope"}},
        doc! {"a": {"$type": 0}},
        doc! {"a": {"$type": 2.5}},
        doc! {"a": {"$type": []}},
        doc! {"a": {"$mod": [0, 1]}},
        doc! {"a": {"$mod": [1]}},
        doc! {"a": {"$mod": [f64::NAN, 1]}},
        doc! {"a": {"$in": 1}},
        doc! {"a": {"$in": [{"$gt": 1}]}},
        doc! {"a": {"$not": {}}},
        doc! {"a": {"$not": 1}},
        doc! {"a": {"$elemMatch": 1}},
        doc! {"a": {"$foo": 1}},
        doc! {"$foo": 1},
        doc! {"$and": []},
        doc! {"$or": [1]},
    ]
}
