//! The intent builtins: `notify`, `webhook`, `insert_doc`, `upsert_doc`, `log`,
//! and rule state (timers are in [`crate::timers`]).
//!
//! Each call of a handler gets a fresh recorder, passed to the builtins
//! through Rhai's per-call tag. Builtins check their arguments and record an
//! [`Intent`]; a bad argument is a script error at the call's position.

use crate::limits::MAX_INTENTS;
use crate::values::{bson_to_dynamic, dynamic_to_bson, map_to_document};
use bson::Bson;
use herald_core::{Intent, LogLevel, Namespace};
use rhai::{Dynamic, Engine, EvalAltResult, Map, NativeCallContext};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The builtins [`register`] adds, by name. `herald check` compares each
/// call to one of them with the signatures registered under that name
/// ([`crate::lint`]), so the check follows the registration below; a test
/// keeps this list equal to what [`register`] registers.
pub const BUILTINS: [&str; 11] = [
    "notify",
    "webhook",
    "insert_doc",
    "upsert_doc",
    "log",
    "set_state",
    "del_state",
    "get_state",
    "after",
    "at",
    "cancel_timer",
];

/// The level `log(level, ..)` names, or why `level` is none; the run-time
/// check and `herald check` both say it this way.
pub fn log_level(level: &str) -> Result<LogLevel, String> {
    LogLevel::parse(level).ok_or_else(|| {
        let names: Vec<&str> = LogLevel::ALL.iter().map(|l| l.as_str()).collect();
        format!(
            "unknown log level {level:?}; use {} or {}",
            names[..names.len() - 1].join(", "),
            names[names.len() - 1]
        )
    })
}

/// Read access to rule state, supplied by the engine.
pub trait StateRead: Send + Sync {
    /// The value stored under `key` in the state scope `owner` (a rule's
    /// name, or a shared scope's: see [`crate::Rule::state_owner`]), if any.
    fn get_state(&self, owner: &str, key: &str) -> Option<Bson>;
}

/// The builtins that write documents to MongoDB.
pub const WRITE_BUILTINS: [&str; 2] = ["insert_doc", "upsert_doc"];

/// The collection a write builtin (`insert_doc`, `upsert_doc`) writes to, or
/// why `text` is not one.
///
/// ```
/// use herald_script::intents::write_namespace;
/// assert_eq!(write_namespace("upsert_doc", "app.audit").unwrap().to_string(), "app.audit");
/// assert!(write_namespace("insert_doc", "audit").unwrap_err().contains("db.collection"));
/// ```
pub fn write_namespace(builtin: &str, text: &str) -> Result<Namespace, String> {
    let ns: Namespace = text
        .parse()
        .map_err(|e: herald_core::NamespaceError| e.to_string())?;
    if ns.coll.is_none() {
        return Err(format!("{builtin} needs \"db.collection\", got {text:?}"));
    }
    Ok(ns)
}

/// Why `insert_doc` refuses a document with its own `_id`.
const INSERT_WITH_ID: &str = "insert_doc sets `_id` to the effect's idempotency key (so a \
repeat is never written twice), but this document has its own `_id`; use \
upsert_doc(\"db.collection\", doc) to write a document by its own `_id`, or rename the field";

/// Why `upsert_doc` refuses a document without `_id`.
const UPSERT_WITHOUT_ID: &str = "upsert_doc writes the document by its `_id`, and this \
document has none; add `_id`, or use insert_doc(\"db.collection\", doc) to insert a new \
document keyed by the effect";

/// The update operators `upsert_doc(ns, filter, update)` takes: those that
/// leave the same document when applied twice, so a repeat (after a crash,
/// a replay, a dead-letter retry) changes nothing.
pub const IDEMPOTENT_UPDATE_OPERATORS: [&str; 8] = [
    "$set",
    "$setOnInsert",
    "$unset",
    "$min",
    "$max",
    "$addToSet",
    "$pull",
    "$rename",
];

/// Refuses an update a repeat would apply twice (`$inc`, `$push`, ...), or
/// one that mixes operators with plain fields.
///
/// ```
/// use bson::doc;
/// use herald_script::intents::idempotent_update;
/// assert!(idempotent_update(&doc! { "$set": { "n": 1 } }).is_ok());
/// assert!(idempotent_update(&doc! { "n": 1 }).is_ok()); // a replacement
/// assert!(idempotent_update(&doc! { "$inc": { "n": 1 } }).unwrap_err().contains("twice"));
/// ```
pub fn idempotent_update(update: &bson::Document) -> Result<(), String> {
    let operators = update.keys().filter(|k| k.starts_with('$')).count();
    if operators == 0 {
        return Ok(()); // a replacement document
    }
    if operators != update.len() {
        return Err("upsert_doc: the update mixes operators (`$set`, ...) with plain fields; use either operators or a whole replacement document".to_owned());
    }
    match update
        .keys()
        .find(|k| !IDEMPOTENT_UPDATE_OPERATORS.contains(&k.as_str()))
    {
        None => Ok(()),
        Some(op) => Err(format!(
            "upsert_doc: `{op}` is not idempotent (a repeat after a crash or a retry would apply it twice); use {}, or a replacement document",
            IDEMPOTENT_UPDATE_OPERATORS.join(", ")
        )),
    }
}

/// A state that is always empty (dry runs without a store, tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoState;

impl StateRead for NoState {
    fn get_state(&self, _owner: &str, _key: &str) -> Option<Bson> {
        None
    }
}

impl StateRead for HashMap<String, Bson> {
    fn get_state(&self, _owner: &str, key: &str) -> Option<Bson> {
        self.get(key).cloned()
    }
}

/// What one handler call has recorded so far.
#[derive(Clone)]
pub(crate) struct Recorder(Arc<Mutex<Recording>>);

pub(crate) struct Recording {
    /// The state scope the call reads.
    pub(crate) owner: Arc<str>,
    pub(crate) intents: Vec<Intent>,
    /// This call's own state writes, so `get_state` after `set_state` sees them.
    overlay: HashMap<String, Option<Bson>>,
    state: Arc<dyn StateRead>,
    /// The call's clock, which `after` counts from: the event's time, or
    /// the due time of the timer `on_timer` handles.
    pub(crate) now: Option<bson::DateTime>,
}

impl Recorder {
    pub(crate) fn new(
        owner: Arc<str>,
        state: Arc<dyn StateRead>,
        now: Option<bson::DateTime>,
    ) -> Self {
        Self(Arc::new(Mutex::new(Recording {
            owner,
            intents: Vec::new(),
            overlay: HashMap::new(),
            state,
            now,
        })))
    }

    pub(crate) fn take_intents(&self) -> Vec<Intent> {
        std::mem::take(&mut self.0.lock().expect("recorder lock").intents)
    }
}

pub(crate) type BuiltinResult<T> = Result<T, Box<EvalAltResult>>;

pub(crate) fn with_recording<T>(
    ctx: &NativeCallContext,
    f: impl FnOnce(&mut Recording) -> BuiltinResult<T>,
) -> BuiltinResult<T> {
    let recorder = ctx
        .tag()
        .and_then(|tag| tag.read_lock::<Recorder>().map(|r| r.clone()))
        .ok_or_else(|| {
            format!(
                "{}() can only be called while handling an event",
                ctx.fn_name()
            )
        })?;
    let mut recording = recorder.0.lock().expect("recorder lock");
    f(&mut recording)
}

pub(crate) fn record(ctx: &NativeCallContext, intent: Intent) -> BuiltinResult<()> {
    with_recording(ctx, |r| {
        if r.intents.len() >= MAX_INTENTS {
            return Err(format!("a handler may record at most {MAX_INTENTS} intents").into());
        }
        r.intents.push(intent);
        Ok(())
    })
}

fn document(map: &Map, what: &str) -> BuiltinResult<bson::Document> {
    map_to_document(map, what).map_err(|e| e.to_string().into())
}

pub(crate) fn name_arg(value: &str, what: &str) -> BuiltinResult<String> {
    if value.trim().is_empty() {
        return Err(format!("the {what} must not be empty").into());
    }
    Ok(value.to_owned())
}

/// Registers the intent builtins on a Rhai engine.
pub fn register(engine: &mut Engine) {
    engine.register_fn(
        "notify",
        |ctx: NativeCallContext, channel: &str, message: Map| {
            let intent = Intent::Notify {
                channel: name_arg(channel, "channel name")?,
                message: document(&message, "message")?,
            };
            record(&ctx, intent)
        },
    );
    engine.register_fn(
        "webhook",
        |ctx: NativeCallContext, name: &str, payload: Map| {
            let intent = Intent::Webhook {
                name: name_arg(name, "webhook name")?,
                payload: document(&payload, "payload")?,
            };
            record(&ctx, intent)
        },
    );
    engine.register_fn(
        "insert_doc",
        |ctx: NativeCallContext, ns: &str, doc: Map| {
            let ns = write_namespace("insert_doc", ns)?;
            if doc.contains_key("_id") {
                return Err(INSERT_WITH_ID.into());
            }
            let intent = Intent::InsertDoc {
                ns,
                doc: document(&doc, "document")?,
            };
            record(&ctx, intent)
        },
    );
    engine.register_fn(
        "upsert_doc",
        |ctx: NativeCallContext, ns: &str, doc: Map| {
            let ns = write_namespace("upsert_doc", ns)?;
            if !doc.contains_key("_id") {
                return Err(UPSERT_WITHOUT_ID.into());
            }
            let intent = Intent::UpsertDoc {
                ns,
                doc: document(&doc, "document")?,
            };
            record(&ctx, intent)
        },
    );
    engine.register_fn(
        "upsert_doc",
        |ctx: NativeCallContext, ns: &str, filter: Map, update: Map| {
            let ns = write_namespace("upsert_doc", ns)?;
            let update = document(&update, "update")?;
            idempotent_update(&update)?;
            let intent = Intent::UpsertWhere {
                ns,
                filter: document(&filter, "filter")?,
                update,
            };
            record(&ctx, intent)
        },
    );
    engine.register_fn(
        "log",
        |ctx: NativeCallContext, level: &str, message: Dynamic| {
            let level = log_level(level)?;
            record(
                &ctx,
                Intent::Log {
                    level,
                    message: message.to_string(),
                },
            )
        },
    );
    engine.register_fn("log", |ctx: NativeCallContext, message: Dynamic| {
        record(
            &ctx,
            Intent::Log {
                level: LogLevel::Info,
                message: message.to_string(),
            },
        )
    });
    engine.register_fn(
        "set_state",
        |ctx: NativeCallContext, key: &str, value: Dynamic| {
            let key = name_arg(key, "state key")?;
            let value = dynamic_to_bson(&value, &key).map_err(|e| e.to_string())?;
            with_recording(&ctx, |r| {
                r.overlay.insert(key.clone(), Some(value.clone()));
                Ok(())
            })?;
            record(&ctx, Intent::SetState { key, value })
        },
    );
    engine.register_fn("del_state", |ctx: NativeCallContext, key: &str| {
        let key = name_arg(key, "state key")?;
        with_recording(&ctx, |r| {
            r.overlay.insert(key.clone(), None);
            Ok(())
        })?;
        record(&ctx, Intent::DelState { key })
    });
    engine.register_fn("get_state", |ctx: NativeCallContext, key: &str| {
        with_recording(&ctx, |r| {
            let value = match r.overlay.get(key) {
                Some(pending) => pending.clone(),
                None => r.state.get_state(&r.owner, key),
            };
            Ok(value.as_ref().map_or(Dynamic::UNIT, bson_to_dynamic))
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn builtins_lists_what_register_registers() {
        let mut engine = Engine::new_raw();
        register(&mut engine);
        crate::timers::register(&mut engine);
        let registered: BTreeSet<String> = engine
            .collect_fn_metadata(None, |info| Some(info.metadata.name.to_string()), false)
            .into_iter()
            .collect();
        let listed: BTreeSet<String> = BUILTINS.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(registered, listed);
    }

    #[test]
    fn an_unknown_level_names_the_levels() {
        assert_eq!(log_level("warning"), Ok(LogLevel::Warn));
        assert_eq!(
            log_level("verbose").unwrap_err(),
            "unknown log level \"verbose\"; use debug, info, warn or error"
        );
    }
}
