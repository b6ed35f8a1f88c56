//! The `operationType` of a change event.
//!
//! MongoDB adds operation types over time (`createIndexes`, `modify`, ...
//! with `showExpandedEvents`), so an unknown one is kept by name and passed
//! through; dropping event kinds silently is a classic change-stream bug.

use std::fmt;

/// The kind of change an event describes.
///
/// ```
/// use herald_core::OperationType;
/// assert_eq!(OperationType::parse("insert"), OperationType::Insert);
/// assert_eq!(OperationType::parse("modify").as_str(), "modify");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OperationType {
    /// A document was inserted.
    Insert,
    /// A document was updated with operators (`updateDescription` present).
    Update,
    /// A document was replaced whole.
    Replace,
    /// A document was deleted.
    Delete,
    /// A collection was dropped.
    Drop,
    /// A collection was renamed (`to` names the new namespace).
    Rename,
    /// A database was dropped.
    DropDatabase,
    /// The stream can no longer continue (after drop, rename or dropDatabase).
    Invalidate,
    /// Any other kind, kept by its name.
    Other(String),
}

impl OperationType {
    /// The kinds herald knows by name, in the spelling MongoDB uses.
    pub const KNOWN: [&'static str; 8] = [
        "insert",
        "update",
        "replace",
        "delete",
        "drop",
        "rename",
        "dropDatabase",
        "invalidate",
    ];

    /// Maps MongoDB's spelling to the enum; unknown names become [`OperationType::Other`].
    pub fn parse(name: &str) -> Self {
        match name {
            "insert" => Self::Insert,
            "update" => Self::Update,
            "replace" => Self::Replace,
            "delete" => Self::Delete,
            "drop" => Self::Drop,
            "rename" => Self::Rename,
            "dropDatabase" => Self::DropDatabase,
            "invalidate" => Self::Invalidate,
            other => Self::Other(other.to_owned()),
        }
    }

    /// MongoDB's spelling of this kind.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Replace => "replace",
            Self::Delete => "delete",
            Self::Drop => "drop",
            Self::Rename => "rename",
            Self::DropDatabase => "dropDatabase",
            Self::Invalidate => "invalidate",
            Self::Other(name) => name,
        }
    }

    /// True for the kinds that change one document (and so carry `documentKey`).
    pub fn is_document_change(&self) -> bool {
        matches!(
            self,
            Self::Insert | Self::Update | Self::Replace | Self::Delete
        )
    }
}

impl fmt::Display for OperationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_round_trip() {
        for name in OperationType::KNOWN {
            let op = OperationType::parse(name);
            assert!(!matches!(op, OperationType::Other(_)), "{name}");
            assert_eq!(op.as_str(), name);
        }
    }

    #[test]
    fn unknown_kinds_are_kept() {
        let op = OperationType::parse("createIndexes");
        assert_eq!(op, OperationType::Other("createIndexes".into()));
        assert_eq!(op.to_string(), "createIndexes");
        assert!(!op.is_document_change());
    }
}
