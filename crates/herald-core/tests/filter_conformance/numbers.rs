//! Numbers across int32, int64, double and decimal128; NaN; `$mod`.
//!
//! Manual, "Comparison/Sort Order": numeric types compare by value ("MongoDB
//! treats some types as equivalent for comparison purposes"). The manual's
//! decimal128 page: a decimal equals a double only if their values are exactly
//! equal (`NumberDecimal("0.1")` is not the double `0.1`). Longs beyond 2^53
//! compare exactly with doubles (the server's `compareLongToDouble`). NaN:
//! equal to NaN, never `$lt`/`$gt` anything (`ComparisonMatchExpression`).

use crate::{Case, dec, no, yes};
use bson::doc;

pub fn cases() -> Vec<Case> {
    let two_53 = 9_007_199_254_740_992_i64;
    vec![
        yes(doc! {"a": 1}, doc! {"a": 1.0}),
        yes(doc! {"a": 1}, doc! {"a": 1_i64}),
        yes(doc! {"a": 1}, doc! {"a": dec("1.0")}),
        yes(doc! {"a": dec("1.00")}, doc! {"a": 1.0}),
        yes(doc! {"a": two_53}, doc! {"a": two_53 as f64}),
        no(doc! {"a": two_53 + 1}, doc! {"a": two_53 as f64}),
        yes(doc! {"a": {"$gt": two_53 as f64}}, doc! {"a": two_53 + 1}),
        no(doc! {"a": {"$gte": 9.3e18}}, doc! {"a": i64::MAX}),
        yes(doc! {"a": {"$lt": f64::INFINITY}}, doc! {"a": i64::MAX}),
        no(doc! {"a": 0.1}, doc! {"a": dec("0.1")}),
        // The double 0.1 is 0.1000000000000000055...: above the decimal 0.1.
        yes(doc! {"a": {"$lt": 0.1}}, doc! {"a": dec("0.1")}),
        yes(doc! {"a": 0.5}, doc! {"a": dec("0.50")}),
        yes(doc! {"a": dec("9007199254740993")}, doc! {"a": two_53 + 1}),
        no(
            doc! {"a": dec("9007199254740993")},
            doc! {"a": two_53 as f64},
        ),
        yes(
            doc! {"a": {"$lt": dec("1.000000000000000000000000000000001")}},
            doc! {"a": 1},
        ),
        yes(doc! {"a": f64::NAN}, doc! {"a": f64::NAN}),
        yes(doc! {"a": f64::NAN}, doc! {"a": dec("NaN")}),
        no(doc! {"a": {"$lt": 0}}, doc! {"a": f64::NAN}),
        no(doc! {"a": {"$gt": f64::NAN}}, doc! {"a": 1}),
        no(doc! {"a": {"$gt": f64::NAN}}, doc! {"a": f64::NAN}),
        yes(doc! {"a": {"$gte": f64::NAN}}, doc! {"a": f64::NAN}),
        no(
            doc! {"a": {"$lte": f64::NAN}},
            doc! {"a": f64::NEG_INFINITY},
        ),
        yes(doc! {"a": 0}, doc! {"a": -0.0}),
        yes(doc! {"a": -0.0}, doc! {"a": dec("-0")}),
        // Comparisons stay within a type class.
        no(doc! {"a": "1"}, doc! {"a": 1}),
        no(doc! {"a": {"$gt": 5}}, doc! {"a": "6"}),
        no(doc! {"a": {"$lt": "b"}}, doc! {"a": 1}),
        yes(doc! {"a": {"$gt": bson::Bson::MinKey}}, doc! {"a": "x"}),
        // A missing field sits between MinKey and MaxKey (ComparisonMatchExpression).
        yes(doc! {"a": {"$lt": bson::Bson::MaxKey}}, doc! {}),
        no(
            doc! {"a": {"$gt": bson::DateTime::from_millis(0)}},
            doc! {"a": bson::Timestamp { time: 1, increment: 1 }},
        ),
        // $mod: the remainder has the dividend's sign; doubles and decimals are truncated.
        yes(doc! {"a": {"$mod": [4, 1]}}, doc! {"a": 9}),
        yes(doc! {"a": {"$mod": [4, -1]}}, doc! {"a": -5}),
        yes(doc! {"a": {"$mod": [4, 1]}}, doc! {"a": 9.9}),
        yes(doc! {"a": {"$mod": [4, 2]}}, doc! {"a": dec("6.5")}),
        yes(doc! {"a": {"$mod": [4.5, 1]}}, doc! {"a": 5}),
        no(doc! {"a": {"$mod": [2, 0]}}, doc! {"a": f64::NAN}),
        // Server (ModMatchExpression): a dividend beyond the range of a long matches nothing.
        no(doc! {"a": {"$mod": [2, 0]}}, doc! {"a": 1e300}),
    ]
}
