//! Sorting driver errors: reopen, give up on the stream, or history lost.
//!
//! The driver already resumes once after a resumable getMore error. What
//! reaches herald is either an error on the aggregate that (re)opens the
//! stream, or one the driver chose not to resume. herald reopens from its own
//! last token, forever with capped backoff, for network errors and resumable
//! server errors (the `ResumableChangeStreamError` label, and the codes older
//! servers use); anything else stops that stream with its message.

use mongodb::error::{Error, ErrorKind};

/// `ChangeStreamHistoryLost`.
pub const HISTORY_LOST: i32 = 286;

/// `CappedPositionLost`: how servers before 4.4 (and some paths since) say
/// the resume point has left the capped oplog. The same loss as 286.
pub const CAPPED_POSITION_LOST: i32 = 136;

/// `BSONObjectTooLarge`: an event over 16 MiB without `$changeStreamSplitLargeEvent`.
pub const BSON_OBJECT_TOO_LARGE: i32 = 10334;

/// Codes resumable on servers older than wire version 9 (and `CursorNotFound`).
pub const RESUMABLE_CODES: [i32; 18] = [
    6, 7, 43, 63, 89, 91, 133, 150, 189, 234, 262, 9001, 10107, 11600, 11602, 13388, 13435, 13436,
];

/// What to do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The resume point has left the oplog.
    HistoryLost,
    /// Transient: reopen after a backoff.
    Retry,
    /// Permanent for this stream.
    Fatal,
    /// An event over 16 MiB (`BSONObjectTooLarge`): permanent, unless the
    /// stream splits large events.
    TooLarge,
}

/// An error as the operator needs it: a server error's code, name and
/// message (the driver's own text adds the raw reply, as bytes).
pub fn describe(error: &Error) -> String {
    match error.kind.as_ref() {
        ErrorKind::Command(c) => format!(
            "the server refused it: error {} ({}): {}",
            c.code, c.code_name, c.message
        ),
        _ => error.to_string(),
    }
}

/// Classifies a driver error.
pub fn classify(error: &Error) -> ErrorClass {
    match error.kind.as_ref() {
        ErrorKind::Command(c) if c.code == HISTORY_LOST || c.code == CAPPED_POSITION_LOST => {
            ErrorClass::HistoryLost
        }
        ErrorKind::Command(c) if c.code == BSON_OBJECT_TOO_LARGE => ErrorClass::TooLarge,
        ErrorKind::Command(c)
            if error.contains_label("ResumableChangeStreamError")
                || RESUMABLE_CODES.contains(&c.code) =>
        {
            ErrorClass::Retry
        }
        ErrorKind::Command(_) => ErrorClass::Fatal,
        ErrorKind::Authentication { .. }
        | ErrorKind::InvalidArgument { .. }
        | ErrorKind::InvalidResponse { .. }
        | ErrorKind::IncompatibleServer { .. } => ErrorClass::Fatal,
        // Network, timeouts, server selection, pool cleared, and the rest: transient.
        _ => ErrorClass::Retry,
    }
}
