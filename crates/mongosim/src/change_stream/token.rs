//! Resume tokens: `{_data: "<hex>"}`, as servers send them.
//!
//! The hex string holds the entry's cluster time, its oplog position,
//! whether the token is for an invalidate and, for a fragment of a split
//! event, the fragment's index; fixed width, so that tokens sort by position
//! as strings do (an event's fragments after the event, before its
//! invalidate and the next entry). Clients must treat it as opaque.

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
    /// For a fragment of a split event: its index, from 0 (the server's `fragmentNum`).
    pub fragment: Option<u32>,
}

impl TokenData {
    /// The token document.
    pub fn to_document(self) -> Document {
        let mut data = format!(
            "82{:08X}{:08X}{:016X}{:02X}",
            self.ts.time,
            self.ts.increment,
            self.seq,
            u8::from(self.invalidate)
        );
        if let Some(fragment) = self.fragment {
            data.push_str(&format!("{fragment:08X}"));
        }
        doc! { "_data": data }
    }

    /// The token of the entry at `seq`, written at `ts`.
    pub fn at(ts: Timestamp, seq: u64) -> Self {
        Self {
            ts,
            seq,
            invalidate: false,
            fragment: None,
        }
    }

    /// Reads a token that this server issued.
    pub fn parse(token: &Bson) -> Result<Self, CommandError> {
        let bad = || CommandError::invalid_resume_token(format!("Invalid resume token: {token}"));
        let Bson::Document(doc) = token else {
            return Err(bad());
        };
        let data = doc.get_str("_data").map_err(|_| bad())?;
        if !matches!(data.len(), 36 | 44) || !data.starts_with("82") {
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
            fragment: match data.len() {
                44 => Some(hex(36..44)? as u32),
                _ => None,
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
            fragment: None,
        };
        let b = TokenData {
            ts: Timestamp {
                time: 5,
                increment: 2,
            },
            seq: 10,
            invalidate: true,
            fragment: None,
        };
        let fragments = [0, 1].map(|n| TokenData {
            fragment: Some(n),
            ..a
        });
        assert_eq!(
            TokenData::parse(&Bson::Document(a.to_document())).unwrap(),
            a
        );
        assert_eq!(
            TokenData::parse(&Bson::Document(b.to_document())).unwrap(),
            b
        );
        let data = |t: TokenData| t.to_document().get_str("_data").unwrap().to_owned();
        for f in fragments {
            assert_eq!(
                TokenData::parse(&Bson::Document(f.to_document())).unwrap(),
                f
            );
        }
        // An event, its fragments in order, then the next entry.
        assert!(data(a) < data(fragments[0]));
        assert!(data(fragments[0]) < data(fragments[1]));
        assert!(data(fragments[1]) < data(b));
        assert_eq!(
            TokenData::parse(&Bson::Document(doc! {"_data": "zz"}))
                .unwrap_err()
                .code,
            260
        );
    }
}
