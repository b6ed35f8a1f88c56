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
pub mod query;
mod read_concern;
mod update;

use crate::error::{CommandError, CommandResult};
use crate::fail_point::Action;
use crate::state::{Shared, State};
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
    /// The session whose transaction the command runs in, and the
    /// collection it uses, if any.
    pub txn: Option<(Vec<u8>, Option<crate::oplog::Ns>)>,
}

impl Ctx<'_> {
    /// Locks the state; inside a transaction with the transaction's own data
    /// in place of the server's (its snapshot and its writes), and its writes
    /// held back, until the guard is dropped.
    pub fn lock(&self) -> StateGuard<'_> {
        let mut guard = self.shared.lock();
        if let Some((key, ns)) = &self.txn {
            let State {
                catalog,
                txns,
                capture,
                ..
            } = &mut *guard;
            if let Some(txn) = txns.open.get_mut(key) {
                if let Some(ns) = ns {
                    txn.parked = crate::txn::take_collection(catalog, ns);
                    if let Some(mine) = txn.collections.get_mut(ns).and_then(Option::take) {
                        crate::txn::put_collection(catalog, ns, mine);
                    }
                }
                *capture = Some(Vec::new());
            }
        }
        StateGuard {
            guard,
            txn: self.txn.clone(),
        }
    }
}

/// The locked state, as a command sees it (see [`Ctx::lock`]).
pub struct StateGuard<'a> {
    guard: std::sync::MutexGuard<'a, State>,
    txn: Option<(Vec<u8>, Option<crate::oplog::Ns>)>,
}

impl std::ops::Deref for StateGuard<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.guard
    }
}

impl std::ops::DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

impl Drop for StateGuard<'_> {
    fn drop(&mut self) {
        let Some((key, ns)) = &self.txn else { return };
        let State {
            catalog,
            txns,
            capture,
            ..
        } = &mut *self.guard;
        if let (Some(txn), Some(held)) = (txns.open.get_mut(key), capture.take()) {
            if let Some(ns) = ns {
                let mine = crate::txn::take_collection(catalog, ns);
                txn.collections.insert(ns.clone(), mine);
                if let Some(server) = txn.parked.take() {
                    crate::txn::put_collection(catalog, ns, server);
                }
            }
            txn.ops.extend(held);
        }
    }
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
    let fields = match crate::txn::Fields::of(&cmd) {
        Ok(fields) => fields,
        Err(error) => return Reply::Doc(finish(shared, Err(error))),
    };
    let mut ctx = Ctx {
        shared,
        db,
        conn,
        txn: None,
    };
    let result = match fields {
        Some(fields) => in_transaction(&mut ctx, &name, cmd, &fields).await,
        None => dispatch(&mut ctx, &name, &cmd).await,
    };
    Reply::Doc(finish(shared, result))
}

/// Runs a command of a transaction (see [`crate::txn`]).
async fn in_transaction(
    ctx: &mut Ctx<'_>,
    name: &str,
    mut cmd: Document,
    fields: &crate::txn::Fields,
) -> CommandResult {
    match name {
        "commitTransaction" => {
            let mut state = ctx.shared.lock();
            let result = crate::txn::commit(&mut state, fields);
            ctx.shared.notify_writes(&state);
            return result;
        }
        "abortTransaction" => return crate::txn::abort(&mut ctx.shared.lock(), fields),
        _ => {}
    }
    // The collection the statement uses (none for a getMore: its cursor
    // holds its documents).
    let ns = (name != "getMore")
        .then(|| collection_name(&cmd, name).ok())
        .flatten()
        .map(|coll| crate::oplog::Ns {
            db: ctx.db.clone(),
            coll: coll.to_owned(),
        });
    let (key, from) = {
        let mut state = ctx.shared.lock();
        let last_seq = state.oplog.last_seq();
        let State { catalog, txns, .. } = &mut *state;
        let key = crate::txn::enter(txns, catalog, last_seq, fields, name, ns.as_ref())?;
        let from = txns.open.get(&key).map_or(0, |t| t.ops.len());
        (key, from)
    };
    // The transaction reads its own copy: the read concern of its first
    // statement has been applied by taking it.
    cmd.remove("readConcern");
    ctx.txn = Some((key.clone(), ns));
    let result = dispatch(ctx, name, &cmd).await;
    ctx.txn = None;
    let mut state = ctx.shared.lock();
    let State {
        txns, last_writes, ..
    } = &mut *state;
    crate::txn::check_writes(txns, last_writes, &key, from)?;
    // A statement that fails (or fails a write) aborts the transaction.
    let failed = match &result {
        Ok(reply) => reply.contains_key("writeErrors"),
        Err(_) => true,
    };
    if failed {
        txns.open.remove(&key);
    }
    result
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
            50768,
            "InvalidOptions",
            format!("{name} must be run within a transaction"),
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
