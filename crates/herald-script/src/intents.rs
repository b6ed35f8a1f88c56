//! The intent builtins: `notify`, `webhook`, `insert_doc`, `upsert_doc`, `log`,
//! and rule state.
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
pub const BUILTINS: [&str; 8] = [
    "notify",
    "webhook",
    "insert_doc",
    "upsert_doc",
    "log",
    "set_state",
    "del_state",
    "get_state",
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

/// Read access to a rule's persistent state, supplied by the engine.
pub trait StateRead: Send + Sync {
    /// The value stored under `key` for `rule`, if any.
    fn get_state(&self, rule: &str, key: &str) -> Option<Bson>;
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

/// A state that is always empty (dry runs without a store, tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoState;

impl StateRead for NoState {
    fn get_state(&self, _rule: &str, _key: &str) -> Option<Bson> {
        None
    }
}

impl StateRead for HashMap<String, Bson> {
    fn get_state(&self, _rule: &str, key: &str) -> Option<Bson> {
        self.get(key).cloned()
    }
}

/// What one handler call has recorded so far.
#[derive(Clone)]
pub(crate) struct Recorder(Arc<Mutex<Recording>>);

pub(crate) struct Recording {
    pub(crate) rule: Arc<str>,
    pub(crate) intents: Vec<Intent>,
    /// This call's own state writes, so `get_state` after `set_state` sees them.
    overlay: HashMap<String, Option<Bson>>,
    state: Arc<dyn StateRead>,
}

impl Recorder {
    pub(crate) fn new(rule: Arc<str>, state: Arc<dyn StateRead>) -> Self {
        Self(Arc::new(Mutex::new(Recording {
            rule,
            intents: Vec::new(),
            overlay: HashMap::new(),
            state,
        })))
    }

    pub(crate) fn take_intents(&self) -> Vec<Intent> {
        std::mem::take(&mut self.0.lock().expect("recorder lock").intents)
    }
}

type BuiltinResult<T> = Result<T, Box<EvalAltResult>>;

fn with_recording<T>(
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

fn record(ctx: &NativeCallContext, intent: Intent) -> BuiltinResult<()> {
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

fn name_arg(value: &str, what: &str) -> BuiltinResult<String> {
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
                None => r.state.get_state(&r.rule, key),
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
