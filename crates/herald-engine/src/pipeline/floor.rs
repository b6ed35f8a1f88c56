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
