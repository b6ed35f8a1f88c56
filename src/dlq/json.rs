//! `herald dlq list --json` and `herald dlq show ID --json`: dead letters as
//! JSON, for scripts. The fields are documented in README ("The command
//! line") and only ever added to, never renamed or removed.

use herald_store::DeadLetter;
use serde_json::{Value, json};

/// An RFC 3339 time in UTC with milliseconds (`2026-11-26T12:08:46.123Z`).
pub(super) fn time(at: bson::DateTime) -> String {
    at.try_to_rfc3339_string()
        .unwrap_or_else(|_| at.timestamp_millis().to_string())
}

/// The fields `list --json` gives each entry: `id`, `rule`,
/// `first_failed_at`, `last_failed_at`, `attempts`, `error`.
pub(super) fn summary(letter: &DeadLetter) -> Value {
    json!({
        "id": letter.id,
        "rule": letter.rule,
        "first_failed_at": time(letter.first_at),
        "last_failed_at": time(letter.at),
        "attempts": letter.attempts,
        "error": letter.error,
    })
}

/// The fields `show --json` gives: those of [`summary`], `effects_done`
/// (the numbers of the effects a retry skips) and `event` (relaxed Extended JSON).
pub(super) fn full(letter: &DeadLetter, event: &bson::Document) -> Value {
    let mut value = summary(letter);
    value["effects_done"] = letter.done.iter().map(|d| d.number).collect();
    value["event"] = herald_core::extjson::to_relaxed(event);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_the_documented_ones() {
        let event = bson::doc! {"_id": {"_data": "01"}, "n": 1_i64};
        let letter = DeadLetter {
            id: 3,
            rule: "orders".into(),
            token: vec![1],
            event: bson::RawDocumentBuf::from_document(&event).unwrap(),
            error: "POST http://127.0.0.1:9 answered 500".into(),
            attempts: 7,
            keys: herald_store::KeyScheme::EffectsOnly,
            done: vec![herald_store::DoneEffect {
                number: 0,
                digest: 9,
            }],
            first_at: bson::DateTime::from_millis(1_700_000_000_000),
            at: bson::DateTime::from_millis(1_700_000_001_500),
        };
        assert_eq!(
            full(&letter, &event),
            json!({
                "id": 3,
                "rule": "orders",
                "first_failed_at": "2023-11-14T22:13:20Z",
                "last_failed_at": "2023-11-14T22:13:21.5Z",
                "attempts": 7,
                "error": "POST http://127.0.0.1:9 answered 500",
                "effects_done": [0],
                "event": {"_id": {"_data": "01"}, "n": 1},
            })
        );
    }
}
