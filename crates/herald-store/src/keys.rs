//! Key encodings. Variable-length parts are length-prefixed so that no
//! rule name or state key can collide with another's.

/// The store format version key.
pub const FORMAT: &[u8] = b"mformat";
/// The last dead-letter id given (big-endian u64), so a dropped letter's id
/// is not given again.
pub const DEAD_LETTER_LAST: &[u8] = b"mdead_letter_last";

/// Prefix of checkpoints.
pub const CHECKPOINT: u8 = b'c';
/// Prefix of ledger marks of the first store format (one key per mark),
/// converted to records when such a store is opened.
pub const LEDGER: u8 = b'l';
/// Prefix of ledger records (one per committed group; see [`crate::ledger`]).
pub const LEDGER_GROUP: u8 = b'L';
/// Prefix of rule state.
pub const STATE: u8 = b's';
/// Prefix of per-rule counts.
pub const COUNTS: u8 = b'n';
/// Prefix of gaps.
pub const GAP: u8 = b'g';
/// Prefix of dead letters.
pub const DEAD_LETTER: u8 = b'd';
/// Prefix of informational records (what the last run opened, for `herald status`).
pub const INFO: u8 = b'i';

fn with_part(prefix: u8, part: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(3 + part.len() + rest.len());
    key.push(prefix);
    key.extend_from_slice(&(part.len() as u16).to_be_bytes());
    key.extend_from_slice(part);
    key.extend_from_slice(rest);
    key
}

/// `c` + source id.
pub fn checkpoint(source: &str) -> Vec<u8> {
    let mut key = vec![CHECKPOINT];
    key.extend_from_slice(source.as_bytes());
    key
}

/// `l` + rule + token bytes: a ledger mark of the first store format.
pub fn ledger(rule: &str, token: &[u8]) -> Vec<u8> {
    with_part(LEDGER, rule.as_bytes(), token)
}

/// The rule and token of a first-format ledger key.
pub fn parse_ledger_v1(key: &[u8]) -> Option<(&str, &[u8])> {
    let (&prefix, rest) = key.split_first()?;
    let (len, rest) = rest.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    if prefix != LEDGER || rest.len() < len {
        return None;
    }
    let (rule, token) = rest.split_at(len);
    Some((std::str::from_utf8(rule).ok()?, token))
}

/// `L` + big-endian sequence number: one group's ledger record.
pub fn ledger_group(seq: u64) -> Vec<u8> {
    let mut key = vec![LEDGER_GROUP];
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The record id of a ledger record's key.
///
/// ```
/// use herald_store::keys;
/// assert_eq!(keys::parse_ledger_group(&keys::ledger_group(7)), Some(7));
/// assert_eq!(keys::parse_ledger_group(b"L123"), None);
/// ```
pub fn parse_ledger_group(key: &[u8]) -> Option<u64> {
    match key.split_first() {
        Some((&LEDGER_GROUP, id)) => Some(u64::from_be_bytes(id.try_into().ok()?)),
        _ => None,
    }
}

/// `s` + rule + state key.
pub fn state(rule: &str, key: &str) -> Vec<u8> {
    with_part(STATE, rule.as_bytes(), key.as_bytes())
}

/// `s` + rule: the prefix of all of one rule's state.
pub fn state_prefix(rule: &str) -> Vec<u8> {
    with_part(STATE, rule.as_bytes(), b"")
}

/// `d` + big-endian sequence number, so dead letters list in arrival order.
pub fn dead_letter(id: u64) -> Vec<u8> {
    let mut key = vec![DEAD_LETTER];
    key.extend_from_slice(&id.to_be_bytes());
    key
}

/// `g` + big-endian sequence number.
pub fn gap(id: u64) -> Vec<u8> {
    let mut key = vec![GAP];
    key.extend_from_slice(&id.to_be_bytes());
    key
}

/// `i` + name.
pub fn info(name: &str) -> Vec<u8> {
    let mut key = vec![INFO];
    key.extend_from_slice(name.as_bytes());
    key
}

/// `n` + rule name.
pub fn counts(rule: &str) -> Vec<u8> {
    let mut key = vec![COUNTS];
    key.extend_from_slice(rule.as_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cannot_collide() {
        assert_ne!(ledger("ab", b"c"), ledger("a", b"bc"));
        assert_ne!(state("ab", "c"), state("a", "bc"));
        assert!(state("r", "k").starts_with(&state_prefix("r")));
        assert!(!state("rr", "k").starts_with(&state_prefix("r")));
    }
}
