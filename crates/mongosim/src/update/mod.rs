//! Update documents: operators (`$set`, `$inc`, ...) and replacements, and
//! the `updateDescription` a change event reports for them.

mod arrays;
mod description;
mod operators;

pub use description::describe;
pub use operators::{apply_operators, is_operator_update};

use bson::Bson;

/// One change an update made, as the server logs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The path now holds a new value.
    Updated(String),
    /// The path was removed.
    Removed(String),
    /// The array at the path was cut to this length.
    Truncated(String, usize),
}

/// The value of `_id` must not change.
pub fn immutable_id(
    old: Option<&Bson>,
    new: Option<&Bson>,
) -> Result<(), crate::error::CommandError> {
    if old.is_some() && new.is_some() && old != new {
        return Err(crate::error::CommandError::new(
            66,
            "ImmutableField",
            "Performing an update on the path '_id' would modify the immutable field '_id'",
        ));
    }
    Ok(())
}
