//! Small administrative commands.

use super::Ctx;
use crate::wire::MAX_BSON_OBJECT_SIZE;
use bson::{Document, doc};

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
