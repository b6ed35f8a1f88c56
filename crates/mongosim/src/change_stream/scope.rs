//! What a stream watches, what it sees, and what invalidates it.

use crate::oplog::{Entry, Ns, Op};

/// A stream's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One collection.
    Collection(Ns),
    /// Every collection of a database.
    Database(String),
    /// Every database but `admin`, `config` and `local`.
    Cluster,
}

fn internal_db(db: &str) -> bool {
    matches!(db, "admin" | "config" | "local")
}

fn system_coll(coll: &str) -> bool {
    coll.starts_with("system.")
}

impl Scope {
    fn covers_ns(&self, ns: &Ns) -> bool {
        match self {
            Self::Collection(target) => target == ns,
            Self::Database(db) => *db == ns.db && !system_coll(&ns.coll),
            Self::Cluster => !internal_db(&ns.db) && !system_coll(&ns.coll),
        }
    }

    /// True if the stream reports this entry.
    pub fn sees(&self, entry: &Entry, show_expanded: bool) -> bool {
        match &entry.op {
            Op::Insert { ns, .. }
            | Op::Update { ns, .. }
            | Op::Replace { ns, .. }
            | Op::Delete { ns, .. }
            | Op::Drop { ns } => self.covers_ns(ns),
            Op::Create { ns } | Op::CreateIndexes { ns, .. } | Op::DropIndexes { ns, .. } => {
                show_expanded && self.covers_ns(ns)
            }
            Op::Rename { from, to } => {
                self.covers_ns(from) || (show_expanded && self.covers_ns(to))
            }
            Op::DropDatabase { db } => match self {
                Self::Collection(_) => false,
                Self::Database(target) => target == db,
                Self::Cluster => !internal_db(db),
            },
        }
    }

    /// True if this entry ends the stream (an invalidate event follows it).
    pub fn invalidated_by(&self, entry: &Entry) -> bool {
        match (&entry.op, self) {
            (Op::Drop { ns }, Self::Collection(target)) => ns == target,
            (Op::Rename { from, .. }, Self::Collection(target)) => from == target,
            (Op::DropDatabase { db }, Self::Collection(target)) => *db == target.db,
            (Op::DropDatabase { db }, Self::Database(target)) => db == target,
            _ => false,
        }
    }
}
