//! The `RULE` constant: what a rule watches and which events it handles.
//!
//! ```rhai
//! const RULE = #{
//!     watch: "finance.expenses",               // "db.coll", "db" or "*"
//!     on: ["insert", "update", "replace"],     // default: insert, update, replace, delete
//!     filter: #{ "fullDocument.status": "pending_approval" },  // a MongoDB query on the event
//!     full_document: "updateLookup",           // default | updateLookup | whenAvailable | required
//!     id: "expense-approval",                  // optional: the rule's identity (default: file stem)
//!     timeout_ms: 200,                         // optional: a lower time limit per handler call than [engine]'s
//!     memory_mib: 16,                          // optional: a lower memory limit per handler call than [engine]'s
//!     state: "expenses",                       // optional: a state scope shared with the rules that name it
//! };
//! ```

use crate::values::map_to_document;
use herald_core::{
    ChangeEvent, Filter, FullDocument, FullDocumentBeforeChange, OperationType, WatchTarget,
};
use rhai::{Dynamic, Map};

/// The keys `RULE` may have.
pub const KEYS: [&str; 10] = [
    "snapshot",
    "state",
    "id",
    "timeout_ms",
    "memory_mib",
    "watch",
    "on",
    "filter",
    "full_document",
    "full_document_before_change",
];

/// Operation types of `showExpandedEvents` a rule may also name in `on`
/// (besides [`OperationType::KNOWN`]).
pub const EXPANDED_OPERATION_TYPES: [&str; 7] = [
    "create",
    "createIndexes",
    "dropIndexes",
    "modify",
    "shardCollection",
    "refineCollectionShardKey",
    "reshardCollection",
];

/// The operation types a rule handles when it does not say.
pub const DEFAULT_ON: [&str; 4] = ["insert", "update", "replace", "delete"];

/// A rule's parsed `RULE` constant.
#[derive(Debug, Clone)]
pub struct RuleSpec {
    /// The rule's identity, if `RULE` names one; else the file stem is used.
    /// Idempotency keys, the ledger, state and dead letters are keyed by it,
    /// so a rule keeps them across a rename of its file.
    pub id: Option<String>,
    /// What it watches.
    pub watch: WatchTarget,
    /// The operation types it handles.
    pub on: Vec<OperationType>,
    /// The MongoDB query an event must match.
    pub filter: Filter,
    /// The `fullDocument` option it needs.
    pub full_document: FullDocument,
    /// The `fullDocumentBeforeChange` option it needs.
    pub full_document_before_change: FullDocumentBeforeChange,
    /// Its own time limit for one handler call, in milliseconds (it can
    /// only lower the engine's).
    pub timeout_ms: Option<u64>,
    /// Its own memory limit for one handler call, in MiB (it can only lower
    /// the engine's).
    pub memory_mib: Option<u64>,
    /// Whether it takes snapshot events (`event.snapshot`: documents that
    /// existed when a target with `start_at = "snapshot"` first started);
    /// `snapshot: false` in `RULE` skips them. Default true.
    pub snapshot: bool,
    /// The state scope it reads and writes: a name shared by every rule that
    /// gives it (`state: "expenses"`), or `None` for the rule's own state.
    pub state: Option<String>,
}

/// The largest `timeout_ms` a rule may set (one minute): a longer handler
/// holds its document's events, and shutdown, for longer than anyone waits.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// The largest `memory_mib` a rule may set.
pub const MAX_MEMORY_MIB: u64 = 4_096;

/// A problem in `RULE`, with the key it concerns (to find its line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The key of `RULE` that is wrong (or unknown), if one is.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

fn err(key: &'static str, message: impl Into<String>) -> SpecError {
    SpecError {
        key: Some(key.to_owned()),
        message: message.into(),
    }
}

impl RuleSpec {
    /// Parses and validates a `RULE` map; the first problem if there is any
    /// (see [`RuleSpec::parse`] for all of them).
    pub fn from_map(map: &Map) -> Result<Self, SpecError> {
        Self::parse(map).map_err(|mut errors| errors.remove(0))
    }

    /// Parses and validates a `RULE` map, finding every problem in it: each
    /// key is checked on its own, so a wrong `watch` does not hide a wrong
    /// `on`. On failure the list is not empty.
    pub fn parse(map: &Map) -> Result<Self, Vec<SpecError>> {
        let mut errors: Vec<SpecError> = map
            .keys()
            .filter(|k| !KEYS.contains(&k.as_str()))
            .map(|unknown| SpecError {
                key: Some(unknown.to_string()),
                message: format!(
                    "unknown key `{unknown}` in RULE; expected one of: {}",
                    KEYS.join(", ")
                ),
            })
            .collect();
        let e = &mut errors;
        let id = keep(map.get("id").map(parse_id).transpose(), e);
        let watch = keep(parse_watch(map.get("watch")), e);
        let on = keep(
            match map.get("on") {
                None => Ok(DEFAULT_ON.iter().map(|s| OperationType::parse(s)).collect()),
                Some(v) => parse_on(v),
            },
            e,
        );
        let filter = keep(parse_filter(map.get("filter")), e);
        let full_document = keep(parse_full_document(map.get("full_document")), e);
        let full_document_before_change = keep(
            parse_before_change(map.get("full_document_before_change")),
            e,
        );
        let timeout_ms = keep(parse_limit(map, "timeout_ms", MAX_TIMEOUT_MS), e);
        let memory_mib = keep(parse_limit(map, "memory_mib", MAX_MEMORY_MIB), e);
        let snapshot = keep(parse_snapshot(map.get("snapshot")), e);
        let state = keep(map.get("state").map(parse_state).transpose(), e);
        match (
            id,
            watch,
            on,
            filter,
            full_document,
            full_document_before_change,
            timeout_ms,
            memory_mib,
            snapshot,
            state,
        ) {
            (
                Some(id),
                Some(watch),
                Some(on),
                Some(filter),
                Some(fd),
                Some(fdbc),
                Some(t),
                Some(m),
                Some(snapshot),
                Some(state),
            ) if errors.is_empty() => Ok(Self {
                snapshot,
                state,
                id,
                timeout_ms: t,
                memory_mib: m,
                watch,
                on,
                filter,
                full_document: fd,
                full_document_before_change: fdbc,
            }),
            _ => Err(errors),
        }
    }

    /// True if this rule handles `event`: watched namespace, named operation
    /// type, filter match; for a snapshot event also that the rule takes
    /// them and watches the target the snapshot was read for.
    pub fn accepts(&self, event: &ChangeEvent) -> bool {
        self.accepts_in(event, None)
    }

    /// [`RuleSpec::accepts`] for an event read from a stream on `scope`: an
    /// event without a namespace (`invalidate`) belongs to the stream that
    /// delivered it, so it concerns only rules whose target is within it.
    pub fn accepts_in(&self, event: &ChangeEvent, scope: Option<&WatchTarget>) -> bool {
        if !self.on.contains(event.operation_type()) {
            return false;
        }
        if event.is_snapshot() {
            // A snapshot is read for a target, for that target's rules (a
            // wider rule on the same stream did not ask for it). An event
            // that does not say (a fixture's) is for any rule it is in.
            let own = match event.snapshot_target() {
                Some(target) => target == self.watch,
                None => true,
            };
            if !(self.snapshot && own) {
                return false;
            }
        }
        let watched = match event.namespace() {
            Some(ns) => self.watch.covers(ns),
            None => scope.is_none_or(|scope| scope.contains(&self.watch)),
        };
        watched && self.filter.matches(event.raw())
    }
}

/// The longest rule id.
pub const MAX_ID_LEN: usize = 128;

fn parse_id(value: &Dynamic) -> Result<String, SpecError> {
    parse_name(value, "id")
}

fn parse_state(value: &Dynamic) -> Result<String, SpecError> {
    parse_name(value, "state")
}

/// A name `RULE` gives (`id`, `state`): 1 to [`MAX_ID_LEN`] letters, digits, `_`, `-` or `.`.
fn parse_name(value: &Dynamic, key: &'static str) -> Result<String, SpecError> {
    let name = value
        .clone()
        .into_string()
        .map_err(|t| err(key, format!("`{key}` must be a string, found {t}")))?;
    let valid = !name.is_empty()
        && name.len() <= MAX_ID_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        return Err(err(
            key,
            format!("`{key}` {name:?} must be 1 to {MAX_ID_LEN} letters, digits, `_`, `-` or `.`"),
        ));
    }
    Ok(name)
}

fn parse_limit(map: &Map, key: &'static str, max: u64) -> Result<Option<u64>, SpecError> {
    let Some(value) = map.get(key) else {
        return Ok(None);
    };
    match value.as_int() {
        Ok(n) if n >= 1 && (n as u64) <= max => Ok(Some(n as u64)),
        Ok(n) => Err(err(
            key,
            format!("`{key}` must be from 1 to {max}, found {n}"),
        )),
        Err(t) => Err(err(key, format!("`{key}` must be an integer, found {t}"))),
    }
}

/// `result`'s value, or `None` with its error kept in `errors`.
fn keep<T>(result: Result<T, SpecError>, errors: &mut Vec<SpecError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

fn parse_watch(value: Option<&Dynamic>) -> Result<WatchTarget, SpecError> {
    match value {
        Some(v) if v.is_string() => {
            let text = v.clone().into_string().unwrap_or_default();
            text.parse()
                .map_err(|e: herald_core::NamespaceError| err("watch", e.to_string()))
        }
        Some(_) => Err(err(
            "watch",
            "`watch` must be a string: \"db.coll\", \"db\" or \"*\"",
        )),
        None => Err(err(
            "watch",
            "RULE needs `watch`: \"db.coll\", \"db\" or \"*\"",
        )),
    }
}

fn parse_snapshot(value: Option<&Dynamic>) -> Result<bool, SpecError> {
    match value {
        None => Ok(true),
        Some(v) => v.as_bool().map_err(|t| {
            err(
                "snapshot",
                format!("`snapshot` must be true or false, found {t}"),
            )
        }),
    }
}

fn parse_filter(value: Option<&Dynamic>) -> Result<Filter, SpecError> {
    match value {
        None => Ok(Filter::everything()),
        Some(v) if v.is_map() => {
            let m = v.read_lock::<Map>().expect("checked is_map");
            let doc = map_to_document(&m, "filter").map_err(|e| err("filter", e.to_string()))?;
            Filter::compile(&doc).map_err(|e| err("filter", format!("invalid filter: {e}")))
        }
        Some(_) => Err(err(
            "filter",
            "`filter` must be an object map, e.g. #{ \"fullDocument.status\": \"open\" }",
        )),
    }
}

fn parse_full_document(value: Option<&Dynamic>) -> Result<FullDocument, SpecError> {
    match value {
        None => Ok(FullDocument::Default),
        Some(v) => v
            .clone()
            .into_string()
            .ok()
            .and_then(|s| FullDocument::parse(&s))
            .ok_or_else(|| err("full_document", "`full_document` must be \"default\", \"updateLookup\", \"whenAvailable\" or \"required\"")),
    }
}

fn parse_before_change(value: Option<&Dynamic>) -> Result<FullDocumentBeforeChange, SpecError> {
    match value {
        None => Ok(FullDocumentBeforeChange::Off),
        Some(v) => v
            .clone()
            .into_string()
            .ok()
            .and_then(|s| FullDocumentBeforeChange::parse(&s))
            .ok_or_else(|| {
                err(
                    "full_document_before_change",
                    "`full_document_before_change` must be \"off\", \"whenAvailable\" or \"required\"",
                )
            }),
    }
}

fn parse_on(value: &Dynamic) -> Result<Vec<OperationType>, SpecError> {
    let items: Vec<Dynamic> = if value.is_string() {
        vec![value.clone()]
    } else if value.is_array() {
        value.clone().into_array().unwrap_or_default()
    } else {
        return Err(err(
            "on",
            "`on` must be an array of operation types, e.g. [\"insert\", \"update\"]",
        ));
    };
    if items.is_empty() {
        return Err(err("on", "`on` is empty, so the rule would never run"));
    }
    items
        .into_iter()
        .map(|item| {
            let name = item
                .into_string()
                .map_err(|t| err("on", format!("`on` entries must be strings, found {t}")))?;
            let known = OperationType::KNOWN.contains(&name.as_str())
                || EXPANDED_OPERATION_TYPES.contains(&name.as_str());
            if !known {
                let all: Vec<&str> = OperationType::KNOWN
                    .iter()
                    .chain(&EXPANDED_OPERATION_TYPES)
                    .copied()
                    .collect();
                return Err(err(
                    "on",
                    format!(
                        "unknown operation type {name:?} in `on`; expected one of: {}",
                        all.join(", ")
                    ),
                ));
            }
            Ok(OperationType::parse(&name))
        })
        .collect()
}
