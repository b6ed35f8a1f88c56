//! Mutual TLS end to end: a receiver with a certificate from the test CA
//! that accepts only clients with a certificate from it too.

use super::{RULE, tls_file};
use crate::util::{Dir, herald, server_runtime, stderr, write_orders};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn pem_certs(name: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(tls_file(name))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The client certificates of the requests received (one entry per request).
type Seen = Arc<Mutex<Vec<Vec<CertificateDer<'static>>>>>;

/// Serves HTTPS on 127.0.0.1, answering every request 200; returns its port.
fn receiver(runtime: &tokio::runtime::Runtime, seen: Seen) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in pem_certs("ca.pem") {
        roots.add(cert).unwrap();
    }
    let clients = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(clients)
        .with_single_cert(
            pem_certs("server.pem"),
            PrivateKeyDer::from_pem_file(tls_file("server.key")).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                // A refused handshake (no or unknown client certificate) ends here.
                let Ok(mut stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let certs = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                    .unwrap_or_default();
                seen.lock().unwrap().push(certs);
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = stream.shutdown().await;
            });
        }
    });
    port
}

fn replay(dir: &Dir, port: u16, settings: &str) -> std::process::Output {
    dir.write("rules/crm.rhai", RULE);
    let config = dir.write(
        "herald.toml",
        &format!(
            "rules = \"rules\"\n[webhooks.crm]\nurl = \"https://127.0.0.1:{port}/hook\"\n{settings}\n[retry]\nmax_attempts = 1\n"
        ),
    );
    herald()
        .arg("replay")
        .arg(write_orders(dir, "events.jsonl", [1]))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap()
}

herald_test!(
    a_private_ca_and_a_client_certificate_reach_the_receiver,
    |dir| {
        let runtime = server_runtime();
        let seen: Seen = Arc::default();
        let port = receiver(&runtime, seen.clone());
        let both = format!(
            "ca_file = {:?}\nclient_cert = {:?}\nclient_key = {:?}",
            tls_file("ca.pem"),
            tls_file("client.pem"),
            tls_file("client.key")
        );
        let output = replay(&dir, port, &both);
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(
            *seen.lock().unwrap(),
            [pem_certs("client.pem")],
            "one request, with herald's client certificate"
        );

        // Without the CA, herald does not trust the receiver.
        let no_ca = format!(
            "client_cert = {:?}\nclient_key = {:?}",
            tls_file("client.pem"),
            tls_file("client.key")
        );
        let output = replay(&dir, port, &no_ca);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("UnknownIssuer"),
            "{}",
            stderr(&output)
        );
        // Without the client certificate, the receiver refuses herald.
        let output = replay(&dir, port, &format!("ca_file = {:?}", tls_file("ca.pem")));
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert_eq!(
            seen.lock().unwrap().len(),
            1,
            "no other request got through"
        );
    }
);
