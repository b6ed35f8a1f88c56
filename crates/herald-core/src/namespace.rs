//! Namespaces (`db.coll`) and watch targets (`db.coll`, `db`, `*`).

use std::fmt;
use std::str::FromStr;

/// A database, or a collection within one, as in an event's `ns` field.
///
/// ```
/// use herald_core::Namespace;
/// let ns: Namespace = "finance.expenses".parse().unwrap();
/// assert_eq!(ns.db, "finance");
/// assert_eq!(ns.coll.as_deref(), Some("expenses"));
/// assert_eq!(ns.to_string(), "finance.expenses");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace {
    /// The database name.
    pub db: String,
    /// The collection name; absent for database-level events such as `dropDatabase`.
    pub coll: Option<String>,
}

/// A namespace or watch target that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid namespace {input:?}: {reason}")]
pub struct NamespaceError {
    /// What was given.
    pub input: String,
    /// Why it is not valid.
    pub reason: &'static str,
}

impl Namespace {
    /// A collection namespace.
    pub fn collection(db: impl Into<String>, coll: impl Into<String>) -> Self {
        Self {
            db: db.into(),
            coll: Some(coll.into()),
        }
    }
}

/// The longest database name MongoDB accepts, in bytes.
pub const MAX_DATABASE_NAME: usize = 63;
/// The longest `database.collection` MongoDB accepts, in bytes.
pub const MAX_NAMESPACE: usize = 255;

impl FromStr for Namespace {
    type Err = NamespaceError;

    /// Parses `db` or `db.coll`; the collection is everything after the first dot,
    /// as MongoDB allows dots in collection names but not in database names.
    /// Names MongoDB refuses are refused here, with the rule they break.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| NamespaceError {
            input: s.to_owned(),
            reason,
        };
        let (db, coll) = match s.split_once('.') {
            Some((db, coll)) => (db, Some(coll)),
            None => (s, None),
        };
        if db.is_empty() {
            return Err(err("the database name is empty"));
        }
        if db.contains(['/', '\\', ' ', '"', '$', '\0']) {
            return Err(err("database names cannot contain / \\ space \" $ or NUL"));
        }
        if db.len() > MAX_DATABASE_NAME {
            return Err(err("database names are at most 63 bytes"));
        }
        if let Some(coll) = coll {
            if coll.is_empty() {
                return Err(err("the collection name after the dot is empty"));
            }
            if coll.starts_with('.') {
                return Err(err("collection names cannot begin with a dot"));
            }
            if coll.contains(['$', '\0']) {
                return Err(err("collection names cannot contain $ or NUL"));
            }
            if s.len() > MAX_NAMESPACE {
                return Err(err(
                    "a namespace (database.collection) is at most 255 bytes",
                ));
            }
        }
        Ok(Self {
            db: db.to_owned(),
            coll: coll.map(str::to_owned),
        })
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.coll {
            Some(coll) => write!(f, "{}.{}", self.db, coll),
            None => f.write_str(&self.db),
        }
    }
}

/// What a rule watches: one collection, one database, or the whole cluster.
///
/// ```
/// use herald_core::{Namespace, WatchTarget};
/// let db: WatchTarget = "finance".parse().unwrap();
/// assert!(db.covers(&"finance.expenses".parse::<Namespace>().unwrap()));
/// assert!(!db.covers(&"hr.people".parse::<Namespace>().unwrap()));
/// assert!(WatchTarget::Cluster.covers(&"hr.people".parse::<Namespace>().unwrap()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WatchTarget {
    /// `db.coll`: one collection.
    Collection(Namespace),
    /// `db`: every collection of one database.
    Database(String),
    /// `*`: the whole deployment.
    Cluster,
}

impl WatchTarget {
    /// True if every event of `other` is also an event of this target.
    ///
    /// ```
    /// use herald_core::WatchTarget;
    /// let db: WatchTarget = "shop".parse().unwrap();
    /// assert!(db.contains(&"shop.orders".parse().unwrap()));
    /// assert!(!db.contains(&"hr.people".parse().unwrap()));
    /// assert!(WatchTarget::Cluster.contains(&db));
    /// ```
    pub fn contains(&self, other: &WatchTarget) -> bool {
        match (self, other) {
            (Self::Cluster, _) => true,
            (Self::Database(db), Self::Database(o)) => db == o,
            (Self::Database(db), Self::Collection(ns)) => *db == ns.db,
            (Self::Collection(a), Self::Collection(b)) => a == b,
            _ => false,
        }
    }

    /// True if an event in `ns` belongs to this target.
    pub fn covers(&self, ns: &Namespace) -> bool {
        match self {
            Self::Cluster => true,
            Self::Database(db) => *db == ns.db,
            Self::Collection(target) => target == ns || (target.db == ns.db && ns.coll.is_none()),
        }
    }
}

impl FromStr for WatchTarget {
    type Err = NamespaceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "*" {
            return Ok(Self::Cluster);
        }
        let ns: Namespace = s.parse()?;
        Ok(match ns.coll {
            Some(_) => Self::Collection(ns),
            None => Self::Database(ns.db),
        })
    }
}

impl fmt::Display for WatchTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Collection(ns) => ns.fmt(f),
            Self::Database(db) => f.write_str(db),
            Self::Cluster => f.write_str("*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_may_contain_dots() {
        let ns: Namespace = "db.system.views".parse().unwrap();
        assert_eq!(ns.coll.as_deref(), Some("system.views"));
    }

    #[test]
    fn bad_namespaces_say_why() {
        assert!("".parse::<Namespace>().is_err());
        assert!(".c".parse::<Namespace>().is_err());
        let err = "db.".parse::<Namespace>().unwrap_err();
        assert!(err.to_string().contains("collection name"), "{err}");
        for (bad, why) in [
            ("a..b", "begin with a dot"),
            ("a.b$c", "$ or NUL"),
            ("a b.c", "space"),
            (&"d".repeat(64), "63 bytes"),
            (&format!("db.{}", "c".repeat(253)), "255 bytes"),
        ] {
            let err = bad.parse::<Namespace>().unwrap_err();
            assert!(err.to_string().contains(why), "{bad}: {err}");
        }
        assert!(
            format!("db.{}", "c".repeat(252))
                .parse::<Namespace>()
                .is_ok()
        );
        assert!("d".repeat(63).parse::<Namespace>().is_ok());
    }

    #[test]
    fn database_events_reach_collection_watchers() {
        // dropDatabase carries ns {db} only and invalidates collection streams of that database.
        let target: WatchTarget = "shop.orders".parse().unwrap();
        assert!(target.covers(&"shop".parse().unwrap()));
        assert!(!target.covers(&"shop.users".parse().unwrap()));
    }
}
