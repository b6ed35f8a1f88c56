//! Rule tests: `NAME.test.json` beside `NAME.rhai`, run by `herald test`.
//!
//! ```json
//! { "cases": [ {
//!     "name": "a pending expense of 1,000 or more notifies the approver",
//!     "state": { "optional": "initial rule state" },
//!     "event": { "_id": {"_data": "01"}, "operationType": "insert", "...": "..." },
//!     "expect": [ { "kind": "notify", "target": "approvals", "args": { "to": "ann@example.com" } } ]
//! } ] }
//! ```
//!
//! `event` is a change event in Extended JSON. `expect` lists every intent the
//! handler must record, in order (`[]` when the rule must not match or must
//! do nothing); each is compared with [`Intent::to_json`](herald_core::Intent::to_json).

use crate::diagnostic::Diagnostic;
use crate::rule::Rule;
use bson::{Bson, RawDocumentBuf};
use herald_core::{ChangeEvent, extjson};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    state: serde_json::Map<String, serde_json::Value>,
    event: serde_json::Value,
    expect: Vec<serde_json::Value>,
}

/// The outcome of one fixture case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseOutcome {
    /// The case's name.
    pub name: String,
    /// `Ok` if the intents were as expected, else what differed.
    pub result: Result<(), String>,
}

/// The fixture file of a rule file: `rules/x.rhai` → `rules/x.test.json`.
pub fn fixture_path(rule_path: &Path) -> PathBuf {
    rule_path.with_extension("test.json")
}

/// Runs every case of a fixture file against a rule.
///
/// A file that cannot be read or parsed is a [`Diagnostic`]; a failing case
/// is a [`CaseOutcome`] with the difference.
pub fn run(rule: &Rule, fixture: &Path) -> Result<Vec<CaseOutcome>, Diagnostic> {
    let text = std::fs::read_to_string(fixture)
        .map_err(|e| Diagnostic::new(fixture, 0, 0, format!("cannot read: {e}")))?;
    let file: FixtureFile = serde_json::from_str(&text).map_err(|e| {
        Diagnostic::new(
            fixture,
            e.line(),
            e.column(),
            format!("invalid fixture: {e}"),
        )
        .with_source(text.as_str().into())
    })?;
    file.cases
        .into_iter()
        .map(|case| {
            let name = case.name.clone();
            let result = run_case(rule, case).map_err(|message| {
                Diagnostic::new(fixture, 0, 0, format!("case {name:?}: {message}"))
            })?;
            Ok(CaseOutcome { name, result })
        })
        .collect()
}

/// Runs one case; the outer error is a broken case, the inner one a failed expectation.
fn run_case(rule: &Rule, case: Case) -> Result<Result<(), String>, String> {
    let event_doc = extjson::parse_document(&case.event.to_string())
        .map_err(|e| format!("`event` is not valid Extended JSON: {e}"))?;
    let raw = RawDocumentBuf::from_document(&event_doc).map_err(|e| e.to_string())?;
    let event = Arc::new(ChangeEvent::from_raw(raw).map_err(|e| format!("`event`: {e}"))?);
    let mut state = HashMap::new();
    for (key, value) in case.state {
        let value = Bson::try_from(value).map_err(|e| format!("`state.{key}`: {e}"))?;
        state.insert(key, value);
    }
    if !rule.accepts(&event) {
        return Ok(if case.expect.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the rule does not match this event (watch {}, on {:?}, filter {}), but {} intent(s) were expected",
                rule.spec().watch,
                rule.spec()
                    .on
                    .iter()
                    .map(|o| o.as_str())
                    .collect::<Vec<_>>(),
                rule.spec().filter.source(),
                case.expect.len()
            ))
        });
    }
    let intents = match rule.handle(&event, Arc::new(state)) {
        Ok(intents) => intents,
        Err(d) => return Ok(Err(format!("the handler failed: {d}"))),
    };
    let actual: Vec<serde_json::Value> = intents.iter().map(|i| i.to_json()).collect();
    let expected: Vec<serde_json::Value> = case.expect.into_iter().map(normalize).collect();
    Ok(if actual == expected {
        Ok(())
    } else {
        Err(format!(
            "intents differ\n  expected: {}\n  actual:   {}",
            serde_json::to_string_pretty(&expected)
                .unwrap_or_default()
                .replace('\n', "\n  "),
            serde_json::to_string_pretty(&actual)
                .unwrap_or_default()
                .replace('\n', "\n  ")
        ))
    })
}

/// Rewrites an expected intent's `args` the way actual ones are rendered, so that
/// any valid Extended JSON spelling (canonical or relaxed, `.120Z` or `.12Z`) matches.
fn normalize(mut intent: serde_json::Value) -> serde_json::Value {
    if let Some(args) = intent.get_mut("args")
        && let Ok(bson) = Bson::try_from(args.clone())
    {
        *args = bson.into_relaxed_extjson();
    }
    intent
}
