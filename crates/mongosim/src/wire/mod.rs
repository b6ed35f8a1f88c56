//! The MongoDB wire protocol: message framing, OP_MSG, and the legacy
//! OP_QUERY/OP_REPLY pair some drivers still use for their first handshake.

pub mod header;
pub mod op_msg;
pub mod op_query;

pub use header::{Header, OpCode};

/// The largest message the server accepts (`maxMessageSizeBytes`).
pub const MAX_MESSAGE_SIZE: usize = 48_000_000;
/// The largest BSON document (`maxBsonObjectSize`).
pub const MAX_BSON_OBJECT_SIZE: usize = 16 * 1024 * 1024;
/// The most writes in one batch (`maxWriteBatchSize`).
pub const MAX_WRITE_BATCH_SIZE: usize = 100_000;

/// A request read off a connection.
#[derive(Debug)]
pub enum Request {
    /// An OP_MSG command: its body with document sequences folded in as arrays.
    Msg {
        /// The command document.
        body: bson::Document,
        /// OP_MSG flag bits (moreToCome, exhaustAllowed, ...).
        flags: u32,
    },
    /// A legacy OP_QUERY on `db.$cmd` (handshake only).
    Query {
        /// `db.$cmd`.
        collection: String,
        /// The command document.
        query: bson::Document,
    },
    /// A compressed message, which this server does not negotiate.
    Compressed,
}

/// A malformed message; the connection is closed after it.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// I/O failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The message breaks the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
}
