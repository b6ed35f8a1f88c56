//! `hello` / `isMaster`: the handshake and topology monitoring.

use super::Ctx;
use crate::error::CommandResult;
use crate::wire::{MAX_BSON_OBJECT_SIZE, MAX_MESSAGE_SIZE, MAX_WRITE_BATCH_SIZE};
use bson::{DateTime, Document, doc, oid::ObjectId};

/// The newest wire version this server speaks (MongoDB 7.0).
pub const MAX_WIRE_VERSION: i32 = 21;

/// Replies as a single-node replica-set primary (or a standalone, without `setName`).
pub fn run(ctx: &mut Ctx<'_>, cmd: &Document) -> CommandResult {
    if let Ok(client) = cmd.get_document("client")
        && let Ok(name) = client
            .get_document("application")
            .and_then(|a| a.get_str("name"))
    {
        ctx.conn.app_name = Some(name.to_owned());
    }
    let shared = ctx.shared;
    let legacy = !cmd.contains_key("hello");
    let mut reply = Document::new();
    if cmd.get_bool("helloOk").unwrap_or(false) {
        reply.insert("helloOk", true);
    }
    reply.insert(
        if legacy {
            "ismaster"
        } else {
            "isWritablePrimary"
        },
        true,
    );
    if let Some(set_name) = &shared.set_name {
        // No `topologyVersion`: drivers then poll instead of using awaitable hello.
        reply.insert("hosts", vec![shared.host.clone()]);
        reply.insert("setName", set_name.clone());
        reply.insert("setVersion", 1);
        reply.insert("secondary", false);
        reply.insert("primary", shared.host.clone());
        reply.insert("me", shared.host.clone());
        reply.insert(
            "electionId",
            ObjectId::from_bytes([0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1]),
        );
        let (ts, wall) = {
            let state = shared.lock();
            (state.clock.now(), DateTime::now())
        };
        reply.insert(
            "lastWrite",
            doc! {
                "opTime": { "ts": ts, "t": 1_i64 },
                "lastWriteDate": wall,
                "majorityOpTime": { "ts": ts, "t": 1_i64 },
                "majorityWriteDate": wall,
            },
        );
    }
    reply.insert("maxBsonObjectSize", MAX_BSON_OBJECT_SIZE as i32);
    reply.insert("maxMessageSizeBytes", MAX_MESSAGE_SIZE as i32);
    reply.insert("maxWriteBatchSize", MAX_WRITE_BATCH_SIZE as i32);
    reply.insert("localTime", DateTime::now());
    reply.insert("logicalSessionTimeoutMinutes", 30);
    reply.insert("connectionId", ctx.conn.id);
    reply.insert("minWireVersion", 0);
    reply.insert("maxWireVersion", MAX_WIRE_VERSION);
    reply.insert("readOnly", false);
    Ok(reply)
}
