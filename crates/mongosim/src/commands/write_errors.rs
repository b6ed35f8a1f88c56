//! The `writeErrors` of a batch write (`insert`, `update`, `delete`), and
//! what a failed statement does to the statements after it.
//!
//! As on the server: an ordered batch stops at its first failed statement,
//! an unordered one goes on; inside a transaction a failed statement aborts
//! the transaction, so nothing after it runs. Some errors fail the whole
//! command instead of one statement: a write that must wait for another
//! transaction (the command waits and retries, see [`super::wait`]) and a
//! write conflict inside a transaction (labelled for retrying the
//! transaction).

use crate::error::CommandError;
use crate::writer::Writer;
use bson::{Document, doc};

/// A batch write's failed statements.
pub struct WriteErrors {
    /// `ordered` (default true): the first failed statement ends the batch.
    ordered: bool,
    /// One `writeErrors` entry per failed statement.
    entries: Vec<Document>,
}

impl WriteErrors {
    /// No errors yet, for the batch `cmd`.
    pub fn new(cmd: &Document) -> Self {
        Self {
            ordered: cmd.get_bool("ordered").unwrap_or(true),
            entries: Vec::new(),
        }
    }

    /// Records that statement `index` failed with `error`. Returns whether
    /// the batch goes on with the next statement, or the error itself when
    /// it fails the whole command.
    pub fn record(
        &mut self,
        w: &mut Writer<'_>,
        index: usize,
        error: CommandError,
    ) -> Result<bool, CommandError> {
        if error.is_blocked() || (w.in_transaction() && error.code == 112) {
            return Err(error);
        }
        let mut entry =
            doc! { "index": index as i32, "code": error.code, "errmsg": &error.message };
        if let Some(info) = &error.info {
            entry.extend(info.as_ref().clone());
        }
        self.entries.push(entry);
        if w.in_transaction() {
            w.fail_transaction();
            return Ok(false);
        }
        Ok(!self.ordered)
    }

    /// Adds `writeErrors` to the reply, if any statement failed.
    pub fn reply(self, reply: &mut Document) {
        if !self.entries.is_empty() {
            reply.insert("writeErrors", self.entries);
        }
    }
}
