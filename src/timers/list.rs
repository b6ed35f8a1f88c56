//! `herald timers list [--rule NAME] [--json]`: the pending timers, soonest
//! first.
//!
//! Read from the store as they are printed: the store keeps its timer
//! records in (due, rule, name) order, so the listing is one scan that holds
//! one timer at a time. How many there are comes first from the index by
//! name ([`Store::timer_stats`]), which says "none" without a scan and lets
//! `--rule` stop as soon as the last of the rule's timers is printed.
//!
//! `--json` writes one object per timer with the fields of [`json`]; they are
//! documented in README ("The command line") and only ever added to, never
//! renamed or removed.

use super::rules_with_timers;
use crate::exit::{Failure, Outcome, store_failure};
use crate::lines::Lines;
use crate::logging::say;
use crate::time::rfc3339;
use anyhow::anyhow;
use herald_store::{Store, Timer};
use serde_json::{Value, json};
use std::path::Path;

/// Lists the timers (of `rule` only, if given) on stdout.
pub(super) fn run(store: &Store, dir: &Path, rule: Option<&str>, json: bool) -> Outcome {
    let stats = store.timer_stats().map_err(|e| store_failure(dir, e))?;
    let expected: u64 = stats
        .iter()
        .filter(|s| rule.is_none_or(|r| r == s.rule))
        .map(|s| s.pending)
        .sum();
    if expected == 0 {
        let text = match rule {
            Some(rule) => format!(
                "no pending timers for rule {rule:?} (rules with pending timers: {})",
                rules_with_timers(&stats)
            ),
            None => "no pending timers".to_owned(),
        };
        say::info(text, json!({ "timers": 0, "rule": rule }));
        return Ok(());
    }
    let mut out = Lines::stdout();
    let mut listed = 0_u64;
    for timer in store.timers() {
        let timer = timer.map_err(|e| store_failure(dir, e))?;
        if rule.is_some_and(|r| r != timer.rule) {
            continue;
        }
        let fields = Fields::of(timer).map_err(|e| Failure::BadInput(e.context(store_at(dir))))?;
        if json {
            out.line(fields.json())?;
        } else {
            out.line(fields.human())?;
        }
        listed += 1;
        // With --rule, the rest of the scan holds none of the rule's timers.
        if out.closed() || (rule.is_some() && listed == expected) {
            break;
        }
    }
    if !json {
        out.line(format_args!("{listed} pending timer(s)"))?;
    }
    out.finish()
}

fn store_at(dir: &Path) -> String {
    format!("the store at {}", dir.display())
}

/// One timer, rendered: its times in RFC 3339 (UTC), its document key and
/// payload in relaxed Extended JSON.
struct Fields {
    rule: String,
    name: String,
    due_at: String,
    set_at: String,
    ns: String,
    /// `Null` for a timer set by an event without a document (a drop, say).
    document_key: Value,
    payload: Value,
}

impl Fields {
    /// Renders `timer`; its document key must be a readable BSON document.
    fn of(timer: Timer) -> anyhow::Result<Self> {
        let document_key = match &timer.document_key {
            Some(key) => bson::Document::try_from(key.as_ref())
                .map(|key| bson::Bson::Document(key).into_relaxed_extjson())
                .map_err(|e| {
                    anyhow!(
                        "rule {}, timer {}: its document key cannot be read: {e}",
                        timer.rule,
                        timer.name
                    )
                })?,
            None => Value::Null,
        };
        Ok(Self {
            due_at: rfc3339(timer.due_ms),
            set_at: rfc3339(timer.set_at_ms),
            payload: timer.payload.into_relaxed_extjson(),
            document_key,
            rule: timer.rule,
            name: timer.name,
            ns: timer.ns,
        })
    }

    /// `due  rule  name  set SET_AT  ns key  payload`, the first columns padded
    /// to a width that keeps typical rows aligned (rows are printed as they
    /// are read, so no width can be measured first).
    fn human(&self) -> String {
        let document = match &self.document_key {
            Value::Null => self.ns.clone(),
            key => format!("{} {key}", self.ns),
        };
        format!(
            "{:<24}  {:<16}  {:<24}  set {:<24}  {document}  {}",
            self.due_at, self.rule, self.name, self.set_at, self.payload
        )
    }

    /// The fields `list --json` gives each timer: `rule`, `name`, `due_at`,
    /// `set_at`, `ns`, `document_key` (or `null`) and `payload`.
    fn json(self) -> Value {
        json!({
            "rule": self.rule,
            "name": self.name,
            "due_at": self.due_at,
            "set_at": self.set_at,
            "ns": self.ns,
            "document_key": self.document_key,
            "payload": self.payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(document_key: Option<bson::Document>) -> Timer {
        Timer {
            rule: "esc".into(),
            name: "esc:1".into(),
            due_ms: 1_714_730_400_000,
            set_at_ms: 1_714_557_600_500,
            payload: bson::Bson::Document(
                bson::doc! {"id": 1_i64, "at": bson::DateTime::from_millis(0)},
            ),
            ns: "shop.orders".into(),
            document_key: document_key.map(|k| bson::RawDocumentBuf::from_document(&k).unwrap()),
            version: 7,
        }
    }

    #[test]
    fn fields_are_the_documented_ones() {
        let fields = Fields::of(timer(Some(bson::doc! {"_id": 1_i64}))).unwrap();
        assert_eq!(
            fields.human(),
            "2024-05-03T10:00:00Z      esc               esc:1                     set 2024-05-01T10:00:00.5Z    shop.orders {\"_id\":1}  {\"id\":1,\"at\":{\"$date\":\"1970-01-01T00:00:00Z\"}}"
        );
        assert_eq!(
            fields.json().to_string(),
            r#"{"rule":"esc","name":"esc:1","due_at":"2024-05-03T10:00:00Z","set_at":"2024-05-01T10:00:00.5Z","ns":"shop.orders","document_key":{"_id":1},"payload":{"id":1,"at":{"$date":"1970-01-01T00:00:00Z"}}}"#
        );
    }

    #[test]
    fn a_timer_without_a_document_shows_its_namespace_alone() {
        let fields = Fields::of(timer(None)).unwrap();
        assert!(
            fields.human().contains("  shop.orders  {"),
            "{}",
            fields.human()
        );
        assert_eq!(fields.json()["document_key"], Value::Null);
    }
}
