//! Where write commands read and write: the committed data (a write
//! outside a transaction, applied and logged at once) or a transaction
//! (buffered until commit). `insert`, `update`, `delete` and
//! `findAndModify` decide what to write the same way for both; a
//! [`Writer`] carries it out.
//!
//! - [`direct`]: outside a transaction. A write that touches what an open
//!   transaction wrote returns [`CommandError::blocked`]; the command waits
//!   for the transaction to end and retries (see
//!   [`crate::commands::wait`]).
//! - [`transactional`]: inside one, with conflict and unique-key checks.

pub mod direct;
pub mod transactional;

use crate::error::CommandError;
use crate::filter::Filter;
use crate::oplog::{Ns, Op};
use crate::state::State;
use crate::txn::{Transaction, TxnRef};
use bson::{Bson, Document, doc};

/// How a document changed, for its oplog entry and change event.
#[derive(Debug, Clone)]
pub enum Change {
    /// With update operators: `updateDescription`.
    Update(Document),
    /// Replaced whole.
    Replace,
}

impl Change {
    /// The oplog entry of `before` becoming `after` in `ns` this way, with
    /// pre- and post-images when the collection records them.
    fn op(self, ns: &Ns, before: &Document, after: Document, images: bool) -> Op {
        let key = document_key(before);
        match self {
            Change::Update(description) => Op::Update {
                ns: ns.clone(),
                key,
                description,
                pre: images.then(|| before.clone()),
                post: images.then_some(after),
            },
            Change::Replace => Op::Replace {
                ns: ns.clone(),
                key,
                doc: after,
                pre: images.then(|| before.clone()),
            },
        }
    }
}

/// A document's `documentKey`: `{_id}`.
fn document_key(doc: &Document) -> Document {
    doc! { "_id": doc.get("_id").cloned().unwrap_or(Bson::Null) }
}

/// Carries out a command's writes, in or outside a transaction.
pub struct Writer<'s> {
    state: &'s mut State,
    /// The transaction, checked out for the command.
    txn: Option<Transaction>,
    /// Set when a write error fails the transaction (the server aborts it).
    failed: bool,
}

impl<'s> Writer<'s> {
    /// A writer for a command, in the transaction `txn` if it has one.
    pub fn new(state: &'s mut State, txn: Option<&TxnRef>) -> Result<Self, CommandError> {
        let txn = txn.map(|t| state.txns.checkout(t)).transpose()?;
        Ok(Self {
            state,
            txn,
            failed: false,
        })
    }

    /// True inside a transaction.
    pub fn in_transaction(&self) -> bool {
        self.txn.is_some()
    }

    /// The state, for reads that do not depend on the transaction.
    pub fn state(&self) -> &State {
        self.state
    }

    /// Aborts the transaction when the command ends (a write error in a
    /// transaction fails it, as on the server).
    pub fn fail_transaction(&mut self) {
        self.failed = true;
    }

    /// The documents of `ns` that match, with their slots, in natural
    /// order (the first only if `one`), as this writer sees them.
    pub fn find(
        &mut self,
        ns: &Ns,
        filter: &Filter,
        one: bool,
    ) -> Result<Vec<(u64, Document)>, CommandError> {
        let mut out = Vec::new();
        let docs: Vec<(u64, Document)> = match &mut self.txn {
            None => self
                .state
                .catalog
                .get(&ns.db, &ns.coll)
                .map(|c| c.iter_slots().map(|(s, d)| (s, d.clone())).collect())
                .unwrap_or_default(),
            Some(txn) => {
                txn.touched.insert(ns.clone());
                self.state.transaction_view(txn, ns).into_iter().collect()
            }
        };
        for (slot, doc) in docs {
            if filter.matches(&doc)? {
                out.push((slot, doc));
                if one {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Inserts a document (which has its `_id`).
    pub fn insert(&mut self, ns: &Ns, doc: Document) -> Result<(), CommandError> {
        match &mut self.txn {
            None => direct::insert(self.state, ns, doc),
            Some(txn) => transactional::insert(self.state, txn, ns, doc),
        }
    }

    /// Replaces the document in `slot` (`before`, as this writer sees it).
    pub fn replace(
        &mut self,
        ns: &Ns,
        slot: u64,
        before: &Document,
        after: Document,
        change: Change,
    ) -> Result<(), CommandError> {
        match &mut self.txn {
            None => direct::replace(self.state, ns, slot, before, after, change),
            Some(txn) => transactional::replace(self.state, txn, ns, slot, before, after, change),
        }
    }

    /// Deletes the document in `slot` (`before`, as this writer sees it).
    pub fn delete(&mut self, ns: &Ns, slot: u64, before: Document) -> Result<(), CommandError> {
        match &mut self.txn {
            None => direct::delete(self.state, ns, slot, before),
            Some(txn) => transactional::delete(self.state, txn, ns, slot, before),
        }
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        if let Some(txn) = self.txn.take() {
            let txn_ref = TxnRef {
                key: txn.key.clone(),
                number: txn.number,
                started: false,
            };
            self.state.txns.checkin(txn);
            if self.failed {
                self.state.abort_transaction(&txn_ref);
            }
        }
    }
}
