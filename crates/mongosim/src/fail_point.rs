//! `configureFailPoint: "failCommand"`, as the drivers' spec tests use it.

use crate::error::CommandError;
use bson::{Bson, Document};

/// When a fail point fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Never.
    Off,
    /// Every time.
    AlwaysOn,
    /// The next `n` times.
    Times(u64),
    /// After `n` matching commands pass, every time.
    Skip(u64),
}

/// What happens to a command a fail point catches.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Reply with this error; `true` if the fail point gave its
    /// `errorLabels` (they replace the labels the server would add).
    Fail(CommandError, bool),
    /// Drop the connection without replying.
    CloseConnection,
    /// Wait, then (optionally) fail or close.
    Block(u64, Box<Option<Action>>),
}

/// The `failCommand` fail point.
#[derive(Debug, Clone)]
struct FailCommand {
    mode: Mode,
    commands: Vec<String>,
    error_code: Option<i32>,
    error_labels: Option<Vec<String>>,
    close_connection: bool,
    block_ms: Option<u64>,
    app_name: Option<String>,
}

/// Configured fail points.
#[derive(Debug, Default)]
pub struct FailPoints {
    fail_command: Option<FailCommand>,
}

impl FailPoints {
    /// Handles `configureFailPoint`.
    pub fn configure(&mut self, cmd: &Document) -> Result<(), CommandError> {
        let name = cmd
            .get_str("configureFailPoint")
            .map_err(|_| CommandError::type_mismatch("configureFailPoint must be a string"))?;
        if name != "failCommand" {
            return Err(CommandError::bad_value(format!(
                "mongosim knows only the failCommand fail point, not {name:?}"
            )));
        }
        let mode = match cmd.get("mode") {
            Some(Bson::String(s)) if s == "off" => Mode::Off,
            Some(Bson::String(s)) if s == "alwaysOn" => Mode::AlwaysOn,
            Some(Bson::Document(d)) if d.contains_key("times") => {
                Mode::Times(count(d.get("times"))?)
            }
            Some(Bson::Document(d)) if d.contains_key("skip") => Mode::Skip(count(d.get("skip"))?),
            other => {
                return Err(CommandError::bad_value(format!(
                    "invalid fail point mode: {other:?}"
                )));
            }
        };
        if mode == Mode::Off {
            self.fail_command = None;
            return Ok(());
        }
        let data = cmd
            .get_document("data")
            .map_err(|_| CommandError::bad_value("failCommand needs a data document"))?;
        let commands = data
            .get_array("failCommands")
            .map_err(|_| {
                CommandError::bad_value("data.failCommands must be an array of command names")
            })?
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        self.fail_command = Some(FailCommand {
            mode,
            commands,
            error_code: data.get("errorCode").and_then(number).map(|n| n as i32),
            error_labels: data.get_array("errorLabels").ok().map(|a| {
                a.iter()
                    .filter_map(|l| l.as_str().map(str::to_owned))
                    .collect()
            }),
            close_connection: data.get_bool("closeConnection").unwrap_or(false),
            block_ms: if data.get_bool("blockConnection").unwrap_or(false) {
                data.get("blockTimeMS").and_then(number).map(|n| n as u64)
            } else {
                None
            },
            app_name: data.get_str("appName").ok().map(str::to_owned),
        });
        Ok(())
    }

    /// Decides whether a command fires the fail point, consuming one use if it does.
    pub fn check(&mut self, command: &str, app_name: Option<&str>) -> Option<Action> {
        let fp = self.fail_command.as_mut()?;
        if !fp.commands.iter().any(|c| c == command) {
            return None;
        }
        if fp
            .app_name
            .as_deref()
            .is_some_and(|wanted| Some(wanted) != app_name)
        {
            return None;
        }
        match &mut fp.mode {
            Mode::Off => return None,
            Mode::AlwaysOn => {}
            Mode::Times(n) => {
                if *n == 0 {
                    return None;
                }
                *n -= 1;
            }
            Mode::Skip(n) => {
                if *n > 0 {
                    *n -= 1;
                    return None;
                }
            }
        }
        let outcome = if fp.close_connection {
            Some(Action::CloseConnection)
        } else {
            fp.error_code.map(|code| {
                let mut error = CommandError::new(
                    code,
                    &code_name(code),
                    format!("Failing command {command} via 'failCommand' failpoint"),
                );
                error.labels = fp.error_labels.clone().unwrap_or_default();
                Action::Fail(error, fp.error_labels.is_some())
            })
        };
        match fp.block_ms {
            Some(ms) => Some(Action::Block(ms, Box::new(outcome))),
            None => outcome,
        }
    }
}

fn number(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(x) => Some(*x as i64),
        _ => None,
    }
}

fn count(v: Option<&Bson>) -> Result<u64, CommandError> {
    v.and_then(number)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| CommandError::bad_value("times/skip must be a non-negative number"))
}

/// Names of the codes tests commonly inject.
fn code_name(code: i32) -> String {
    match code {
        6 => "HostUnreachable",
        7 => "HostNotFound",
        43 => "CursorNotFound",
        89 => "NetworkTimeout",
        91 => "ShutdownInProgress",
        189 => "PrimarySteppedDown",
        262 => "ExceededTimeLimit",
        280 => "ChangeStreamFatalError",
        286 => "ChangeStreamHistoryLost",
        112 => "WriteConflict",
        251 => "NoSuchTransaction",
        10107 => "NotWritablePrimary",
        11600 => "InterruptedAtShutdown",
        11601 => "Interrupted",
        11602 => "InterruptedDueToReplStateChange",
        13435 => "NotPrimaryNoSecondaryOk",
        13436 => "NotPrimaryOrSecondary",
        _ => return format!("Location{code}"),
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn times_counts_down() {
        let mut fp = FailPoints::default();
        fp.configure(&doc! {"configureFailPoint": "failCommand", "mode": {"times": 2}, "data": {"failCommands": ["getMore"], "errorCode": 6, "errorLabels": ["ResumableChangeStreamError"]}}).unwrap();
        assert!(fp.check("find", None).is_none());
        let Some(Action::Fail(e, true)) = fp.check("getMore", None) else {
            panic!()
        };
        assert_eq!(
            (e.code, e.labels.as_slice()),
            (6, &["ResumableChangeStreamError".to_owned()][..])
        );
        assert!(fp.check("getMore", None).is_some());
        assert!(fp.check("getMore", None).is_none());
    }

    #[test]
    fn off_clears_and_skip_skips() {
        let mut fp = FailPoints::default();
        fp.configure(&doc! {"configureFailPoint": "failCommand", "mode": {"skip": 1}, "data": {"failCommands": ["insert"], "closeConnection": true}}).unwrap();
        assert!(fp.check("insert", None).is_none());
        assert_eq!(fp.check("insert", None), Some(Action::CloseConnection));
        fp.configure(&doc! {"configureFailPoint": "failCommand", "mode": "off"})
            .unwrap();
        assert!(fp.check("insert", None).is_none());
    }
}
