//! Accepting connections and serving requests until shutdown.

use crate::commands::{self, Conn, Reply};
use crate::error::CommandError;
use crate::state::Shared;
use crate::wire::{self, Header, Request, WireError, op_msg, op_query};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

static NEXT_REQUEST_ID: AtomicI32 = AtomicI32::new(1);

/// Serves `listener` until `shutdown` completes; open connections are dropped then.
pub async fn run(listener: TcpListener, shared: Arc<Shared>, shutdown: impl Future) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve(stream, shared.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut conn = Conn {
        id: shared.next_connection.fetch_add(1, Ordering::Relaxed),
        app_name: None,
    };
    loop {
        let (header, request) = match read_request(&mut stream).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(connection = conn.id, error = %e, "closing connection");
                return;
            }
        };
        let response_id = NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed);
        let bytes = match request {
            Request::Msg { body, flags } => {
                let db = body.get_str("$db").unwrap_or("admin").to_owned();
                match commands::run(&shared, &mut conn, db, body).await {
                    Reply::Close => return,
                    Reply::Doc(_) if flags & op_msg::MORE_TO_COME != 0 => continue,
                    Reply::Doc(reply) => op_msg::encode(response_id, header.request_id, &reply),
                }
            }
            Request::Query { collection, query } => {
                let db = collection
                    .strip_suffix(".$cmd")
                    .unwrap_or("admin")
                    .to_owned();
                // Drivers may wrap the command as {$query: {...}}.
                let query = query.get_document("$query").cloned().unwrap_or(query);
                match commands::run(&shared, &mut conn, db, query).await {
                    Reply::Close => return,
                    Reply::Doc(reply) => {
                        op_query::encode_reply(response_id, header.request_id, &reply)
                    }
                }
            }
            Request::Compressed => {
                let reply = commands::error_reply(
                    &shared,
                    CommandError::bad_value(
                        "mongosim does not negotiate compression; OP_COMPRESSED is not accepted",
                    ),
                );
                op_msg::encode(response_id, header.request_id, &reply)
            }
        };
        if stream.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

async fn read_request(stream: &mut TcpStream) -> Result<Option<(Header, Request)>, WireError> {
    let mut header_bytes = [0u8; Header::LEN];
    match stream.read_exact(&mut header_bytes).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let header = Header::parse(&header_bytes);
    let mut payload = vec![0u8; wire::payload_len(&header)?];
    stream.read_exact(&mut payload).await?;
    let request = wire::decode(&header_bytes, &payload)?;
    Ok(Some((header, request)))
}
