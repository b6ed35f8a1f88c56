//! `readConcern` on `find` and `aggregate`: which point in time a read sees.
//!
//! `local`, `majority`, `available` and `linearizable` read the newest data
//! (a single-node replica set commits every write at once). `snapshot`
//! (MongoDB 5.0+ outside transactions) reads the collection as it was at
//! `atClusterTime`, or, without it, at the newest committed time, which the
//! reply then names in `cursor.atClusterTime` (what the driver's snapshot
//! sessions read back, per the Snapshot Reads specification).
//!
//! Parsing and its errors follow the server's `ReadConcernArgs::parse`;
//! the checks before reading follow `waitForReadConcernImpl`
//! (read_concern_mongod.cpp): snapshot needs a replica set (123
//! `NotAReplicaSet`), and `atClusterTime` may not be later than the
//! current cluster time (72 `InvalidOptions`).

use super::optional_doc;
use crate::error::CommandError;
use crate::state::State;
use bson::{Bson, Document, Timestamp};

/// A `readConcern.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `local` (the default).
    Local,
    /// `majority`.
    Majority,
    /// `linearizable`.
    Linearizable,
    /// `available`.
    Available,
    /// `snapshot`.
    Snapshot,
}

/// A parsed `readConcern`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadConcern {
    /// The level; `None` is `local`.
    pub level: Option<Level>,
    /// `atClusterTime` (snapshot only).
    pub at_cluster_time: Option<Timestamp>,
    /// `afterClusterTime` (causal consistency; every write is already visible here).
    pub after_cluster_time: Option<Timestamp>,
}

/// `"<field>" had the wrong type. Expected timestamp, found <type>`, as `bsonExtractTimestampField` says.
fn timestamp(field: &str, value: &Bson) -> Result<Timestamp, CommandError> {
    match value {
        Bson::Timestamp(ts) => Ok(*ts),
        other => Err(CommandError::type_mismatch(format!(
            "\"{field}\" had the wrong type. Expected timestamp, found {}",
            crate::expr::compare::type_name(Some(other))
        ))),
    }
}

fn invalid_options(message: impl Into<String>) -> CommandError {
    CommandError::new(72, "InvalidOptions", message)
}

impl ReadConcern {
    /// Parses the command's `readConcern`, if any.
    pub fn parse(cmd: &Document) -> Result<Self, CommandError> {
        let Some(spec) = optional_doc(cmd, "readConcern")? else {
            return Ok(Self::default());
        };
        let mut out = Self::default();
        for (field, value) in spec {
            match field.as_str() {
                "level" => {
                    let Bson::String(level) = value else {
                        return Err(CommandError::type_mismatch(format!(
                            "\"level\" had the wrong type. Expected string, found {}",
                            crate::expr::compare::type_name(Some(value))
                        )));
                    };
                    out.level = Some(match level.as_str() {
                        "local" => Level::Local,
                        "majority" => Level::Majority,
                        "linearizable" => Level::Linearizable,
                        "available" => Level::Available,
                        "snapshot" => Level::Snapshot,
                        _ => {
                            return Err(CommandError::failed_to_parse(
                                "readConcern.level must be either 'local', 'majority', 'linearizable', 'available', or 'snapshot'",
                            ));
                        }
                    });
                }
                "atClusterTime" => out.at_cluster_time = Some(timestamp(field, value)?),
                "afterClusterTime" => out.after_cluster_time = Some(timestamp(field, value)?),
                // Set by the server and by routers; nothing mongosim acts on.
                "afterOpTime" | "provenance" => {}
                other => {
                    return Err(invalid_options(format!(
                        "Unrecognized option in readConcern: {other}"
                    )));
                }
            }
        }
        if out.after_cluster_time.is_some() && out.at_cluster_time.is_some() {
            return Err(invalid_options(
                "Can not specify both afterClusterTime and atClusterTime",
            ));
        }
        if out.after_cluster_time.is_some()
            && matches!(out.level, Some(Level::Linearizable | Level::Available))
        {
            return Err(invalid_options(
                "afterClusterTime field can be set only if level is equal to majority, local, or snapshot",
            ));
        }
        if out.at_cluster_time.is_some() && out.level != Some(Level::Snapshot) {
            return Err(invalid_options(
                "atClusterTime field can be set only if level is equal to snapshot",
            ));
        }
        let null = Timestamp {
            time: 0,
            increment: 0,
        };
        if out.after_cluster_time == Some(null) {
            return Err(invalid_options(
                "afterClusterTime cannot be a null timestamp",
            ));
        }
        if out.at_cluster_time == Some(null) {
            return Err(invalid_options("atClusterTime cannot be a null timestamp"));
        }
        Ok(out)
    }

    /// The time a read sees: `None` for the newest data, `Some(T)` for a
    /// snapshot read at `T`, checked as the server checks it (replica set,
    /// not later than the cluster time, not older than the history kept).
    pub fn read_at(
        &self,
        state: &State,
        replica_set: bool,
    ) -> Result<Option<Timestamp>, CommandError> {
        if self.level != Some(Level::Snapshot) {
            if let Some(after) = self.after_cluster_time {
                check_not_future(state, after, "afterClusterTime", replica_set)?;
            }
            return Ok(None);
        }
        if !replica_set {
            return Err(CommandError::new(
                123,
                "NotAReplicaSet",
                "node needs to be a replica set member to use readConcern: snapshot",
            ));
        }
        let at = match (self.at_cluster_time, self.after_cluster_time) {
            (Some(at), _) => {
                check_not_future(state, at, "atClusterTime", replica_set)?;
                at
            }
            (None, after) => {
                if let Some(after) = after {
                    check_not_future(state, after, "afterClusterTime", replica_set)?;
                }
                // The newest committed time: every write on a single node.
                state.clock.now()
            }
        };
        state.history.check(at)?;
        Ok(Some(at))
    }
}

impl Level {
    /// The level's name.
    pub fn name(self) -> &'static str {
        match self {
            Level::Local => "local",
            Level::Majority => "majority",
            Level::Linearizable => "linearizable",
            Level::Available => "available",
            Level::Snapshot => "snapshot",
        }
    }
}

impl ReadConcern {
    /// `$changeStream` runs only at `majority` (it upconverts an absent
    /// level): any other explicit level fails the `aggregate`, as
    /// `DocumentSourceChangeStream::LiteParsed::supportsReadConcern` and the
    /// command's read concern check have it. A change stream opened in a
    /// snapshot session fails this way on a real server.
    pub fn check_change_stream(&self) -> Result<(), CommandError> {
        match self.level {
            None | Some(Level::Majority) => Ok(()),
            Some(level) => Err(self.unsupported(
                "aggregate",
                &format!(
                    "Aggregation stage $changeStream cannot run with a readConcern other than 'majority'. Current readConcern: {}",
                    level.name()
                ),
            )),
        }
    }

    /// A command refusing this read concern: 72 `InvalidOptions`, `Command
    /// <name> does not support <read concern> :: caused by :: <reason>`, as
    /// the server's command entry point wraps the command's own verdict.
    pub fn unsupported(&self, command: &str, reason: &str) -> CommandError {
        invalid_options(reason).with_context(format!(
            "Command {command} does not support {}",
            self.describe()
        ))
    }

    /// `ReadConcernArgs::toString()`: `{ readConcern: { level: "snapshot",
    /// atClusterTime: Timestamp(1, 2), provenance: "clientSupplied" } }`
    /// (the server marks a read concern the client sent as client-supplied).
    pub fn describe(&self) -> String {
        let mut fields = Vec::new();
        if let Some(level) = self.level {
            fields.push(format!("level: \"{}\"", level.name()));
        }
        if let Some(after) = self.after_cluster_time {
            fields.push(format!(
                "afterClusterTime: {}",
                crate::history::display(after)
            ));
        }
        if let Some(at) = self.at_cluster_time {
            fields.push(format!("atClusterTime: {}", crate::history::display(at)));
        }
        fields.push("provenance: \"clientSupplied\"".to_owned());
        format!("{{ readConcern: {{ {} }} }}", fields.join(", "))
    }
}

/// Fails like the server when a requested time is later than the cluster time.
fn check_not_future(
    state: &State,
    at: Timestamp,
    name: &str,
    replica_set: bool,
) -> Result<(), CommandError> {
    if !replica_set {
        return Err(CommandError::illegal_operation(format!(
            "Cannot specify {name} readConcern without replication enabled"
        )));
    }
    let now = state.clock.now();
    if now < at {
        // LogicalTime::toString prints its BSON form: `{ ts: Timestamp(s, i) }`.
        return Err(invalid_options(format!(
            "readConcern {name} value must not be greater than the current clusterTime. Requested clusterTime: {{ ts: {} }}; current clusterTime: {{ ts: {} }}",
            crate::history::display(at),
            crate::history::display(now)
        )));
    }
    Ok(())
}
