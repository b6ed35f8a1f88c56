//! A rule's floor: the point before which its events are done (or were
//! before it was added), and the snapshot it takes (see `resume`).

use bson::Timestamp;
pub(crate) use herald_core::position::just_after as next;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// Where a rule starts taking events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Floor {
    /// Events from this cluster time on (`[seconds, increment]`): earlier
    /// ones are done; those at this time are left to the ledger.
    From([u32; 2]),
    /// Only events after this cluster time (everything at or before it
    /// happened before the rule was added).
    After([u32; 2]),
    /// The snapshot at this cluster time, then the changes after it.
    Snapshot([u32; 2]),
}

impl Floor {
    pub(crate) fn time(self) -> Timestamp {
        let (Self::From([time, increment])
        | Self::After([time, increment])
        | Self::Snapshot([time, increment])) = self;
        Timestamp { time, increment }
    }

    /// Orders floors by the events they skip: a later floor skips more (a
    /// snapshot skips less than the changes from its time on).
    pub(crate) fn key(self) -> ([u32; 2], u8) {
        match self {
            Self::Snapshot(t) => (t, 0),
            Self::From(t) => (t, 1),
            Self::After(t) => (t, 2),
        }
    }

    /// The first change it takes.
    pub(crate) fn first_change(self) -> Timestamp {
        match self {
            Self::From(_) => self.time(),
            Self::After(_) | Self::Snapshot(_) => next(self.time()),
        }
    }

    /// True if a change at `time` is before the floor.
    pub(crate) fn skips(self, time: Timestamp) -> bool {
        let at = [time.time, time.increment];
        match self {
            Self::From(floor) => at < floor,
            Self::After(floor) | Self::Snapshot(floor) => at <= floor,
        }
    }
}

pub(crate) fn pair(t: Timestamp) -> [u32; 2] {
    [t.time, t.increment]
}

/// Per rule, where it starts taking events (only rules that need one).
pub(crate) type Floors = HashMap<Arc<str>, Floor>;

/// True if `rule`'s event at `time` is before its floor (already done, or
/// from before the rule was added).
pub(crate) fn below_floor(floors: &Floors, rule: &str, time: Option<Timestamp>) -> bool {
    match (floors.get(rule), time) {
        (Some(floor), Some(time)) => floor.skips(time),
        _ => false,
    }
}

/// Whether `rule` takes `event` as far as its floor goes: a change at or
/// after it; a snapshot's event only if the rule's floor is that snapshot
/// (the rules new at its target's first start: one added later, or whose
/// target had started, takes none). Without floors (replays of files)
/// every event.
pub(crate) fn takes(floors: &Floors, rule: &str, event: &herald_core::ChangeEvent) -> bool {
    // A change, or an event that says `snapshot` without a snapshot's
    // token (a stage set the field): held to the floor like any change.
    let Some(t) = event.snapshot_at() else {
        return !below_floor(floors, rule, event.cluster_time());
    };
    match floors.get(rule) {
        None => true,
        Some(Floor::Snapshot(at)) => *at == [t.time, t.increment],
        Some(_) => false,
    }
}
