//! Effects: intents bound to the event and rule that caused them.

use crate::{Intent, ResumeToken};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;

/// A stable key that identifies one effect across retries, restarts and replays.
///
/// It is `hash(rule, event token, effect number)`: the same rule handling the
/// same event produces the same keys, so a receiver (or MongoDB, where the
/// key is the `_id`) can drop a repeat.
///
/// ```
/// use bson::RawBson;
/// use herald_core::{IdempotencyKey, ResumeToken};
/// let token = ResumeToken::new(RawBson::String("t1".into()));
/// let a = IdempotencyKey::derive("approvals", &token, 0);
/// assert_eq!(a, IdempotencyKey::derive("approvals", &token, 0));
/// assert_ne!(a, IdempotencyKey::derive("approvals", &token, 1));
/// assert_eq!(a.as_str().len(), 32);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Derives the key of effect number `index` of `rule` handling the event with `token`.
    pub fn derive(rule: &str, token: &ResumeToken, index: u32) -> Self {
        let mut hasher = Sha256::new();
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        hasher.update((rule.len() as u64).to_be_bytes());
        hasher.update(rule.as_bytes());
        let token = token.as_bytes();
        hasher.update((token.len() as u64).to_be_bytes());
        hasher.update(token);
        hasher.update(index.to_be_bytes());
        let digest = hasher.finalize();
        // Lower-case hex of the first 16 bytes, written straight into one string.
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut key = String::with_capacity(32);
        for byte in &digest[..16] {
            key.push(char::from(DIGITS[usize::from(byte >> 4)]));
            key.push(char::from(DIGITS[usize::from(byte & 0xf)]));
        }
        Self(key)
    }

    /// The key as 32 lower-case hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An intent ready to execute: who asked, for which event, and its idempotency key.
#[derive(Debug, Clone)]
pub struct Effect {
    /// The rule's name.
    pub rule: Arc<str>,
    /// The token of the event the rule handled.
    pub token: ResumeToken,
    /// The effect's number among the handler's effects (`log` and state changes are not numbered).
    pub index: u32,
    /// `hash(rule, token, index)`.
    pub key: IdempotencyKey,
    /// What to do.
    pub intent: Intent,
}

impl Effect {
    /// Binds intent number `index` of `rule` for the event with `token`.
    pub fn new(rule: Arc<str>, token: ResumeToken, index: u32, intent: Intent) -> Self {
        let key = IdempotencyKey::derive(&rule, &token, index);
        Self {
            rule,
            token,
            index,
            key,
            intent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::RawBson;

    #[test]
    fn key_depends_on_every_part() {
        let t1 = ResumeToken::new(RawBson::String("t1".into()));
        let t2 = ResumeToken::new(RawBson::String("t2".into()));
        let base = IdempotencyKey::derive("r", &t1, 0);
        assert_ne!(base, IdempotencyKey::derive("r2", &t1, 0));
        assert_ne!(base, IdempotencyKey::derive("r", &t2, 0));
        assert_ne!(base, IdempotencyKey::derive("r", &t1, 1));
    }

    #[test]
    fn key_is_stable_across_releases() {
        // Receivers store these keys; changing the derivation would make every
        // replayed effect look new. This value must never change.
        // The expected value was computed outside herald (Python's hashlib) from
        // the documented derivation: SHA-256 of the rule's length (u64 BE) and
        // bytes, the token's BSON length (u64 BE) and bytes, the effect number
        // (u32 BE); the first 16 bytes in hex.
        let token = ResumeToken::new(RawBson::String("t".into()));
        assert_eq!(
            IdempotencyKey::derive("rule", &token, 3).as_str(),
            "e1f5003b44fab5e725bdf493157fca1e"
        );
    }
}
