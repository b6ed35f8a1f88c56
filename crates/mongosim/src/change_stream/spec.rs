//! Parsing `{$changeStream: {...}}` and the stages after it.

use super::scope::Scope;
use super::stages::Stage;
use super::token::TokenData;
use crate::error::CommandError;
use crate::oplog::Ns;
use bson::{Bson, Timestamp};

/// `fullDocument`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullDocument {
    /// Only inserts and replaces carry the document.
    Default,
    /// Updates carry the current document, looked up when read (null if gone).
    UpdateLookup,
    /// Updates carry the post-image if recorded, else null.
    WhenAvailable,
    /// Updates must carry the post-image.
    Required,
}

/// `fullDocumentBeforeChange`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeforeChange {
    /// No pre-images.
    Off,
    /// The pre-image if recorded, else null.
    WhenAvailable,
    /// The pre-image must exist.
    Required,
}

/// Where a stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// After the newest entry.
    Now,
    /// After a token (`resumeAfter`).
    ResumeAfter(TokenData),
    /// After a token, which may be an invalidate (`startAfter`).
    StartAfter(TokenData),
    /// At the first entry at or after a time.
    AtOperationTime(Timestamp),
}

/// A parsed change stream request.
#[derive(Debug, Clone)]
pub struct Spec {
    /// What it watches.
    pub scope: Scope,
    /// Where it starts.
    pub start: Start,
    /// `fullDocument`.
    pub full_document: FullDocument,
    /// `fullDocumentBeforeChange`.
    pub before_change: BeforeChange,
    /// `showExpandedEvents`.
    pub show_expanded: bool,
    /// The stages after `$changeStream`.
    pub stages: Vec<Stage>,
}

const OPTIONS: [&str; 8] = [
    "fullDocument",
    "fullDocumentBeforeChange",
    "resumeAfter",
    "startAfter",
    "startAtOperationTime",
    "allChangesForCluster",
    "showExpandedEvents",
    "allowToRunOnConfigDB",
];

/// Parses an aggregate whose first stage is `$changeStream`.
/// `coll` is `None` for `aggregate: 1` (database or cluster streams).
pub fn parse(db: &str, coll: Option<&str>, pipeline: &[Bson]) -> Result<Spec, CommandError> {
    let Some(Bson::Document(first)) = pipeline.first() else {
        return Err(CommandError::failed_to_parse(
            "pipeline must start with a document",
        ));
    };
    let options = match first.get("$changeStream") {
        Some(Bson::Document(o)) => o,
        _ => {
            return Err(CommandError::failed_to_parse(
                "the $changeStream stage specification must be an object",
            ));
        }
    };
    for key in options.keys() {
        if !OPTIONS.contains(&key.as_str()) {
            return Err(CommandError::location(
                40415,
                format!("BSON field '$changeStream.{key}' is an unknown field."),
            ));
        }
    }
    let all_for_cluster = options.get_bool("allChangesForCluster").unwrap_or(false);
    let scope = match (coll, all_for_cluster) {
        (Some(coll), false) => Scope::Collection(Ns {
            db: db.to_owned(),
            coll: coll.to_owned(),
        }),
        (None, false) if db == "admin" => {
            return Err(CommandError::invalid_namespace(
                "$changeStream on the admin database requires allChangesForCluster: true",
            ));
        }
        (None, false) => Scope::Database(db.to_owned()),
        (None, true) if db == "admin" => Scope::Cluster,
        _ => {
            return Err(CommandError::invalid_namespace(
                "A $changeStream with 'allChangesForCluster:true' may only be opened on the 'admin' database, and with aggregate: 1",
            ));
        }
    };
    let full_document = match options.get("fullDocument") {
        None => FullDocument::Default,
        Some(Bson::String(s)) => match s.as_str() {
            "default" => FullDocument::Default,
            "updateLookup" => FullDocument::UpdateLookup,
            "whenAvailable" => FullDocument::WhenAvailable,
            "required" => FullDocument::Required,
            other => {
                return Err(CommandError::bad_value(format!(
                    "Enumeration value '{other}' for field '$changeStream.fullDocument' is not a valid value."
                )));
            }
        },
        Some(_) => {
            return Err(CommandError::type_mismatch(
                "BSON field '$changeStream.fullDocument' is the wrong type, expected type 'string'",
            ));
        }
    };
    let before_change = match options.get("fullDocumentBeforeChange") {
        None => BeforeChange::Off,
        Some(Bson::String(s)) => match s.as_str() {
            "off" => BeforeChange::Off,
            "whenAvailable" => BeforeChange::WhenAvailable,
            "required" => BeforeChange::Required,
            other => {
                return Err(CommandError::bad_value(format!(
                    "Enumeration value '{other}' for field '$changeStream.fullDocumentBeforeChange' is not a valid value."
                )));
            }
        },
        Some(_) => {
            return Err(CommandError::type_mismatch(
                "BSON field '$changeStream.fullDocumentBeforeChange' is the wrong type, expected type 'string'",
            ));
        }
    };
    let resume_after = options
        .get("resumeAfter")
        .map(TokenData::parse)
        .transpose()?;
    let start_after = options
        .get("startAfter")
        .map(TokenData::parse)
        .transpose()?;
    let at_time = match options.get("startAtOperationTime") {
        None => None,
        Some(Bson::Timestamp(ts)) => Some(*ts),
        Some(_) => {
            return Err(CommandError::type_mismatch(
                "BSON field '$changeStream.startAtOperationTime' is the wrong type, expected type 'timestamp'",
            ));
        }
    };
    if resume_after.is_some() && start_after.is_some() {
        return Err(CommandError::location(
            50865,
            "Do not specify both 'resumeAfter' and 'startAfter' in a $changeStream stage",
        ));
    }
    if at_time.is_some() && (resume_after.is_some() || start_after.is_some()) {
        return Err(CommandError::location(
            40674,
            "Only one type of resume option is allowed, but multiple were found",
        ));
    }
    let start = match (resume_after, start_after, at_time) {
        (Some(token), _, _) if token.invalidate => {
            return Err(CommandError::invalid_resume_token(
                "Attempting to resume a change stream using 'resumeAfter' is not allowed from an invalidate notification",
            ));
        }
        (Some(token), _, _) => Start::ResumeAfter(token),
        (_, Some(token), _) => Start::StartAfter(token),
        (_, _, Some(ts)) => Start::AtOperationTime(ts),
        _ => Start::Now,
    };
    let stages = super::stages::parse_all(&pipeline[1..])?;
    let from_fragment =
        matches!(start, Start::ResumeAfter(t) | Start::StartAfter(t) if t.fragment.is_some());
    if from_fragment && !stages.iter().any(|s| matches!(s, Stage::SplitLargeEvent)) {
        return Err(CommandError::change_stream_fatal(
            "To resume from a split event, the $changeStream pipeline must include a $changeStreamSplitLargeEvent stage",
        ));
    }
    Ok(Spec {
        scope,
        start,
        full_document,
        before_change,
        show_expanded: options.get_bool("showExpandedEvents").unwrap_or(false),
        stages,
    })
}

/// True if the pipeline opens a change stream.
pub fn is_change_stream(pipeline: &[Bson]) -> bool {
    matches!(pipeline.first(), Some(Bson::Document(d)) if d.contains_key("$changeStream"))
}

/// `$changeStream` anywhere but first is an error.
pub fn check_not_later(pipeline: &[Bson]) -> Result<(), CommandError> {
    let later = pipeline
        .iter()
        .skip(1)
        .any(|s| matches!(s, Bson::Document(d) if d.contains_key("$changeStream")));
    if later {
        return Err(CommandError::location(
            40602,
            "$changeStream is only valid as the first stage in a pipeline",
        ));
    }
    Ok(())
}
