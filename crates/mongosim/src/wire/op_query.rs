//! Legacy OP_QUERY (2004) and OP_REPLY (1), only for a first handshake
//! (`isMaster` on `admin.$cmd`) from drivers that still start that way.

use super::WireError;
use super::header::{Header, OpCode};
use bson::Document;

/// Parses an OP_QUERY payload into (full collection name, query document).
pub fn parse(payload: &[u8]) -> Result<(String, Document), WireError> {
    let protocol = |m: &str| WireError::Protocol(m.to_owned());
    if payload.len() < 4 {
        return Err(protocol("OP_QUERY too short"));
    }
    let rest = &payload[4..];
    let end = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| protocol("unterminated collection name"))?;
    let collection = std::str::from_utf8(&rest[..end])
        .map_err(|_| protocol("collection name is not UTF-8"))?
        .to_owned();
    let after = end + 1 + 8; // numberToSkip, numberToReturn
    let query_bytes = rest
        .get(after..)
        .ok_or_else(|| protocol("OP_QUERY truncated"))?;
    let query = Document::from_reader(query_bytes)
        .map_err(|e| WireError::Protocol(format!("invalid query BSON: {e}")))?;
    Ok((collection, query))
}

/// Encodes an OP_REPLY carrying one document.
pub fn encode_reply(request_id: i32, response_to: i32, doc: &Document) -> Vec<u8> {
    let mut bytes = Vec::new();
    doc.to_writer(&mut bytes).expect("replies always encode");
    let length = Header::LEN + 4 + 8 + 4 + 4 + bytes.len();
    let mut out = Vec::with_capacity(length);
    Header {
        length: length as i32,
        request_id,
        response_to,
        op_code: OpCode::Reply,
    }
    .write(&mut out);
    out.extend_from_slice(&0i32.to_le_bytes()); // responseFlags
    out.extend_from_slice(&0i64.to_le_bytes()); // cursorID
    out.extend_from_slice(&0i32.to_le_bytes()); // startingFrom
    out.extend_from_slice(&1i32.to_le_bytes()); // numberReturned
    out.extend_from_slice(&bytes);
    out
}
