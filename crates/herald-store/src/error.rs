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
    /// sled failed (I/O error, disk full, ...).
    #[error("store I/O failed: {0}")]
    Sled(#[from] sled::Error),
}
