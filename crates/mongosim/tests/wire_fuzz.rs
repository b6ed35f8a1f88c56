//! Fuzzing mongosim's message decoding (OP_MSG, OP_QUERY, the header) on
//! stable Rust: whatever bytes a client sends, decoding gives a request or a
//! protocol error, never a panic, and a header cannot make the server
//! allocate more than the largest message.
//!
//! The default run is short, for CI; the long run (1,000,000 cases each) is
//! `cargo test -p mongosim --test wire_fuzz -- --ignored`.

use bson::doc;
use mongosim::wire::{self, Header, MAX_MESSAGE_SIZE, OpCode, op_msg};
use proptest::prelude::*;

/// Cases per property in the default run.
const CI_CASES: u32 = 1000;
/// Cases per property in the long run (`--ignored`).
const LONG_CASES: u32 = 1_000_000;

fn long() -> ProptestConfig {
    ProptestConfig {
        cases: LONG_CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn header_bytes(op_code: OpCode, payload_len: usize) -> [u8; 16] {
    let mut out = Vec::new();
    Header {
        length: (Header::LEN + payload_len) as i32,
        request_id: 1,
        response_to: 0,
        op_code,
    }
    .write(&mut out);
    out.try_into().unwrap()
}

/// A valid OP_MSG payload: flags, a body, a document sequence, maybe a checksum.
fn valid_msg(checksum: bool) -> Vec<u8> {
    let flags: u32 = if checksum {
        op_msg::CHECKSUM_PRESENT
    } else {
        0
    };
    let mut p = flags.to_le_bytes().to_vec();
    p.push(0);
    doc! {"insert": "c", "$db": "d"}.to_writer(&mut p).unwrap();
    let mut seq = b"documents\0".to_vec();
    for n in 0..2 {
        doc! {"n": n}.to_writer(&mut seq).unwrap();
    }
    p.push(1);
    p.extend_from_slice(&((seq.len() + 4) as i32).to_le_bytes());
    p.extend_from_slice(&seq);
    if checksum {
        let header = header_bytes(OpCode::Msg, p.len() + 4);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&header), &p);
        p.extend_from_slice(&crc.to_le_bytes());
    }
    p
}

/// A valid OP_MSG, then cut, with bytes changed, or with bytes spliced in.
fn mutated_msg() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<bool>(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        0u8..3,
    )
        .prop_map(|(checksum, edits, how)| {
            let mut p = valid_msg(checksum);
            for (at, byte) in edits {
                if p.is_empty() {
                    break;
                }
                let at = at.index(p.len());
                match how {
                    0 => p[at] = byte,
                    1 => p.insert(at, byte),
                    _ => p.truncate(at),
                }
            }
            p
        })
}

fn op_code() -> impl Strategy<Value = OpCode> {
    prop_oneof![
        Just(OpCode::Msg),
        Just(OpCode::Query),
        Just(OpCode::Compressed),
        any::<i32>().prop_map(OpCode::from_i32),
    ]
}

/// Decodes a message of `op_code` with `payload`; the error, if any, is a protocol error.
fn decode_is_safe(op_code: OpCode, payload: &[u8]) -> Result<(), TestCaseError> {
    let header = header_bytes(op_code, payload.len());
    if let Err(e) = wire::decode(&header, payload) {
        prop_assert!(matches!(e, wire::WireError::Protocol(_)), "{e}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CI_CASES))]

    #[test]
    fn arbitrary_payloads(op_code in op_code(), payload in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_is_safe(op_code, &payload)?;
    }

    #[test]
    fn mutated_op_msgs(payload in mutated_msg()) {
        decode_is_safe(OpCode::Msg, &payload)?;
        let _ = op_msg::parse(&payload);
    }

    /// A header's length is checked before anything is allocated for the payload.
    #[test]
    fn headers_bound_the_payload(bytes in any::<[u8; 16]>()) {
        let header = Header::parse(&bytes);
        if let Ok(len) = wire::payload_len(&header) {
            prop_assert!(len <= MAX_MESSAGE_SIZE - Header::LEN);
        }
    }
}

proptest! {
    #![proptest_config(long())]

    #[test]
    #[ignore = "long fuzz run: cargo test -- --ignored"]
    fn arbitrary_payloads_long(op_code in op_code(), payload in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_is_safe(op_code, &payload)?;
    }

    #[test]
    #[ignore = "long fuzz run: cargo test -- --ignored"]
    fn mutated_op_msgs_long(payload in mutated_msg()) {
        decode_is_safe(OpCode::Msg, &payload)?;
    }

    #[test]
    #[ignore = "long fuzz run: cargo test -- --ignored"]
    fn headers_bound_the_payload_long(bytes in any::<[u8; 16]>()) {
        let header = Header::parse(&bytes);
        if let Ok(len) = wire::payload_len(&header) {
            prop_assert!(len <= MAX_MESSAGE_SIZE - Header::LEN);
        }
    }
}

#[test]
fn the_mutated_messages_are_valid() {
    for checksum in [false, true] {
        let p = valid_msg(checksum);
        let request = wire::decode(&header_bytes(OpCode::Msg, p.len()), &p).unwrap();
        assert!(matches!(request, wire::Request::Msg { .. }), "{request:?}");
    }
}
