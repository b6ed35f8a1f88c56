//! A call's changes to herald's own store: state writes (in the rule's
//! state scope) and timer changes. Later calls see them at once (through
//! the state view and the timer book); they commit with the item's group.

use super::rule_run::Call;
use crate::timers::book::TimerId;
use bson::{Bson, RawDocumentBuf};
use herald_core::{ChangeEvent, Intent};
use herald_script::Rule;
use herald_store::Timer;
use std::sync::Arc;

/// The document a call concerns: its new timers run in that document's
/// partition (a timer's `on_timer` sets timers for the timer's own document).
pub(crate) struct Home {
    ns: String,
    document_key: Option<RawDocumentBuf>,
    partition: usize,
}

impl Home {
    /// The document of an event.
    pub(crate) fn of_event(event: &ChangeEvent) -> Self {
        Self {
            ns: event
                .namespace()
                .map(ToString::to_string)
                .unwrap_or_default(),
            document_key: event.document_key().map(ToOwned::to_owned),
            partition: super::partition::event_partition(event),
        }
    }

    /// The document of a timer.
    pub(crate) fn of_timer(timer: &Timer) -> Self {
        Self {
            ns: timer.ns.clone(),
            document_key: timer.document_key.clone(),
            partition: super::partition::timer_partition(timer),
        }
    }

    /// The document's partition.
    pub(crate) fn partition(&self) -> usize {
        self.partition
    }
}

/// One change a call made.
pub(crate) enum Change {
    /// A state write: `None` deletes the key.
    State {
        owner: Arc<str>,
        key: String,
        value: Option<Bson>,
    },
    /// A timer set (or replaced), or cancelled (`None`).
    Timer { id: TimerId, set: Option<Timer> },
}

/// The changes among `intents` (what a call returned besides its effects),
/// in order. A new timer's version is derived from the rule, the call's
/// token and its place among the call's timers, so a call done again (after
/// a crash) sets the same versions.
pub(crate) fn of_call(
    rule: &Rule,
    call: Call<'_>,
    home: &Home,
    intents: Vec<Intent>,
) -> Vec<Change> {
    let set_at = call
        .now()
        .unwrap_or_else(bson::DateTime::now)
        .timestamp_millis();
    let mut ordinal = 0u32;
    intents
        .into_iter()
        .filter_map(|intent| match intent {
            Intent::SetTimer { name, due, payload } => {
                let version = crate::timers::timer_version(rule.name(), call.token(), ordinal);
                ordinal += 1;
                let timer = Timer {
                    rule: rule.name().to_string(),
                    name: name.clone(),
                    due_ms: due.timestamp_millis(),
                    set_at_ms: set_at,
                    payload,
                    ns: home.ns.clone(),
                    document_key: home.document_key.clone(),
                    version,
                };
                Some(Change::Timer {
                    id: (rule.name().clone(), name),
                    set: Some(timer),
                })
            }
            Intent::CancelTimer { name } => Some(Change::Timer {
                id: (rule.name().clone(), name),
                set: None,
            }),
            other => other.into_state_write().map(|(key, value)| Change::State {
                owner: rule.state_owner().clone(),
                key,
                value,
            }),
        })
        .collect()
}

/// Writes changes into a commit (a dead letter's retry, outside a run).
pub(crate) fn commit(
    commit: &mut herald_store::Commit,
    changes: Vec<Change>,
) -> Result<(), herald_store::StoreError> {
    for change in changes {
        match change {
            Change::State {
                owner,
                key,
                value: Some(value),
            } => commit.set_state(&owner, &key, &value)?,
            Change::State {
                owner,
                key,
                value: None,
            } => commit.del_state(&owner, &key),
            Change::Timer {
                set: Some(timer), ..
            } => commit.set_timer(&timer)?,
            Change::Timer { id, set: None } => commit.cancel_timer(&id.0, &id.1),
        }
    }
    Ok(())
}
