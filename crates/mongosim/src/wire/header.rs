//! The 16-byte standard message header.

/// A message's opCode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    /// 1: OP_REPLY (replies to OP_QUERY).
    Reply,
    /// 2004: OP_QUERY (legacy).
    Query,
    /// 2012: OP_COMPRESSED.
    Compressed,
    /// 2013: OP_MSG.
    Msg,
    /// Anything else.
    Other(i32),
}

impl OpCode {
    /// Decodes the numeric opCode.
    pub fn from_i32(code: i32) -> Self {
        match code {
            1 => Self::Reply,
            2004 => Self::Query,
            2012 => Self::Compressed,
            2013 => Self::Msg,
            other => Self::Other(other),
        }
    }

    /// The numeric opCode.
    pub fn as_i32(self) -> i32 {
        match self {
            Self::Reply => 1,
            Self::Query => 2004,
            Self::Compressed => 2012,
            Self::Msg => 2013,
            Self::Other(code) => code,
        }
    }
}

/// The standard message header.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    /// Total message length, header included.
    pub length: i32,
    /// The sender's id for this message.
    pub request_id: i32,
    /// The request this replies to.
    pub response_to: i32,
    /// The message type.
    pub op_code: OpCode,
}

impl Header {
    /// Size of the header in bytes.
    pub const LEN: usize = 16;

    /// Decodes a header.
    pub fn parse(bytes: &[u8; 16]) -> Self {
        let int = |i: usize| i32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        Self {
            length: int(0),
            request_id: int(4),
            response_to: int(8),
            op_code: OpCode::from_i32(int(12)),
        }
    }

    /// Appends the encoded header.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.length.to_le_bytes());
        out.extend_from_slice(&self.request_id.to_le_bytes());
        out.extend_from_slice(&self.response_to.to_le_bytes());
        out.extend_from_slice(&self.op_code.as_i32().to_le_bytes());
    }
}
