//! Resume tokens: `{_data: "<hex>"}`, as servers send them.
//!
//! The hex string holds the entry's cluster time, its oplog position and
//! whether the token is for an invalidate; fixed width, so that tokens sort
//! by position as strings do. Clients must treat it as opaque.

use crate::error::CommandError;
use bson::{Bson, Document, Timestamp, doc};

/// What a token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenData {
    /// The entry's operation time.
    pub ts: Timestamp,
    /// The oplog position the token stands at (resuming continues after it).
    pub seq: u64,
    /// True for the token of an invalidate event.
    pub invalidate: bool,
}

impl TokenData {
    /// The token document.
    pub fn to_document(self) -> Document {
        doc! { "_data": format!("82{:08X}{:08X}{:016X}{:02X}", self.ts.time, self.ts.increment, self.seq, u8::from(self.invalidate)) }
    }

    /// Reads a token that this server issued.
    pub fn parse(token: &Bson) -> Result<Self, CommandError> {
        let bad = || CommandError::invalid_resume_token(format!("Invalid resume token: {token}"));
        let Bson::Document(doc) = token else {
            return Err(bad());
        };
        let data = doc.get_str("_data").map_err(|_| bad())?;
        if data.len() != 36 || !data.starts_with("82") {
            return Err(bad());
        }
        let hex = |range: std::ops::Range<usize>| {
            u64::from_str_radix(&data[range], 16).map_err(|_| bad())
        };
        Ok(Self {
            ts: Timestamp {
                time: hex(2..10)? as u32,
                increment: hex(10..18)? as u32,
            },
            seq: hex(18..34)?,
            invalidate: match hex(34..36)? {
                0 => false,
                1 => true,
                _ => return Err(bad()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_order() {
        let a = TokenData {
            ts: Timestamp {
                time: 5,
                increment: 1,
            },
            seq: 9,
            invalidate: false,
        };
        let b = TokenData {
            ts: Timestamp {
                time: 5,
                increment: 2,
            },
            seq: 10,
            invalidate: true,
        };
        assert_eq!(
            TokenData::parse(&Bson::Document(a.to_document())).unwrap(),
            a
        );
        assert_eq!(
            TokenData::parse(&Bson::Document(b.to_document())).unwrap(),
            b
        );
        assert!(
            a.to_document().get_str("_data").unwrap() < b.to_document().get_str("_data").unwrap()
        );
        assert_eq!(
            TokenData::parse(&Bson::Document(doc! {"_data": "zz"}))
                .unwrap_err()
                .code,
            260
        );
    }
}
