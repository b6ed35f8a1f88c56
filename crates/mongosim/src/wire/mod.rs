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

/// The payload length a header announces (the message less its header),
/// refused outside `16..=MAX_MESSAGE_SIZE` before anything is allocated.
pub fn payload_len(header: &Header) -> Result<usize, WireError> {
    let length = usize::try_from(header.length).unwrap_or(0);
    if !(Header::LEN..=MAX_MESSAGE_SIZE).contains(&length) {
        return Err(WireError::Protocol(format!(
            "message length {} is outside 16..={MAX_MESSAGE_SIZE}",
            header.length
        )));
    }
    Ok(length - Header::LEN)
}

/// Decodes one message from its header and payload: the request, or why it
/// breaks the protocol. Pure, so that it can be fuzzed apart from a socket.
pub fn decode(header_bytes: &[u8; Header::LEN], payload: &[u8]) -> Result<Request, WireError> {
    let header = Header::parse(header_bytes);
    Ok(match header.op_code {
        OpCode::Msg => {
            let (body, flags) = op_msg::parse(payload)?;
            if flags & op_msg::CHECKSUM_PRESENT != 0
                && !op_msg::verify_checksum(header_bytes, payload)
            {
                return Err(WireError::Protocol("OP_MSG checksum mismatch".into()));
            }
            Request::Msg { body, flags }
        }
        OpCode::Query => {
            let (collection, query) = op_query::parse(payload)?;
            if !collection.ends_with(".$cmd") {
                return Err(WireError::Protocol(format!(
                    "legacy OP_QUERY on {collection} is not supported; only commands"
                )));
            }
            Request::Query { collection, query }
        }
        OpCode::Compressed => Request::Compressed,
        other => {
            return Err(WireError::Protocol(format!(
                "unsupported opCode {}",
                other.as_i32()
            )));
        }
    })
}
