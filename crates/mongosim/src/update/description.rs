//! `updateDescription`, from the changes an update made.

use super::Change;
use crate::paths;
use bson::{Bson, Document, doc};

/// Builds `{updatedFields, removedFields, truncatedArrays}` for an update event.
///
/// Like the server's delta log: a changed path appears once, with its final
/// value; appended array elements appear as `field.N`; a removed path
/// appears in `removedFields`; an array cut short appears in `truncatedArrays`.
pub fn describe(after: &Document, changes: &[Change]) -> Document {
    let mut updated = Document::new();
    let mut removed: Vec<String> = Vec::new();
    let mut truncated: Vec<Bson> = Vec::new();
    for change in changes {
        match change {
            Change::Updated(path) => {
                removed.retain(|p| p != path);
                if let Some(value) = paths::get(after, path) {
                    updated.insert(path.clone(), value.clone());
                }
            }
            Change::Removed(path) => {
                updated.remove(path);
                if !removed.contains(path) {
                    removed.push(path.clone());
                }
            }
            Change::Truncated(path, size) => truncated.push(Bson::Document(
                doc! { "field": path, "newSize": *size as i32 },
            )),
        }
    }
    doc! {
        "updatedFields": updated,
        "removedFields": removed,
        "truncatedArrays": truncated,
    }
}
