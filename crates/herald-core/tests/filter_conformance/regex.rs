//! `$regex`: PCRE2 in UTF mode without UCP, as the server compiles patterns.
//!
//! Manual, "$regex": "MongoDB uses Perl compatible regular expressions
//! (i.e. "PCRE")", options `i`, `m`, `s`, `x` (and `u`); in PCRE without UCP
//! `\w`, `\d`, `\s` and `\b` are ASCII, `$` also matches before a final
//! newline, and `x` leaves whitespace inside a class alone (PCRE2 manual,
//! "pcre2pattern"). A stored regular expression matches a regex condition
//! only if pattern and options are equal (server: `RegexMatchExpression`).

use crate::{Case, no, re, yes};
use bson::doc;

pub fn cases() -> Vec<Case> {
    vec![
        no(doc! {"s": {"$regex": "^\\w+$"}}, doc! {"s": "café"}),
        yes(doc! {"s": {"$regex": "^\\w+$"}}, doc! {"s": "cafe_1"}),
        yes(doc! {"s": {"$regex": "^\\W$"}}, doc! {"s": "é"}),
        no(doc! {"s": {"$regex": "^\\d$"}}, doc! {"s": "\u{663}"}),
        no(doc! {"s": {"$regex": "\\s"}}, doc! {"s": "a\u{a0}b"}),
        no(doc! {"s": {"$regex": "\\bé"}}, doc! {"s": "é"}),
        yes(doc! {"s": {"$regex": "^[\\w.-]+$"}}, doc! {"s": "a.b-c"}),
        no(doc! {"s": {"$regex": "^[\\w.-]+$"}}, doc! {"s": "a.bé"}),
        // Caseless matching in UTF mode folds non-ASCII letters too.
        yes(
            doc! {"s": {"$regex": "^CAFÉ$", "$options": "i"}},
            doc! {"s": "café"},
        ),
        yes(
            doc! {"s": {"$regex": "^b", "$options": "m"}},
            doc! {"s": "a\nb"},
        ),
        no(doc! {"s": {"$regex": "^b"}}, doc! {"s": "a\nb"}),
        yes(
            doc! {"s": {"$regex": "a.b", "$options": "s"}},
            doc! {"s": "a\nb"},
        ),
        no(doc! {"s": {"$regex": "a.b"}}, doc! {"s": "a\nb"}),
        yes(
            doc! {"s": {"$regex": "^a b # note\n c$", "$options": "x"}},
            doc! {"s": "abc"},
        ),
        yes(
            doc! {"s": {"$regex": "^[a b]+$", "$options": "x"}},
            doc! {"s": "a b"},
        ),
        yes(doc! {"s": {"$regex": "abc$"}}, doc! {"s": "abc\n"}),
        yes(doc! {"s": {"$regex": "^[[]$"}}, doc! {"s": "["}),
        yes(doc! {"s": {"$regex": "^\\Qa.b\\E$"}}, doc! {"s": "a.b"}),
        no(doc! {"s": {"$regex": "^\\Qa.b\\E$"}}, doc! {"s": "axb"}),
        yes(doc! {"s": {"$regex": "^a\\h+b$"}}, doc! {"s": "a\u{a0}b"}),
        yes(doc! {"s": re("^abc", "")}, doc! {"s": "abcd"}),
        yes(doc! {"s": re("^abc", "")}, doc! {"s": ["x", "abcd"]}),
        yes(doc! {"s": re("abc", "")}, doc! {"s": re("abc", "")}),
        no(doc! {"s": re("abc", "")}, doc! {"s": re("abc", "i")}),
        yes(
            doc! {"s": {"$regex": re("abc", ""), "$options": "i"}},
            doc! {"s": "ABC"},
        ),
        yes(doc! {"s": {"$in": [re("^a", ""), 1]}}, doc! {"s": "ab"}),
        yes(doc! {"s": {"$not": re("^a", "")}}, doc! {"s": "b"}),
        yes(doc! {"s": {"$not": re("^a", "")}}, doc! {}),
        no(doc! {"s": {"$regex": "1"}}, doc! {"s": 1}),
        yes(
            doc! {"s": {"$regex": "é", "$options": "u"}},
            doc! {"s": "café"},
        ),
    ]
}
