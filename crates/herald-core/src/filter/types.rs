//! `$type` selectors: BSON type numbers and their string aliases.

use bson::RawBsonRef;

/// One `$type` operand: a BSON type number, or `"number"` for every numeric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeSelector {
    Code(i32),
    Number,
}

const ALIASES: [(&str, i32); 21] = [
    ("double", 1),
    ("string", 2),
    ("object", 3),
    ("array", 4),
    ("binData", 5),
    ("undefined", 6),
    ("objectId", 7),
    ("bool", 8),
    ("date", 9),
    ("null", 10),
    ("regex", 11),
    ("dbPointer", 12),
    ("javascript", 13),
    ("symbol", 14),
    ("javascriptWithScope", 15),
    ("int", 16),
    ("timestamp", 17),
    ("long", 18),
    ("decimal", 19),
    ("minKey", -1),
    ("maxKey", 127),
];

impl TypeSelector {
    pub(crate) fn from_alias(alias: &str) -> Option<Self> {
        if alias == "number" {
            return Some(Self::Number);
        }
        ALIASES
            .iter()
            .find(|(name, _)| *name == alias)
            .map(|&(_, code)| Self::Code(code))
    }

    /// A type code: -1 (MinKey), 1 to 19, or 127 (MaxKey).
    pub(crate) fn from_code(code: i64) -> Option<Self> {
        ALIASES
            .iter()
            .find(|&&(_, c)| i64::from(c) == code)
            .map(|&(_, c)| Self::Code(c))
    }

    pub(crate) fn matches(self, value: RawBsonRef<'_>) -> bool {
        let code = type_code(value);
        match self {
            Self::Number => matches!(code, 1 | 16 | 18 | 19),
            Self::Code(wanted) => wanted == code,
        }
    }
}

fn type_code(value: RawBsonRef<'_>) -> i32 {
    match value {
        RawBsonRef::Double(_) => 1,
        RawBsonRef::String(_) => 2,
        RawBsonRef::Document(_) => 3,
        RawBsonRef::Array(_) => 4,
        RawBsonRef::Binary(_) => 5,
        RawBsonRef::Undefined => 6,
        RawBsonRef::ObjectId(_) => 7,
        RawBsonRef::Boolean(_) => 8,
        RawBsonRef::DateTime(_) => 9,
        RawBsonRef::Null => 10,
        RawBsonRef::RegularExpression(_) => 11,
        RawBsonRef::DbPointer(_) => 12,
        RawBsonRef::JavaScriptCode(_) => 13,
        RawBsonRef::Symbol(_) => 14,
        RawBsonRef::JavaScriptCodeWithScope(_) => 15,
        RawBsonRef::Int32(_) => 16,
        RawBsonRef::Timestamp(_) => 17,
        RawBsonRef::Int64(_) => 18,
        RawBsonRef::Decimal128(_) => 19,
        RawBsonRef::MinKey => -1,
        RawBsonRef::MaxKey => 127,
    }
}
