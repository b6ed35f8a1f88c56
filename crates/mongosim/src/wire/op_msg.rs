//! OP_MSG (opCode 2013): flag bits, sections of kind 0 (body) and 1
//! (document sequence), and the optional CRC-32C checksum.

use super::WireError;
use super::header::{Header, OpCode};
use bson::{Bson, Document};

/// The checksumPresent flag bit.
pub const CHECKSUM_PRESENT: u32 = 1;
/// The moreToCome flag bit: no reply is expected.
pub const MORE_TO_COME: u32 = 1 << 1;

fn protocol(message: impl Into<String>) -> WireError {
    WireError::Protocol(message.into())
}

fn read_cstring(bytes: &[u8]) -> Result<(&str, usize), WireError> {
    let end = bytes
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| protocol("unterminated C string"))?;
    let text = std::str::from_utf8(&bytes[..end]).map_err(|_| protocol("C string is not UTF-8"))?;
    Ok((text, end + 1))
}

fn document_at(bytes: &[u8]) -> Result<(Document, usize), WireError> {
    if bytes.len() < 5 {
        return Err(protocol("truncated BSON document"));
    }
    let len = i32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
    let len = usize::try_from(len).map_err(|_| protocol("negative BSON length"))?;
    if len < 5 || len > bytes.len() {
        return Err(protocol("BSON length out of bounds"));
    }
    let doc =
        Document::from_reader(&bytes[..len]).map_err(|e| protocol(format!("invalid BSON: {e}")))?;
    Ok((doc, len))
}

/// Parses an OP_MSG payload (everything after the header).
pub fn parse(payload: &[u8]) -> Result<(Document, u32), WireError> {
    if payload.len() < 5 {
        return Err(protocol("OP_MSG too short"));
    }
    let flags = u32::from_le_bytes(payload[..4].try_into().expect("4 bytes"));
    let mut end = payload.len();
    if flags & CHECKSUM_PRESENT != 0 {
        if end < 8 {
            return Err(protocol("OP_MSG checksum missing"));
        }
        end -= 4;
        // The checksum covers the whole message, header included; the header is not
        // here, so it is verified by the caller via [`verify_checksum`].
    }
    let unknown_required = flags & 0xffff & !(CHECKSUM_PRESENT | MORE_TO_COME);
    if unknown_required != 0 {
        return Err(protocol(format!(
            "unknown required OP_MSG flag bits {unknown_required:#x}"
        )));
    }
    let mut body: Option<Document> = None;
    let mut sequences: Vec<(String, Vec<Bson>)> = Vec::new();
    let mut at = 4;
    while at < end {
        let kind = payload[at];
        at += 1;
        match kind {
            0 => {
                if body.is_some() {
                    return Err(protocol("OP_MSG has two body sections"));
                }
                let (doc, len) = document_at(&payload[at..end])?;
                body = Some(doc);
                at += len;
            }
            1 => {
                let size = i32::from_le_bytes(
                    payload
                        .get(at..at + 4)
                        .ok_or_else(|| protocol("truncated section"))?
                        .try_into()
                        .expect("4 bytes"),
                );
                let size = usize::try_from(size).map_err(|_| protocol("negative section size"))?;
                let section_end = at + size;
                if size < 5 || section_end > end {
                    return Err(protocol("section size out of bounds"));
                }
                let (identifier, used) = read_cstring(&payload[at + 4..section_end])?;
                let mut docs = Vec::new();
                let mut pos = at + 4 + used;
                while pos < section_end {
                    let (doc, len) = document_at(&payload[pos..section_end])?;
                    docs.push(Bson::Document(doc));
                    pos += len;
                }
                sequences.push((identifier.to_owned(), docs));
                at = section_end;
            }
            other => return Err(protocol(format!("unknown OP_MSG section kind {other}"))),
        }
    }
    let mut body = body.ok_or_else(|| protocol("OP_MSG has no body section"))?;
    for (identifier, docs) in sequences {
        if body.contains_key(&identifier) {
            return Err(protocol(format!(
                "document sequence {identifier:?} duplicates a body field"
            )));
        }
        body.insert(identifier, docs);
    }
    Ok((body, flags))
}

/// Checks the CRC-32C of a whole message (header and payload) whose last 4 bytes are the checksum.
pub fn verify_checksum(header_bytes: &[u8; 16], payload: &[u8]) -> bool {
    let (data, sum) = payload.split_at(payload.len() - 4);
    let expected = u32::from_le_bytes(sum.try_into().expect("4 bytes"));
    let crc = crc32c::crc32c_append(crc32c::crc32c(header_bytes), data);
    crc == expected
}

/// Encodes a reply: flags 0, one body section.
pub fn encode(request_id: i32, response_to: i32, body: &Document) -> Vec<u8> {
    let mut doc = Vec::new();
    body.to_writer(&mut doc).expect("replies always encode");
    let length = Header::LEN + 4 + 1 + doc.len();
    let mut out = Vec::with_capacity(length);
    Header {
        length: length as i32,
        request_id,
        response_to,
        op_code: OpCode::Msg,
    }
    .write(&mut out);
    out.extend_from_slice(&0u32.to_le_bytes());
    out.push(0);
    out.extend_from_slice(&doc);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn payload(flags: u32, sections: &[Vec<u8>]) -> Vec<u8> {
        let mut p = flags.to_le_bytes().to_vec();
        for s in sections {
            p.extend_from_slice(s);
        }
        p
    }

    fn body_section(d: &Document) -> Vec<u8> {
        let mut s = vec![0u8];
        d.to_writer(&mut s).unwrap();
        s
    }

    fn sequence_section(id: &str, docs: &[Document]) -> Vec<u8> {
        let mut inner = id.as_bytes().to_vec();
        inner.push(0);
        for d in docs {
            d.to_writer(&mut inner).unwrap();
        }
        let mut s = vec![1u8];
        s.extend_from_slice(&((inner.len() + 4) as i32).to_le_bytes());
        s.extend_from_slice(&inner);
        s
    }

    #[test]
    fn document_sequences_become_arrays() {
        let p = payload(
            0,
            &[
                body_section(&doc! {"insert": "c", "$db": "d"}),
                sequence_section("documents", &[doc! {"a": 1}, doc! {"a": 2}]),
            ],
        );
        let (body, flags) = parse(&p).unwrap();
        assert_eq!(flags, 0);
        assert_eq!(
            body,
            doc! {"insert": "c", "$db": "d", "documents": [{"a": 1}, {"a": 2}]}
        );
    }

    #[test]
    fn checksums_are_verified() {
        let p = payload(CHECKSUM_PRESENT, &[body_section(&doc! {"ping": 1})]);
        let mut header = Vec::new();
        Header {
            length: (16 + p.len() + 4) as i32,
            request_id: 1,
            response_to: 0,
            op_code: OpCode::Msg,
        }
        .write(&mut header);
        let header: [u8; 16] = header.try_into().unwrap();
        let crc = crc32c::crc32c_append(crc32c::crc32c(&header), &p);
        let mut with_sum = p.clone();
        with_sum.extend_from_slice(&crc.to_le_bytes());
        assert!(verify_checksum(&header, &with_sum));
        assert_eq!(parse(&with_sum).unwrap().0, doc! {"ping": 1});
        with_sum[6] ^= 1;
        assert!(!verify_checksum(&header, &with_sum));
    }

    #[test]
    fn malformed_messages_are_errors() {
        assert!(parse(&payload(0, &[])).is_err());
        assert!(parse(&payload(0, &[vec![7]])).is_err());
        assert!(
            parse(&payload(1 << 3, &[body_section(&doc! {"ping": 1})])).is_err(),
            "unknown required bit"
        );
        let mut truncated = body_section(&doc! {"ping": 1});
        truncated.truncate(6);
        assert!(parse(&payload(0, &[truncated])).is_err());
    }
}
