//! Store errors: each says what happened and what to do.

use std::path::PathBuf;

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory holds something that is not a herald store.
    #[error(
        "{path} is not a herald store (it has other files in it); point --store at an empty or new directory"
    )]
    Foreign {
        /// The directory.
        path: PathBuf,
    },
    /// A file (not a directory) is where the store should be.
    #[error("{path} is a file, not a store directory; point --store at an empty or new directory")]
    NotADirectory {
        /// The file.
        path: PathBuf,
    },
    /// Another process has the store open.
    #[error(
        "the store at {path} is in use by another process (one herald at a time may open a store); stop it, or point --store elsewhere"
    )]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// The store was written by a newer herald.
    #[error(
        "{path} was written by a newer herald (store format {found}, this herald reads format {supported}); upgrade herald"
    )]
    NewerFormat {
        /// The directory.
        path: PathBuf,
        /// The format found.
        found: u32,
        /// The format this build reads.
        supported: u32,
    },
    /// The store's files are damaged.
    #[error(
        "the store at {path} is damaged: {reason}; restore it from a backup, or move it aside to start afresh (events are then replayed from the source's start position)"
    )]
    Corrupt {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A stored value cannot be decoded.
    #[error("a stored {what} cannot be decoded: {reason}")]
    BadValue {
        /// Which kind of value.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The MongoDB store failed (unreachable, not a replica set, a
    /// transaction that kept failing, ...).
    #[error("the store in {location} failed: {reason}")]
    Mongo {
        /// The database, as `mongodb database NAME`.
        location: String,
        /// What the driver or server said.
        reason: String,
    },
    /// A commit's lease is no longer held (cluster mode): nothing of the
    /// commit was written.
    #[error("nothing was committed: this instance no longer holds the lease {lease} ({reason})")]
    Fenced {
        /// The lease.
        lease: String,
        /// Why it is not held.
        reason: String,
    },
    /// sled failed (I/O error, disk full, ...).
    #[error("store I/O failed: {0}")]
    Sled(#[from] sled::Error),
}

impl StoreError {
    /// True if the store on disk is unusable as given (not a store, in use,
    /// too new, damaged, a value that cannot be decoded): a person must act
    /// before herald can run. False for I/O failures while running, which
    /// may pass (the CLI exits 2 for the first, 1 for the second).
    ///
    /// ```
    /// use herald_store::StoreError;
    /// let locked = StoreError::Locked { path: "/var/lib/herald".into() };
    /// assert!(locked.is_bad_input());
    /// let io = StoreError::Sled(sled::Error::Io(std::io::Error::other("disk full")));
    /// assert!(!io.is_bad_input());
    /// ```
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::Foreign { .. }
            | Self::NotADirectory { .. }
            | Self::Locked { .. }
            | Self::NewerFormat { .. }
            | Self::Corrupt { .. }
            | Self::BadValue { .. } => true,
            Self::Sled(_) | Self::Mongo { .. } | Self::Fenced { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_failing_disk_is_not_bad_input() {
        let path = PathBuf::from("/s");
        let bad = [
            StoreError::Foreign { path: path.clone() },
            StoreError::Locked { path: path.clone() },
            StoreError::NewerFormat {
                path: path.clone(),
                found: 4,
                supported: 3,
            },
            StoreError::Corrupt {
                path,
                reason: "x".into(),
            },
            StoreError::BadValue {
                what: "checkpoint",
                reason: "x".into(),
            },
        ];
        assert_eq!(bad.iter().filter(|e| e.is_bad_input()).count(), 5);
        let io = StoreError::Sled(sled::Error::Io(std::io::Error::other("boom")));
        assert!(!io.is_bad_input());
    }
}
