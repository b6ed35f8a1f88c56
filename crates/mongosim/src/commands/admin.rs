//! Small administrative commands.

use super::Ctx;
use crate::error::{CommandError, CommandResult};
use crate::wire::MAX_BSON_OBJECT_SIZE;
use bson::{Bson, Document, doc};

/// The server version mongosim reports.
pub const VERSION: &str = "7.0.0";

/// `buildInfo`.
pub fn build_info() -> Document {
    doc! {
        "version": VERSION,
        "versionArray": [7, 0, 0, 0],
        "gitVersion": "mongosim",
        "bits": 64,
        "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE as i32,
        "storageEngines": ["mongosim"],
    }
}

/// `serverStatus` (a small subset).
pub fn server_status(ctx: &Ctx<'_>) -> Document {
    let uptime =
        (bson::DateTime::now().timestamp_millis() - ctx.shared.started.timestamp_millis()) / 1000;
    doc! {
        "host": &ctx.shared.host,
        "version": VERSION,
        "process": "mongod",
        "uptime": uptime as f64,
        "localTime": bson::DateTime::now(),
    }
}

/// Fields any command may carry besides its own (`setParameter` ignores them).
const GENERIC_ARGUMENTS: [&str; 9] = [
    "lsid",
    "txnNumber",
    "comment",
    "apiVersion",
    "apiStrict",
    "apiDeprecationErrors",
    "maxTimeMS",
    "readConcern",
    "writeConcern",
];

/// `{setParameter: 1, minSnapshotHistoryWindowInSeconds: n}` and
/// `transactionLifetimeLimitSeconds` (at least 1; for transactions started
/// from then on) on `admin`: the run-time parameters mongosim has. Replies `{was: <old value>}`
/// as the server does; the new window takes effect at the next write
/// (see [`crate::history`]).
pub fn set_parameter(ctx: &Ctx<'_>, cmd: &Document) -> CommandResult {
    if ctx.db != "admin" {
        return Err(CommandError::new(
            13,
            "Unauthorized",
            "setParameter may only be run against the admin database.",
        ));
    }
    let mut reply = Document::new();
    let mut found = false;
    for (name, value) in cmd.iter().skip(1) {
        if name.starts_with('$') || GENERIC_ARGUMENTS.contains(&name.as_str()) {
            continue;
        }
        if name != "minSnapshotHistoryWindowInSeconds" && name != "transactionLifetimeLimitSeconds"
        {
            return Err(CommandError::new(
                72,
                "InvalidOptions",
                format!(
                    "attempted to set unrecognized parameter [{name}], use help:true to see options "
                ),
            ));
        }
        // An `int` server parameter with the validator `gte: 0`.
        let seconds = match value {
            Bson::Int32(n) => Some(i64::from(*n)),
            Bson::Int64(n) => i32::try_from(*n).ok().map(i64::from),
            Bson::Double(x) if x.fract() == 0.0 && x.abs() <= f64::from(i32::MAX) => {
                Some(*x as i64)
            }
            _ => None,
        }
        .ok_or_else(|| {
            CommandError::bad_value(format!(
                "Invalid value for parameter {name}: {value} is not a valid int"
            ))
        })?;
        if name == "transactionLifetimeLimitSeconds" {
            if seconds < 1 {
                return Err(CommandError::bad_value(format!(
                    "Invalid value for parameter {name}: transactionLifetimeLimitSeconds must be greater than or equal to 1s"
                )));
            }
            let was = ctx.shared.lock().txns.set_lifetime_seconds(seconds as u64);
            reply.insert("was", was as i32);
            found = true;
            continue;
        }
        if seconds < 0 {
            return Err(CommandError::bad_value(format!(
                "Invalid value for parameter {name}: {seconds} is not greater than or equal to 0"
            )));
        }
        let was = ctx.shared.lock().history.set_window_seconds(seconds);
        reply.insert("was", was as i32);
        found = true;
    }
    if !found {
        return Err(CommandError::new(
            72,
            "InvalidOptions",
            "no option found to set, use help:true to see options ",
        ));
    }
    Ok(reply)
}

/// `getParameter`: the feature compatibility version, and
/// `minSnapshotHistoryWindowInSeconds` when asked for (or with `"*"`).
pub fn get_parameter(ctx: &Ctx<'_>, cmd: &Document) -> Document {
    let mut reply = doc! { "featureCompatibilityVersion": { "version": "7.0" } };
    let all = matches!(cmd.get("getParameter"), Some(Bson::String(s)) if s == "*");
    if all || cmd.contains_key("minSnapshotHistoryWindowInSeconds") {
        let seconds = ctx.shared.lock().history.window_seconds();
        reply.insert("minSnapshotHistoryWindowInSeconds", seconds as i32);
    }
    if all || cmd.contains_key("transactionLifetimeLimitSeconds") {
        let seconds = ctx.shared.lock().txns.lifetime_seconds();
        reply.insert("transactionLifetimeLimitSeconds", seconds as i32);
    }
    reply
}
