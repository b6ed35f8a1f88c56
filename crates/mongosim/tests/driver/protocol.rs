//! The wire protocol below the driver: legacy handshake, refusals, limits, the process.

use mongodb::bson::{Document, doc};
use mongosim::wire::{Header, OpCode, op_msg};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect() -> (mongosim::MongoSim, TcpStream) {
    let sim = mongosim::MongoSim::builder().start().await.unwrap();
    let stream = TcpStream::connect(sim.addr()).await.unwrap();
    (sim, stream)
}

async fn read_message(stream: &mut TcpStream) -> Option<(Header, Vec<u8>)> {
    let mut header = [0u8; 16];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut header))
        .await
        .ok()?
        .ok()?;
    let header = Header::parse(&header);
    let mut payload = vec![0u8; header.length as usize - 16];
    stream.read_exact(&mut payload).await.ok()?;
    Some((header, payload))
}

#[tokio::test]
async fn a_legacy_op_query_handshake_gets_an_op_reply() {
    let (_sim, mut stream) = connect().await;
    let mut query = Vec::new();
    doc! {"isMaster": 1, "client": {"driver": {"name": "legacy", "version": "1"}}}
        .to_writer(&mut query)
        .unwrap();
    let mut payload = 0i32.to_le_bytes().to_vec();
    payload.extend_from_slice(b"admin.$cmd\0");
    payload.extend_from_slice(&0i32.to_le_bytes());
    payload.extend_from_slice(&(-1i32).to_le_bytes());
    payload.extend_from_slice(&query);
    let mut message = Vec::new();
    Header {
        length: (16 + payload.len()) as i32,
        request_id: 42,
        response_to: 0,
        op_code: OpCode::Query,
    }
    .write(&mut message);
    message.extend_from_slice(&payload);
    stream.write_all(&message).await.unwrap();
    let (header, payload) = read_message(&mut stream).await.expect("a reply");
    assert_eq!((header.op_code, header.response_to), (OpCode::Reply, 42));
    let reply = Document::from_reader(&payload[20..]).unwrap();
    assert_eq!(reply.get_bool("ismaster"), Ok(true));
    assert_eq!(reply.get_str("setName"), Ok("rs0"));
    assert_eq!(reply.get_i32("maxWireVersion"), Ok(21));
}

#[tokio::test]
async fn compressed_messages_are_refused_with_an_error() {
    let (_sim, mut stream) = connect().await;
    let mut message = Vec::new();
    Header {
        length: 16 + 9,
        request_id: 7,
        response_to: 0,
        op_code: OpCode::Compressed,
    }
    .write(&mut message);
    message.extend_from_slice(&[0; 9]);
    stream.write_all(&message).await.unwrap();
    let (header, payload) = read_message(&mut stream).await.expect("a reply");
    assert_eq!(header.response_to, 7);
    let (reply, _) = op_msg::parse(&payload).unwrap();
    assert_eq!(reply.get_f64("ok"), Ok(0.0));
    assert!(
        reply.get_str("errmsg").unwrap().contains("compression"),
        "{reply}"
    );
    // Like every reply of a replica-set member, it carries the cluster time.
    assert!(reply.get_timestamp("operationTime").is_ok(), "{reply}");
    assert!(reply.get_document("$clusterTime").is_ok(), "{reply}");
}

#[tokio::test]
async fn an_oversized_message_closes_the_connection() {
    let (_sim, mut stream) = connect().await;
    let mut message = Vec::new();
    Header {
        length: 48_000_001,
        request_id: 1,
        response_to: 0,
        op_code: OpCode::Msg,
    }
    .write(&mut message);
    stream.write_all(&message).await.unwrap();
    assert!(read_message(&mut stream).await.is_none());
}

#[tokio::test]
async fn a_checksummed_op_msg_is_verified() {
    let (_sim, mut stream) = connect().await;
    let send = |corrupt: bool| {
        let mut payload = op_msg::CHECKSUM_PRESENT.to_le_bytes().to_vec();
        payload.push(0);
        doc! {"ping": 1, "$db": "admin"}
            .to_writer(&mut payload)
            .unwrap();
        let mut message = Vec::new();
        Header {
            length: (16 + payload.len() + 4) as i32,
            request_id: 3,
            response_to: 0,
            op_code: OpCode::Msg,
        }
        .write(&mut message);
        message.extend_from_slice(&payload);
        let mut crc = crc32c_of(&message);
        if corrupt {
            crc ^= 1;
        }
        message.extend_from_slice(&crc.to_le_bytes());
        message
    };
    stream.write_all(&send(false)).await.unwrap();
    let (_, payload) = read_message(&mut stream).await.expect("a reply");
    assert_eq!(op_msg::parse(&payload).unwrap().0.get_f64("ok"), Ok(1.0));
    stream.write_all(&send(true)).await.unwrap();
    assert!(
        read_message(&mut stream).await.is_none(),
        "a bad checksum closes the connection"
    );
}

fn crc32c_of(bytes: &[u8]) -> u32 {
    // CRC-32C (Castagnoli), bitwise, so the test does not share the server's implementation.
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[tokio::test]
async fn the_binary_serves_until_terminated() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mongosim"))
        .args(["--port", "0", "--oplog-capacity", "100"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let uri = line
        .split('(')
        .nth(1)
        .and_then(|s| s.strip_suffix(")\n"))
        .expect(&line)
        .to_owned();
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    client
        .database("d")
        .collection::<Document>("c")
        .insert_one(doc! {"x": 1})
        .await
        .unwrap();
    assert_eq!(
        client
            .database("d")
            .collection::<Document>("c")
            .count_documents(doc! {})
            .await
            .unwrap(),
        1
    );
    // SAFETY-free termination: send SIGTERM through the kill command.
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn block_connection_delays_the_reply() {
    let sim = mongosim::MongoSim::builder().start().await.unwrap();
    let client = mongodb::Client::with_uri_str(sim.uri()).await.unwrap();
    client
        .database("admin")
        .run_command(crate::util::fail_point(
            doc! {"times": 1}.into(),
            doc! {"failCommands": ["find"], "blockConnection": true, "blockTimeMS": 300},
        ))
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    client
        .database("d")
        .collection::<Document>("c")
        .find_one(doc! {})
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
}
