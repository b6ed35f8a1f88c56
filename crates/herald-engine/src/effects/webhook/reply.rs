//! The start of a webhook's error reply, kept in the error (and so in the
//! dead letter): receivers usually say there why they refused.

/// How much of an error reply's body is kept, in bytes.
pub const REPLY_EXCERPT_BYTES: usize = 1024;

/// What stands in for a secret found in a reply.
const REDACTED: &[u8] = b"****";

/// Values a reply must not carry into an error: the webhook's header values,
/// its URL and path, its signing secret. A receiver that echoes the request
/// would otherwise put them in the dead letter and the log.
#[derive(Clone, Default)]
pub(super) struct Secrets(Vec<Vec<u8>>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} values)", self.0.len())
    }
}

impl Secrets {
    /// Adds a value to hide (empty ones are not).
    pub(super) fn add(&mut self, value: impl AsRef<[u8]>) {
        let value = value.as_ref();
        if !value.is_empty() {
            self.0.push(value.to_vec());
        }
    }

    fn longest(&self) -> usize {
        self.0.iter().map(Vec::len).max().unwrap_or(0)
    }

    /// `body` with every secret replaced by `****`.
    fn redact(&self, mut body: Vec<u8>) -> Vec<u8> {
        for secret in &self.0 {
            let mut out = Vec::with_capacity(body.len());
            let mut rest = &body[..];
            while let Some(at) = rest.windows(secret.len()).position(|w| w == secret) {
                out.extend_from_slice(&rest[..at]);
                out.extend_from_slice(REDACTED);
                rest = &rest[at + secret.len()..];
            }
            out.extend_from_slice(rest);
            body = out;
        }
        body
    }
}

/// Reads the body up to past [`REPLY_EXCERPT_BYTES`] (a huge reply is not
/// read whole), hides the `secrets` in it and returns it as text: cut at a
/// UTF-8 boundary and marked when longer, invalid UTF-8 replaced. `None` for
/// an empty body.
pub(super) async fn excerpt(mut response: reqwest::Response, secrets: &Secrets) -> Option<String> {
    let mut body = Vec::new();
    // Far enough past the cut that a secret across it is read whole, so hidden whole.
    let enough = REPLY_EXCERPT_BYTES + secrets.longest();
    // A body that breaks off while being read: what arrived is kept.
    let mut whole = false;
    while body.len() <= enough {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => {
                whole = true;
                break;
            }
            Err(_) => break,
        }
    }
    settle(body, whole, secrets)
}

/// The excerpt of a body read to its end (`whole`) or not.
fn settle(mut body: Vec<u8>, whole: bool, secrets: &Secrets) -> Option<String> {
    if !whole {
        // The read stopped: the tail may hold the start of a secret, which
        // redaction cannot recognise, so it is left out.
        let tail = secrets.longest().saturating_sub(1);
        body.truncate(body.len().saturating_sub(tail));
    }
    describe(&secrets.redact(body), whole)
}

/// The text of a body read by [`excerpt`] (`whole`: to its end).
fn describe(body: &[u8], whole: bool) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    if whole && body.len() <= REPLY_EXCERPT_BYTES {
        return Some(String::from_utf8_lossy(body).into_owned());
    }
    let mut kept = &body[..REPLY_EXCERPT_BYTES.min(body.len())];
    // A character cut in two at the end is left out, not replaced.
    if let Err(e) = std::str::from_utf8(kept)
        && e.error_len().is_none()
    {
        kept = &kept[..e.valid_up_to()];
    }
    Some(format!(
        "{}… (truncated: the reply's first {REPLY_EXCERPT_BYTES} bytes at most)",
        String::from_utf8_lossy(kept)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_bodies_are_kept_whole() {
        assert_eq!(describe(b"", true), None);
        assert_eq!(
            describe(b"{\"error\":\"bad id\"}", true).unwrap(),
            "{\"error\":\"bad id\"}"
        );
        assert_eq!(
            describe(&[b'a'; REPLY_EXCERPT_BYTES], true).unwrap().len(),
            1024
        );
    }

    #[test]
    fn long_bodies_are_cut_at_a_character_boundary_and_marked() {
        // "x" then two-byte characters: byte 1024 falls inside one.
        let body = format!("x{}", "é".repeat(1000));
        let text = describe(body.as_bytes(), true).unwrap();
        assert_eq!(
            text,
            format!(
                "x{}… (truncated: the reply's first 1024 bytes at most)",
                "é".repeat(511)
            )
        );
        // Invalid UTF-8 inside is replaced, not a reason to drop the text.
        let mut bad = vec![0xFF];
        bad.extend_from_slice(&[b'b'; 2000]);
        let text = describe(&bad, true).unwrap();
        assert!(text.starts_with("\u{FFFD}bbb"), "{text}");
    }

    #[test]
    fn secrets_are_hidden_before_the_cut() {
        let mut secrets = Secrets::default();
        secrets.add("Bearer s3cr3t");
        secrets.add("");
        let body = b"got Bearer s3cr3t and Bearer s3cr3t.".to_vec();
        assert_eq!(secrets.redact(body), b"got **** and ****.");
        // A secret across the cut is hidden whole, not cut in two.
        let mut body = vec![b'a'; REPLY_EXCERPT_BYTES - 3];
        body.extend_from_slice(b"Bearer s3cr3t");
        let text = describe(&secrets.redact(body), true).unwrap();
        assert!(text.contains("aaa***…") && !text.contains("Bea"), "{text}");
    }

    #[test]
    fn a_body_read_in_part_drops_its_tail_and_is_marked() {
        let mut secrets = Secrets::default();
        secrets.add("Bearer s3cr3t");
        // The read stopped inside a secret: its start is not kept.
        let text = settle(b"oops: Bearer s3c".to_vec(), false, &secrets).unwrap();
        assert_eq!(
            text,
            "oops… (truncated: the reply's first 1024 bytes at most)"
        );
        assert_eq!(
            settle(b"oops: Bearer s3c".to_vec(), true, &secrets).unwrap(),
            "oops: Bearer s3c"
        );
    }
}
