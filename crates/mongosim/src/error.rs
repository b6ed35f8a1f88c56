//! Command errors, shaped as the server sends them: `{ok: 0, errmsg, code, codeName, errorLabels?}`.

use bson::{Document, doc};

const BLOCKED: &str = "WriteConflict error: this operation conflicted with another operation. Please retry your operation or multi-document transaction.";

/// A command failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code_name} ({code}): {message}")]
pub struct CommandError {
    /// The server's numeric error code.
    pub code: i32,
    /// Its name in the server's error_codes.yml (or `Location<code>`).
    pub code_name: String,
    /// The message.
    pub message: String,
    /// Error labels (`ResumableChangeStreamError`, ...).
    pub labels: Vec<String>,
    /// Extra fields the server appends after `codeName` (e.g. `keyPattern`, `keyValue`).
    pub info: Option<Box<Document>>,
}

impl CommandError {
    /// An error with a code and its name.
    pub fn new(code: i32, code_name: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            code_name: code_name.to_owned(),
            message: message.into(),
            labels: Vec::new(),
            info: None,
        }
    }

    /// Adds extra fields (a duplicate key's `keyPattern` and `keyValue`, ...).
    pub fn with_info(mut self, info: Document) -> Self {
        self.info.get_or_insert_default().extend(info);
        self
    }

    /// Prefixes the message as the server's `addContext` does (`<context> :: caused by :: <message>`).
    pub fn with_context(mut self, context: impl std::fmt::Display) -> Self {
        self.message = format!("{context} :: caused by :: {}", self.message);
        self
    }

    /// Adds an error label.
    pub fn with_label(mut self, label: &str) -> Self {
        self.labels.push(label.to_owned());
        self
    }

    /// 2 BadValue.
    pub fn bad_value(message: impl Into<String>) -> Self {
        Self::new(2, "BadValue", message)
    }

    /// 9 FailedToParse.
    pub fn failed_to_parse(message: impl Into<String>) -> Self {
        Self::new(9, "FailedToParse", message)
    }

    /// 14 TypeMismatch.
    pub fn type_mismatch(message: impl Into<String>) -> Self {
        Self::new(14, "TypeMismatch", message)
    }

    /// 20 IllegalOperation.
    pub fn illegal_operation(message: impl Into<String>) -> Self {
        Self::new(20, "IllegalOperation", message)
    }

    /// 26 NamespaceNotFound.
    pub fn namespace_not_found(message: impl Into<String>) -> Self {
        Self::new(26, "NamespaceNotFound", message)
    }

    /// 43 CursorNotFound.
    pub fn cursor_not_found(id: i64) -> Self {
        Self::new(43, "CursorNotFound", format!("cursor id {id} not found"))
    }

    /// 48 NamespaceExists.
    pub fn namespace_exists(message: impl Into<String>) -> Self {
        Self::new(48, "NamespaceExists", message)
    }

    /// 59 CommandNotFound.
    pub fn command_not_found(name: &str) -> Self {
        Self::new(59, "CommandNotFound", format!("no such command: '{name}'"))
    }

    /// 73 InvalidNamespace.
    pub fn invalid_namespace(message: impl Into<String>) -> Self {
        Self::new(73, "InvalidNamespace", message)
    }

    /// 260 InvalidResumeToken.
    pub fn invalid_resume_token(message: impl Into<String>) -> Self {
        Self::new(260, "InvalidResumeToken", message)
    }

    /// 280 ChangeStreamFatalError, labelled non-resumable.
    pub fn change_stream_fatal(message: impl Into<String>) -> Self {
        Self::new(280, "ChangeStreamFatalError", message)
            .with_label("NonResumableChangeStreamError")
    }

    /// 286 ChangeStreamHistoryLost.
    pub fn history_lost() -> Self {
        Self::new(
            286,
            "ChangeStreamHistoryLost",
            "Resume of change stream was not possible, as the resume point may no longer be in the oplog.",
        )
    }

    /// The write conflict a write outside a transaction meets when an open
    /// transaction holds what it writes: never sent, the command waits for
    /// the transaction to end and retries (as the server's
    /// `writeConflictRetry` does).
    pub fn blocked() -> Self {
        Self::new(112, "WriteConflict", BLOCKED)
    }

    /// True for [`blocked`](Self::blocked).
    pub fn is_blocked(&self) -> bool {
        self.code == 112 && self.message == BLOCKED
    }

    /// A numbered assertion without a name (`Location<code>`).
    pub fn location(code: i32, message: impl Into<String>) -> Self {
        Self::new(code, &format!("Location{code}"), message)
    }

    /// The reply document.
    pub fn to_document(&self) -> Document {
        let mut reply = doc! {
            "ok": 0.0,
            "errmsg": &self.message,
            "code": self.code,
            "codeName": &self.code_name,
        };
        if let Some(info) = &self.info {
            reply.extend(info.as_ref().clone());
        }
        if !self.labels.is_empty() {
            reply.insert("errorLabels", self.labels.clone());
        }
        reply
    }
}

/// A command's result.
pub type CommandResult = Result<Document, CommandError>;
