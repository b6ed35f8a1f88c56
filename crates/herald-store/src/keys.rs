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
/// Prefix of the ledger records of a [scope](crate::Scope) (cluster mode: one
/// partition's window): `P`, the scope's name, a NUL, then the record id.
pub const SCOPED_LEDGER_GROUP: u8 = b'P';
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
/// Prefix of timer records, by due time (see [`timer_due`]).
pub const TIMER_DUE: u8 = b't';
/// Prefix of the timer index, by rule and name (see [`timer`]).
pub const TIMER: u8 = b'T';

/// The longest rule name a key can hold (its length is a big-endian u16).
pub const MAX_PART: usize = u16::MAX as usize;

fn with_part(prefix: u8, part: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(3 + part.len() + rest.len());
    key.push(prefix);
    push_part(&mut key, part, rest);
    key
}

/// Appends `part`, length-prefixed, then `rest`.
fn push_part(key: &mut Vec<u8>, part: &[u8], rest: &[u8]) {
    key.extend_from_slice(&(part.len() as u16).to_be_bytes());
    key.extend_from_slice(part);
    key.extend_from_slice(rest);
}

/// The length-prefixed part at the start of `bytes` and what follows it.
fn split_part(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    (rest.len() >= len).then(|| rest.split_at(len))
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
    if prefix != LEDGER {
        return None;
    }
    let (rule, token) = split_part(rest)?;
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

/// A time as 8 bytes that sort as the times do: the i64 with its sign bit
/// flipped, big-endian (so negative times sort before positive ones).
///
/// ```
/// use herald_store::keys::{due, parse_due};
/// assert!(due(-1) < due(0) && due(0) < due(1) && due(i64::MIN) < due(-1));
/// assert_eq!(parse_due(due(-7)), -7);
/// ```
pub fn due(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

/// The time of [`due`]'s bytes.
pub fn parse_due(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

/// `t` + [`due`] + rule + name: a timer's record, so that a scan of `t`
/// lists timers in (due, rule, name) order. The rule is length-prefixed (so
/// no two rules' names collide), which makes a shorter rule name sort first
/// among timers due at the same time: `b` before `aa`.
pub fn timer_due(due_ms: i64, rule: &str, name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(11 + rule.len() + name.len());
    key.push(TIMER_DUE);
    key.extend_from_slice(&due(due_ms));
    push_part(&mut key, rule.as_bytes(), name.as_bytes());
    key
}

/// The keys of the timer records due at or before `up_to_ms`.
///
/// ```
/// use herald_store::keys::{timer_due, timers_due_by};
/// assert!(timers_due_by(10).contains(&timer_due(10, "r", "n")));
/// assert!(timers_due_by(10).contains(&timer_due(i64::MIN, "r", "n")));
/// assert!(!timers_due_by(10).contains(&timer_due(11, "", "")));
/// assert!(timers_due_by(i64::MAX).contains(&timer_due(i64::MAX, "r", "n")));
/// ```
pub fn timers_due_by(up_to_ms: i64) -> std::ops::Range<Vec<u8>> {
    let end = match up_to_ms.checked_add(1) {
        Some(after) => [&[TIMER_DUE][..], &due(after)].concat(),
        None => vec![TIMER_DUE + 1],
    };
    vec![TIMER_DUE]..end
}

/// The key range of the timers due after `after_ms`, in due order.
///
/// ```
/// use herald_store::keys::{timer_due, timers_due_after};
/// assert!(timers_due_after(10).contains(&timer_due(11, "r", "n")));
/// assert!(!timers_due_after(10).contains(&timer_due(10, "r", "n")));
/// assert!(timers_due_after(i64::MAX).is_empty());
/// ```
pub fn timers_due_after(after_ms: i64) -> std::ops::Range<Vec<u8>> {
    let start = match after_ms.checked_add(1) {
        Some(first) => [&[TIMER_DUE][..], &due(first)].concat(),
        None => vec![TIMER_DUE + 1],
    };
    start..vec![TIMER_DUE + 1]
}

/// `T` + rule + name: a timer's index entry, valued with [`timer_entry`].
pub fn timer(rule: &str, name: &str) -> Vec<u8> {
    with_part(TIMER, rule.as_bytes(), name.as_bytes())
}

/// The rule and name of a timer index key.
///
/// ```
/// use herald_store::keys;
/// assert_eq!(keys::parse_timer(&keys::timer("r", "n")), Some(("r", "n")));
/// assert_eq!(keys::parse_timer(b"T\0\x09r"), None);
/// ```
pub fn parse_timer(key: &[u8]) -> Option<(&str, &str)> {
    let (&prefix, rest) = key.split_first()?;
    if prefix != TIMER {
        return None;
    }
    let (rule, name) = split_part(rest)?;
    Some((
        std::str::from_utf8(rule).ok()?,
        std::str::from_utf8(name).ok()?,
    ))
}

/// A timer index entry: its [`due`] time (to find its record), then its
/// version, big-endian.
pub fn timer_entry(due_ms: i64, version: u64) -> [u8; 16] {
    let mut entry = [0; 16];
    entry[..8].copy_from_slice(&due(due_ms));
    entry[8..].copy_from_slice(&version.to_be_bytes());
    entry
}

/// The due time and version of a timer index entry.
///
/// ```
/// use herald_store::keys;
/// assert_eq!(keys::parse_timer_entry(&keys::timer_entry(-3, 9)), Some((-3, 9)));
/// assert_eq!(keys::parse_timer_entry(&[0; 15]), None);
/// ```
pub fn parse_timer_entry(entry: &[u8]) -> Option<(i64, u64)> {
    let entry: &[u8; 16] = entry.try_into().ok()?;
    let (due_bytes, version) = entry.split_at(8);
    Some((
        parse_due(due_bytes.try_into().ok()?),
        u64::from_be_bytes(version.try_into().ok()?),
    ))
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
        assert_ne!(timer("ab", "c"), timer("a", "bc"));
        assert_ne!(timer_due(1, "ab", "c"), timer_due(1, "a", "bc"));
    }

    #[test]
    fn timer_records_sort_by_due_then_rule_then_name() {
        let mut keys = [
            timer_due(1, "a", "b"),
            timer_due(1, "aa", ""),
            timer_due(-1, "z", "z"),
            timer_due(1, "a", "a"),
            timer_due(i64::MIN, "b", ""),
            timer_due(0, "a", "a"),
            timer_due(i64::MAX, "", ""),
        ];
        keys.sort();
        assert_eq!(
            keys,
            [
                timer_due(i64::MIN, "b", ""),
                timer_due(-1, "z", "z"),
                timer_due(0, "a", "a"),
                timer_due(1, "a", "a"),
                timer_due(1, "a", "b"),
                timer_due(1, "aa", ""),
                timer_due(i64::MAX, "", ""),
            ]
        );
        for ms in [i64::MIN, -1, 0, 1, i64::MAX] {
            assert_eq!(parse_due(due(ms)), ms);
        }
    }
}
