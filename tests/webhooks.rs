//! Webhook delivery as a receiver sees it: error replies kept in dead
//! letters, signed requests, proxies and TLS settings.

mod proxy;
mod tls;

use crate::util::{Dir, herald, server_runtime, stderr, stdout, write_orders};

/// A receiver that answers every POST with `status` and `body`.
fn answering(runtime: &tokio::runtime::Runtime, status: u16, body: &str) -> wiremock::MockServer {
    runtime.block_on(async {
        use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_string(body))
            .mount(&server)
            .await;
        server
    })
}

const RULE: &str = "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) { webhook(\"crm\", #{ id: event.documentKey._id }); }\n";

/// Replays one order through [`RULE`] with `webhook` as the body of
/// `[webhooks.crm]` (one attempt per effect); returns the config's path.
fn replay_one(
    dir: &Dir,
    webhook: &str,
    env: &[(&str, &str)],
) -> (std::path::PathBuf, std::process::Output) {
    dir.write("rules/crm.rhai", RULE);
    let config = dir.write(
        "herald.toml",
        &format!("rules = \"rules\"\nstore = \"store\"\n[webhooks.crm]\n{webhook}\n[retry]\nmax_attempts = 1\n"),
    );
    let events = write_orders(dir, "events.jsonl", [1]);
    let output = herald()
        .envs(env.iter().copied())
        .arg("replay")
        .arg(&events)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    (config, output)
}

fn dlq_show_json(config: &std::path::Path) -> serde_json::Value {
    let shown = herald()
        .args(["dlq", "show", "1", "--json", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(shown.status.success(), "{}", stderr(&shown));
    serde_json::from_str(&stdout(&shown)).unwrap()
}

herald_test!(a_refusal_s_reply_is_kept_in_the_dead_letter, |dir| {
    let runtime = server_runtime();
    let server = answering(&runtime, 422, "{\"error\":\"customer 1 is unknown\"}");
    let (config, replay) = replay_one(&dir, &format!("url = \"{}/hook\"", server.uri()), &[]);
    assert_eq!(replay.status.code(), Some(1), "{}", stderr(&replay));
    let expected = format!(
        "webhook crm: POST {} answered 422 Unprocessable Entity: {{\"error\":\"customer 1 is unknown\"}}",
        server.uri()
    );
    assert_eq!(dlq_show_json(&config)["error"], expected.as_str());
    let text = herald()
        .args(["dlq", "show", "1", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        stdout(&text).contains(&format!("error     {expected}\n")),
        "{}",
        stdout(&text)
    );
});

herald_test!(a_long_reply_is_cut_to_its_first_kib, |dir| {
    let runtime = server_runtime();
    // "x" then two-byte characters: byte 1024 falls inside one.
    let server = answering(&runtime, 503, &format!("x{}", "é".repeat(3000)));
    let (config, replay) = replay_one(&dir, &format!("url = \"{}/hook\"", server.uri()), &[]);
    assert_eq!(replay.status.code(), Some(1), "{}", stderr(&replay));
    assert_eq!(
        dlq_show_json(&config)["error"],
        format!(
            "webhook crm: POST {} answered 503 Service Unavailable: x{}… (truncated: the reply's first 1024 bytes at most)",
            server.uri(),
            "é".repeat(511)
        )
        .as_str()
    );
});

herald_test!(a_reply_that_echoes_a_secret_is_kept_without_it, |dir| {
    let runtime = server_runtime();
    let server = answering(
        &runtime,
        401,
        "bad token \"Bearer s3cr3t-token\" for /hooks/T0-s3cr3t?key=s3cr3t-q",
    );
    let url = format!("{}/hooks/T0-s3cr3t?key=s3cr3t-q", server.uri());
    let (config, replay) = replay_one(
        &dir,
        "url = { env = \"CRM_URL\" }\nheaders = { Authorization = { env = \"CRM_TOKEN\" } }",
        &[("CRM_URL", &url), ("CRM_TOKEN", "Bearer s3cr3t-token")],
    );
    assert_eq!(replay.status.code(), Some(1), "{}", stderr(&replay));
    assert!(!stderr(&replay).contains("s3cr3t"), "{}", stderr(&replay));
    assert_eq!(
        dlq_show_json(&config)["error"],
        format!(
            "webhook crm: POST {} answered 401 Unauthorized: bad token \"****\" for ****?****",
            server.uri()
        )
        .as_str()
    );
});

/// The receiver's check, written apart from herald: the hex HMAC-SHA256 of
/// `"{t}.{body}"` keyed with the secret.
fn expected_signature(secret: &[u8], t: &str, body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

herald_test!(
    signed_requests_verify_at_the_receiver_on_every_attempt,
    |dir| {
        // The check itself, against a value computed with Python's hmac module.
        assert_eq!(
            expected_signature(b"whsec_test", "1714557600", br#"{"id":1}"#),
            "d10bad98e048504ebe79e6a1e412ce5bf086c26bc0f025b023aecd204a5ba3b3"
        );
        let runtime = server_runtime();
        let server = runtime.block_on(async {
            use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};
            let server = MockServer::start().await;
            // Busy once (retried), then accepted.
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(503))
                .up_to_n_times(1)
                .mount(&server)
                .await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(200))
                .mount(&server)
                .await;
            server
        });
        dir.write("rules/crm.rhai", RULE);
        let config = dir.write(
        "herald.toml",
        &format!(
            "rules = \"rules\"\nstore = \"store\"\n[webhooks.crm]\nurl = \"{}/hook\"\nsecret = {{ env = \"CRM_SECRET\" }}\n[retry]\nmax_attempts = 2\ninitial_backoff_ms = 1\nmax_backoff_ms = 2\n",
            server.uri()
        ),
    );
        let events = write_orders(&dir, "events.jsonl", [1]);
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        };
        let before = now();
        let replay = herald()
            .env("RUST_LOG", "trace")
            .env("CRM_SECRET", "whsec_s3cr3t")
            .arg("replay")
            .arg(&events)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        let after = now();
        assert!(replay.status.success(), "{}", stderr(&replay));
        assert!(!stderr(&replay).contains("s3cr3t"), "{}", stderr(&replay));
        let requests = runtime.block_on(server.received_requests()).unwrap();
        assert_eq!(requests.len(), 2, "the refused attempt and the retry");
        for request in &requests {
            assert_eq!(request.body, br#"{"id":1}"#);
            let header = request.headers["X-Herald-Signature"].to_str().unwrap();
            let (t, v1) = header
                .strip_prefix("t=")
                .and_then(|rest| rest.split_once(",v1="))
                .unwrap_or_else(|| panic!("{header}"));
            let sent: u64 = t.parse().unwrap();
            assert!(
                (before..=after).contains(&sent),
                "{sent} not in {before}..={after}"
            );
            assert_eq!(v1, expected_signature(b"whsec_s3cr3t", t, &request.body));
            assert_eq!(request.headers["Content-Type"], "application/json");
        }
    }
);

herald_test!(an_unset_signing_secret_is_a_config_error, |dir| {
    let (_, replay) = replay_one(
        &dir,
        "url = \"http://127.0.0.1:9/hook\"\nsecret = { env = \"HERALD_TEST_UNSET_SECRET\" }",
        &[],
    );
    assert_eq!(replay.status.code(), Some(2), "{}", stderr(&replay));
    assert!(
        stderr(&replay).contains("environment variable HERALD_TEST_UNSET_SECRET is not set"),
        "{}",
        stderr(&replay)
    );
});

/// `tests/tls/NAME`: test-only certificates and key (see tests/tls/README.md).
fn tls_file(name: &str) -> String {
    crate::util::root()
        .join("tests/tls")
        .join(name)
        .display()
        .to_string()
}

/// Runs `herald replay` with `settings` added to a webhook that answers 200;
/// the exit code and stderr.
fn replay_with(dir: &Dir, settings: &str) -> (Option<i32>, String) {
    let runtime = server_runtime();
    let server = answering(&runtime, 200, "");
    let (_, output) = replay_one(
        dir,
        &format!("url = \"{}/hook\"\n{settings}", server.uri()),
        &[],
    );
    (output.status.code(), stderr(&output))
}

herald_test!(ca_files_are_checked_at_startup, |dir| {
    // Relative to the config file, which is in `dir` (herald runs elsewhere).
    let (code, err) = replay_with(&dir, "ca_file = \"certs/missing.pem\"");
    assert_eq!(code, Some(2), "{err}");
    let missing = dir.join("certs/missing.pem");
    assert!(
        err.contains(&format!("cannot read {}", missing.display())),
        "{err}"
    );
    dir.write("certs/notes.pem", "not a certificate\n");
    let (code, err) = replay_with(&dir, "ca_file = \"certs/notes.pem\"");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}: ca_file: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)",
            dir.join("certs/notes.pem").display()
        )),
        "{err}"
    );
    dir.write(
        "certs/broken.pem",
        "-----BEGIN CERTIFICATE-----\nMIIBaGVsbG8=\n-----END CERTIFICATE-----\n",
    );
    let (code, err) = replay_with(&dir, "ca_file = \"certs/broken.pem\"");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}: ca_file: a certificate in it cannot be used",
            dir.join("certs/broken.pem").display()
        )),
        "{err}"
    );
    // A good one loads, and delivery goes on.
    let (code, err) = replay_with(&dir, &format!("ca_file = {:?}", tls_file("ca.pem")));
    assert_eq!(code, Some(0), "{err}");
});

herald_test!(client_certificates_load_or_are_refused_clearly, |dir| {
    let (code, err) = replay_with(
        &dir,
        &format!(
            "client_cert = {:?}\nclient_key = {:?}",
            tls_file("client.pem"),
            tls_file("client.key")
        ),
    );
    assert_eq!(code, Some(0), "{err}");
    // Certificate and key in one file.
    let both = format!(
        "{}{}",
        std::fs::read_to_string(tls_file("client.pem")).unwrap(),
        std::fs::read_to_string(tls_file("client.key")).unwrap()
    );
    dir.write("identity.pem", &both);
    let (code, err) = replay_with(&dir, "client_cert = \"identity.pem\"");
    assert_eq!(code, Some(0), "{err}");
    // No key.
    let (code, err) = replay_with(&dir, &format!("client_cert = {:?}", tls_file("client.pem")));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}: client_cert (no client_key given): no usable PEM private key in it",
            tls_file("client.pem")
        )),
        "{err}"
    );
    // The files swapped.
    let (code, err) = replay_with(
        &dir,
        &format!(
            "client_cert = {:?}\nclient_key = {:?}",
            tls_file("client.key"),
            tls_file("client.pem")
        ),
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}: client_cert: no certificate in it",
            tls_file("client.key")
        )),
        "{err}"
    );
    // A certificate the TLS client refuses.
    let (code, err) = replay_with(
        &dir,
        &format!(
            "client_cert = {:?}\nclient_key = {:?}",
            tls_file("client-v1.pem"),
            tls_file("client.key")
        ),
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}: client_cert: the TLS client refuses it",
            tls_file("client-v1.pem")
        )) && err.contains("UnsupportedCertVersion"),
        "{err}"
    );
    // A key alone.
    let (code, err) = replay_with(&dir, &format!("client_key = {:?}", tls_file("client.key")));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("client_key: a key without client_cert"),
        "{err}"
    );
});
