//! Commands, one file each: parse, apply and reply side by side.

mod admin;
mod aggregate;
mod count;
mod create_indexes;
mod cursor_reply;
mod ddl;
mod delete;
mod find;
mod find_and_modify;
mod get_more;
mod hello;
mod indexes;
mod insert;
mod kill_cursors;
mod list;
mod pipeline;
mod query;
mod read_concern;
mod update;

use crate::error::{CommandError, CommandResult};
use crate::fail_point::Action;
use crate::state::Shared;
use bson::{Bson, Document, doc};

/// Per-connection facts commands need.
#[derive(Debug)]
pub struct Conn {
    /// `connectionId` in hello replies.
    pub id: i64,
    /// The client's `appName` from its handshake (fail points can target it).
    pub app_name: Option<String>,
}

/// What to send back.
#[derive(Debug)]
pub enum Reply {
    /// A reply document.
    Doc(Document),
    /// Drop the connection without replying.
    Close,
}

/// What a command handler gets.
pub struct Ctx<'a> {
    /// The server.
    pub shared: &'a Shared,
    /// `$db`.
    pub db: String,
    /// The connection.
    pub conn: &'a mut Conn,
}

/// Runs one command document and shapes the reply.
pub async fn run(shared: &Shared, conn: &mut Conn, db: String, cmd: Document) -> Reply {
    let Some(name) = cmd.keys().next().cloned() else {
        return Reply::Doc(finish(
            shared,
            Err(CommandError::failed_to_parse("empty command")),
        ));
    };
    if name != "configureFailPoint" {
        let action = shared
            .lock()
            .fail_points
            .check(&name, conn.app_name.as_deref());
        let mut next = action;
        while let Some(action) = next.take() {
            match action {
                Action::Fail(error) => return Reply::Doc(finish(shared, Err(error))),
                Action::CloseConnection => return Reply::Close,
                Action::Block(ms, then) => {
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    next = *then;
                }
            }
        }
    }
    let mut ctx = Ctx { shared, db, conn };
    let result = dispatch(&mut ctx, &name, &cmd).await;
    Reply::Doc(finish(shared, result))
}

async fn dispatch(ctx: &mut Ctx<'_>, name: &str, cmd: &Document) -> CommandResult {
    match name {
        "hello" | "isMaster" | "ismaster" => hello::run(ctx, cmd),
        "ping" => Ok(Document::new()),
        "buildInfo" | "buildinfo" => Ok(admin::build_info()),
        "endSessions" | "killSessions" | "killAllSessions" | "refreshSessions" => {
            Ok(Document::new())
        }
        "serverStatus" => Ok(admin::server_status(ctx)),
        "whatsmyuri" => Ok(doc! { "you": "127.0.0.1" }),
        "getParameter" => Ok(admin::get_parameter(ctx, cmd)),
        "setParameter" => admin::set_parameter(ctx, cmd),
        "configureFailPoint" => {
            ctx.shared.lock().fail_points.configure(cmd)?;
            Ok(Document::new())
        }
        "insert" => insert::run(ctx, cmd),
        "update" => update::run(ctx, cmd),
        "delete" => delete::run(ctx, cmd),
        "find" => find::run(ctx, cmd),
        "findAndModify" | "findandmodify" => find_and_modify::run(ctx, cmd),
        "count" => count::run(ctx, cmd),
        "aggregate" => aggregate::run(ctx, cmd),
        "getMore" => get_more::run(ctx, cmd).await,
        "killCursors" => kill_cursors::run(ctx, cmd),
        "create" => ddl::create(ctx, cmd),
        "collMod" => ddl::coll_mod(ctx, cmd),
        "drop" => ddl::drop(ctx, cmd),
        "dropDatabase" => ddl::drop_database(ctx, cmd),
        "renameCollection" => ddl::rename(ctx, cmd),
        "createIndexes" => create_indexes::run(ctx, cmd),
        "listIndexes" => indexes::list(ctx, cmd),
        "dropIndexes" => indexes::drop(ctx, cmd),
        "listCollections" => list::collections(ctx, cmd),
        "listDatabases" => list::databases(ctx, cmd),
        "abortTransaction" | "commitTransaction" => Err(CommandError::new(
            251,
            "NoSuchTransaction",
            "mongosim does not support multi-document transactions",
        )),
        other => Err(CommandError::command_not_found(other)),
    }
}

/// An error reply for a request no command handles (an unsupported
/// message kind), with the cluster time every reply carries.
pub fn error_reply(shared: &Shared, error: CommandError) -> Document {
    finish(shared, Err(error))
}

/// Adds `ok`, `$clusterTime` and `operationTime`, as a replica-set member does.
fn finish(shared: &Shared, result: CommandResult) -> Document {
    let mut reply = match result {
        Ok(mut reply) => {
            if !reply.contains_key("ok") {
                reply.insert("ok", 1.0);
            }
            reply
        }
        Err(error) => error.to_document(),
    };
    if shared.set_name.is_some() {
        let now = shared.lock().clock.now();
        reply.insert("$clusterTime", doc! {
            "clusterTime": now,
            "signature": { "hash": Bson::Binary(bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![0; 20] }), "keyId": 0_i64 },
        });
        reply.insert("operationTime", now);
    }
    reply
}

/// The collection name a command targets (its first value).
pub fn collection_name<'a>(cmd: &'a Document, name: &str) -> Result<&'a str, CommandError> {
    match cmd.get(name) {
        Some(Bson::String(coll)) if !coll.is_empty() => Ok(coll),
        Some(Bson::String(_)) => Err(CommandError::invalid_namespace(
            "Invalid namespace specified: empty collection name",
        )),
        _ => Err(CommandError::type_mismatch(format!(
            "collection name has invalid type {}",
            cmd.get(name)
                .map_or("missing".into(), |v| format!("{:?}", v.element_type()))
        ))),
    }
}

/// A document field that must be a document, if present.
pub fn optional_doc<'a>(
    cmd: &'a Document,
    field: &str,
) -> Result<Option<&'a Document>, CommandError> {
    match cmd.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Document(d)) => Ok(Some(d)),
        Some(other) => Err(CommandError::type_mismatch(format!(
            "BSON field '{field}' is the wrong type '{:?}', expected type 'object'",
            other.element_type()
        ))),
    }
}

/// A numeric field as i64.
pub fn number(v: &Bson) -> Option<i64> {
    match v {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(x) => Some(*x as i64),
        _ => None,
    }
}

/// A `writeErrors` entry, as the server reports a failed statement of a batch.
pub fn write_error(index: usize, error: &CommandError) -> Document {
    let mut entry = doc! { "index": index as i32, "code": error.code, "errmsg": &error.message };
    if let Some(info) = &error.info {
        entry.extend(info.as_ref().clone());
    }
    entry
}
