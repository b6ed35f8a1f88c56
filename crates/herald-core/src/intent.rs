//! Intents: what a rule handler asks the engine to do.
//!
//! Scripts have no I/O. Each builtin a handler calls (`notify`, `webhook`,
//! `insert_doc`, `upsert_doc`, `log`, `set_state`, `del_state`, `after`, `at`,
//! `cancel_timer`) records one intent; the engine executes them after the
//! handler returns, in order.

use crate::Namespace;
use bson::{Bson, Document, doc};
use std::fmt;

/// One thing a rule asked for.
///
/// ```
/// use bson::doc;
/// use herald_core::Intent;
/// let intent = Intent::Notify { channel: "approvals".into(), message: doc! { "to": "ann" } };
/// assert_eq!(intent.kind(), "notify");
/// assert_eq!(intent.target(), Some("approvals"));
/// assert_eq!(intent.args(), doc! { "to": "ann" });
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    /// Send a message on a named notification channel.
    Notify {
        /// The channel, configured in `herald.toml` (`[channels.NAME]`).
        channel: String,
        /// The message fields (`to`, `subject`, `body`, ...).
        message: Document,
    },
    /// POST a JSON payload to a named webhook.
    Webhook {
        /// The webhook, configured in `herald.toml` (`[webhooks.NAME]`).
        name: String,
        /// The JSON body.
        payload: Document,
    },
    /// Insert a document into MongoDB, with `_id` = the effect's idempotency key.
    InsertDoc {
        /// Where to insert.
        ns: Namespace,
        /// The document.
        doc: Document,
    },
    /// Insert or replace a document by its own `_id` (which the document must have).
    UpsertDoc {
        /// Where to write.
        ns: Namespace,
        /// The document, `_id` included.
        doc: Document,
    },
    /// Update the document `filter` selects with `update` (operators such as
    /// `$set`, or a whole replacement), inserting it if there is none.
    UpsertWhere {
        /// Where to write.
        ns: Namespace,
        /// Which document.
        filter: Document,
        /// What to change: idempotent update operators, or a replacement document.
        update: Document,
    },
    /// Write a line to herald's log.
    Log {
        /// Severity.
        level: LogLevel,
        /// The text.
        message: String,
    },
    /// Set a key of the rule's persistent state.
    SetState {
        /// The key, scoped to the rule.
        key: String,
        /// The new value.
        value: Bson,
    },
    /// Remove a key of the rule's persistent state.
    DelState {
        /// The key, scoped to the rule.
        key: String,
    },
    /// Schedule the rule's timer `name` (replacing a pending one of that name).
    SetTimer {
        /// The timer's name, scoped to the rule.
        name: String,
        /// When it fires.
        due: bson::DateTime,
        /// What `on_timer` receives as `timer.payload`.
        payload: Bson,
    },
    /// Cancel the rule's pending timer `name`, if any.
    CancelTimer {
        /// The timer's name, scoped to the rule.
        name: String,
    },
}

impl Intent {
    /// What kind of intent it is: the builtin's name (`notify`, `webhook`,
    /// `insert_doc`, `upsert_doc`, `log`, `set_state`, `del_state`,
    /// `cancel_timer`), or `set_timer` for `after` and `at`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Notify { .. } => "notify",
            Self::Webhook { .. } => "webhook",
            Self::InsertDoc { .. } => "insert_doc",
            Self::UpsertDoc { .. } | Self::UpsertWhere { .. } => "upsert_doc",
            Self::Log { .. } => "log",
            Self::SetState { .. } => "set_state",
            Self::DelState { .. } => "del_state",
            Self::SetTimer { .. } => "set_timer",
            Self::CancelTimer { .. } => "cancel_timer",
        }
    }

    /// What the intent is addressed to: the channel, webhook, log level,
    /// state key or timer name (a document write has none: its namespace is an argument).
    pub fn target(&self) -> Option<&str> {
        match self {
            Self::Notify { channel, .. } => Some(channel),
            Self::Webhook { name, .. } => Some(name),
            Self::InsertDoc { .. } | Self::UpsertDoc { .. } | Self::UpsertWhere { .. } => None,
            Self::Log { level, .. } => Some(level.as_str()),
            Self::SetState { key, .. } | Self::DelState { key } => Some(key),
            Self::SetTimer { name, .. } | Self::CancelTimer { name } => Some(name),
        }
    }

    /// The data the script passed, as one document (for dry runs, tests and the DLQ).
    pub fn args(&self) -> Document {
        match self {
            Self::Notify { message, .. } => message.clone(),
            Self::Webhook { payload, .. } => payload.clone(),
            Self::InsertDoc { ns, doc } | Self::UpsertDoc { ns, doc } => {
                doc! { "ns": ns.to_string(), "doc": doc.clone() }
            }
            Self::UpsertWhere { ns, filter, update } => {
                doc! { "ns": ns.to_string(), "filter": filter.clone(), "update": update.clone() }
            }
            Self::Log { message, .. } => doc! { "message": message.as_str() },
            Self::SetState { value, .. } => doc! { "value": value.clone() },
            Self::DelState { .. } | Self::CancelTimer { .. } => Document::new(),
            Self::SetTimer { due, payload, .. } => doc! { "due": *due, "payload": payload.clone() },
        }
    }

    /// True for intents that act outside herald (`notify`, `webhook`,
    /// `insert_doc`, `upsert_doc`): these are numbered, carry an idempotency
    /// key, are retried and can fail an event. `log`, state and timer changes are not.
    pub fn is_effect(&self) -> bool {
        matches!(
            self,
            Self::Notify { .. }
                | Self::Webhook { .. }
                | Self::InsertDoc { .. }
                | Self::UpsertDoc { .. }
                | Self::UpsertWhere { .. }
        )
    }

    /// True for `set_timer` (from `after` and `at`) and `cancel_timer`: the
    /// engine applies them to its own store, with the handler's other changes.
    pub fn is_timer_change(&self) -> bool {
        matches!(self, Self::SetTimer { .. } | Self::CancelTimer { .. })
    }

    /// A 64-bit digest of what the intent does (kind, target, arguments as
    /// BSON): two intents with the same digest do the same thing.
    ///
    /// ```
    /// use bson::doc;
    /// use herald_core::Intent;
    /// let a = Intent::Notify { channel: "ops".into(), message: doc! { "id": 1 } };
    /// let b = Intent::Notify { channel: "ops".into(), message: doc! { "id": 2 } };
    /// assert_eq!(a.digest(), a.clone().digest());
    /// assert_ne!(a.digest(), b.digest());
    /// ```
    pub fn digest(&self) -> u64 {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for part in [self.kind(), self.target().unwrap_or("")] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        let mut args = Vec::new();
        // Encoding a document we built cannot fail; an empty one stands in if it did.
        let _ = self.args().to_writer(&mut args);
        hasher.update(&args);
        let digest = hasher.finalize();
        u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 has 32 bytes"))
    }

    /// True for intents the engine applies to its own store rather than executing outside.
    pub fn is_state_change(&self) -> bool {
        matches!(self, Self::SetState { .. } | Self::DelState { .. })
    }

    /// A state intent as the write it makes: the key and its new value
    /// (`None`: deleted); `None` for every other intent. The engine and
    /// `herald test` apply state through this one function, so both agree.
    ///
    /// ```
    /// use bson::Bson;
    /// use herald_core::Intent;
    /// let set = Intent::SetState { key: "k".into(), value: Bson::Int32(1) };
    /// assert_eq!(set.into_state_write(), Some(("k".to_owned(), Some(Bson::Int32(1)))));
    /// assert_eq!(Intent::DelState { key: "k".into() }.into_state_write(), Some(("k".to_owned(), None)));
    /// ```
    pub fn into_state_write(self) -> Option<(String, Option<Bson>)> {
        match self {
            Self::SetState { key, value } => Some((key, Some(value))),
            Self::DelState { key } => Some((key, None)),
            _ => None,
        }
    }
}

/// Severity of a `log` intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Fine detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something to look at.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// Every level, lowest first.
    pub const ALL: [Self; 4] = [Self::Debug, Self::Info, Self::Warn, Self::Error];

    /// Parses `debug`, `info`, `warn` (or `warning`), `error`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "debug" => Self::Debug,
            "info" => Self::Info,
            "warn" | "warning" => Self::Warn,
            "error" => Self::Error,
            _ => return None,
        })
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Intent {
    /// The intent as JSON: `{"kind", "target" (if any), "args"}`, args in relaxed Extended JSON.
    ///
    /// ```
    /// use bson::doc;
    /// use herald_core::Intent;
    /// let intent = Intent::Webhook { name: "crm".into(), payload: doc! { "id": 7 } };
    /// assert_eq!(intent.to_json().to_string(), r#"{"kind":"webhook","target":"crm","args":{"id":7}}"#);
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = serde_json::Map::new();
        json.insert("kind".into(), self.kind().into());
        if let Some(target) = self.target() {
            json.insert("target".into(), target.into());
        }
        json.insert("args".into(), crate::extjson::to_relaxed(&self.args()));
        serde_json::Value::Object(json)
    }
}
