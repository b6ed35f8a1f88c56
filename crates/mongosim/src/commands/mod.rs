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
pub mod insert;
mod kill_cursors;
mod list;
mod pipeline;
mod query;
pub mod read_concern;
mod transaction;
mod update;
pub mod wait;
mod write_errors;

use crate::error::{CommandError, CommandResult};
use crate::fail_point::Action;
use crate::state::Shared;
use crate::txn::{SessionArgs, TxnRef, labels};
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
    /// The transaction the command runs in.
    pub txn: Option<TxnRef>,
}

/// The commands a transaction may run (the server's `txnCmdAllowlist`,
/// as far as mongosim has them; `create` and `createIndexes`, allowed by
/// the server, are not supported in transactions here).
const IN_TRANSACTION: [&str; 10] = [
    "abortTransaction",
    "aggregate",
    "commitTransaction",
    "delete",
    "find",
    "findAndModify",
    "findandmodify",
    "getMore",
    "insert",
    "update",
];

/// Starts or continues the command's transaction, if it names one.
fn enter_transaction(
    shared: &Shared,
    session: &SessionArgs,
    name: &str,
    cmd: &Document,
) -> Result<Option<TxnRef>, CommandError> {
    if !session.in_transaction() {
        return Ok(None);
    }
    if !IN_TRANSACTION.contains(&name) && name != "killCursors" {
        return Err(CommandError::new(
            263,
            "OperationNotSupportedInTransaction",
            format!("Cannot run '{name}' in a multi-document transaction."),
        ));
    }
    let mut state = shared.lock();
    let txn = state.begin_transaction(session, name, cmd, shared.set_name.is_some())?;
    Ok(Some(txn))
}

/// Runs one command document and shapes the reply.
pub async fn run(shared: &Shared, conn: &mut Conn, db: String, cmd: Document) -> Reply {
    let Some(name) = cmd.keys().next().cloned() else {
        return Reply::Doc(finish(
            shared,
            Err(CommandError::failed_to_parse("empty command")),
        ));
    };
    let session = match SessionArgs::parse(&cmd) {
        Ok(session) => session,
        Err(e) => return Reply::Doc(finish(shared, Err(e))),
    };
    let labelled = |mut e: CommandError| {
        labels::add(&mut e, &session, &name);
        Err(e)
    };
    if name != "configureFailPoint" {
        let action = shared
            .lock()
            .fail_points
            .check(&name, conn.app_name.as_deref());
        let mut next = action;
        while let Some(action) = next.take() {
            match action {
                // The fail point's errorLabels, when given, replace the server's own.
                Action::Fail(error, true) => return Reply::Doc(finish(shared, Err(error))),
                Action::Fail(error, false) => return Reply::Doc(finish(shared, labelled(error))),
                Action::CloseConnection => return Reply::Close,
                Action::Block(ms, then) => {
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    next = *then;
                }
            }
        }
    }
    let txn = match enter_transaction(shared, &session, &name, &cmd) {
        Ok(txn) => txn,
        Err(e) => return Reply::Doc(finish(shared, labelled(e))),
    };
    if session.txn_number.is_none() {
        shared
            .lock()
            .expire_transactions(tokio::time::Instant::now());
    }
    let mut ctx = Ctx {
        shared,
        db,
        conn,
        txn: txn.clone(),
    };
    let mut result = dispatch(&mut ctx, &name, &cmd).await;
    if let Err(e) = result {
        // A failed command aborts its transaction (commit and abort decide for themselves).
        if let Some(txn) = &txn
            && !matches!(name.as_str(), "commitTransaction" | "abortTransaction")
        {
            shared.lock().abort_transaction(txn);
        }
        result = labelled(e);
    }
    Reply::Doc(finish(shared, result))
}

async fn dispatch(ctx: &mut Ctx<'_>, name: &str, cmd: &Document) -> CommandResult {
    match name {
        "hello" | "isMaster" | "ismaster" => hello::run(ctx, cmd),
        "ping" => Ok(Document::new()),
        "buildInfo" | "buildinfo" => Ok(admin::build_info()),
        "endSessions" | "refreshSessions" => Ok(Document::new()),
        "killSessions" => {
            let lsids: Vec<Document> = cmd
                .get_array("killSessions")
                .map(|a| a.iter().filter_map(|v| v.as_document().cloned()).collect())
                .unwrap_or_default();
            ctx.shared.lock().kill_sessions(Some(&lsids));
            Ok(Document::new())
        }
        "killAllSessions" => {
            ctx.shared.lock().kill_sessions(None);
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
        "insert" => insert::run(ctx, cmd).await,
        "update" => update::run(ctx, cmd).await,
        "delete" => delete::run(ctx, cmd).await,
        "find" => find::run(ctx, cmd),
        "findAndModify" | "findandmodify" => find_and_modify::run(ctx, cmd).await,
        "count" => count::run(ctx, cmd),
        "aggregate" => aggregate::run(ctx, cmd),
        "getMore" => get_more::run(ctx, cmd).await,
        "killCursors" => kill_cursors::run(ctx, cmd),
        "listCollections" => list::collections(ctx, cmd),
        "listDatabases" => list::databases(ctx, cmd),
        "commitTransaction" => transaction::commit(ctx),
        "abortTransaction" => transaction::abort(ctx),
        "listIndexes" => indexes::list(ctx, cmd),
        "create" | "collMod" | "drop" | "dropDatabase" | "renameCollection" | "createIndexes"
        | "dropIndexes" => {
            ddl::wait_for_transactions(ctx, name, cmd).await?;
            ddl_command(ctx, name, cmd)
        }
        other => Err(CommandError::command_not_found(other)),
    }
}

/// A DDL command, once no open transaction uses its collections.
fn ddl_command(ctx: &mut Ctx<'_>, name: &str, cmd: &Document) -> CommandResult {
    match name {
        "create" => ddl::create(ctx, cmd),
        "collMod" => ddl::coll_mod(ctx, cmd),
        "drop" => ddl::drop(ctx, cmd),
        "dropDatabase" => ddl::drop_database(ctx, cmd),
        "renameCollection" => ddl::rename(ctx, cmd),
        "createIndexes" => create_indexes::run(ctx, cmd),
        "dropIndexes" => indexes::drop(ctx, cmd),
        _ => Err(CommandError::command_not_found(name)),
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
