//! Secrets stay secret: a webhook URL and a token given by environment
//! never appear in logs (at any level), dead letters, status or the store.

use crate::util::{herald, stderr, stdout};

const SECRET: &str = "s3cr3t";

/// Every file under `dir`, as bytes.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    found
}

herald_test!(a_webhook_secret_never_leaves_the_environment, |dir| {
    dir.write(
        "rules/crm.rhai",
        "const RULE = #{ watch: \"shop.orders\", on: [\"insert\"] };\nfn handle(event) { webhook(\"crm\", #{ id: event.documentKey._id }); }\n",
    );
    // A closed port: every attempt fails, so the URL passes through every
    // error path (connect errors, retries, the dead letter).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("http://127.0.0.1:{port}/hooks/T0-{SECRET}-path?key={SECRET}-query");
    let config = dir.write(
        "herald.toml",
        "store = \"store\"\n[webhooks.crm]\nurl = { env = \"CRM_HOOK_URL\" }\ntimeout_ms = 500\nheaders = { Authorization = { env = \"CRM_TOKEN\" } }\n[retry]\nmax_attempts = 2\ninitial_backoff_ms = 1\nmax_backoff_ms = 2\n",
    );
    let events = dir.write(
        "events.jsonl",
        r#"{"_id":{"_data":"0001"},"operationType":"insert","ns":{"db":"shop","coll":"orders"},"documentKey":{"_id":1},"fullDocument":{"_id":1}}"#,
    );
    let with_secrets = |args: &[&str]| {
        herald()
            .env("RUST_LOG", "trace")
            .env("CRM_HOOK_URL", &url)
            .env("CRM_TOKEN", format!("Bearer {SECRET}-token"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    };
    let replay = with_secrets(&[
        "replay",
        events.to_str().unwrap(),
        "--rules",
        dir.join("rules").to_str().unwrap(),
    ]);
    let log = stderr(&replay);
    assert_eq!(replay.status.code(), Some(1), "{log}");
    assert!(log.contains("1 dead-lettered"), "{log}");
    // What the operator sees instead: scheme and host.
    assert!(
        log.contains(&format!("POST http://127.0.0.1:{port}:")),
        "{log}"
    );
    let mut seen = vec![(
        "replay (RUST_LOG=trace)".to_owned(),
        format!("{}{log}", stdout(&replay)),
    )];
    for command in [["dlq", "list"], ["dlq", "show"], ["status", ""]] {
        let args: Vec<&str> = match command {
            ["dlq", "show"] => vec!["dlq", "show", "1"],
            [first, ""] => vec![first],
            [a, b] => vec![a, b],
        };
        let output = with_secrets(&args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        seen.push((
            args.join(" "),
            format!("{}{}", stdout(&output), stderr(&output)),
        ));
    }
    assert!(
        seen[2].1.contains(&format!(
            "POST http://127.0.0.1:{port}: error sending request"
        )) && seen[2].1.contains("Connection refused"),
        "the dead letter names the host and the cause: {}",
        seen[2].1
    );
    for (what, text) in &seen {
        assert!(!text.contains(SECRET), "{what} shows a secret:\n{text}");
    }
    for (path, bytes) in files_under(&dir.join("store")) {
        let leaked = bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
        assert!(!leaked, "{} holds a secret", path.display());
    }
});

herald_test!(a_literal_secret_in_the_config_is_refused, |dir| {
    dir.write(
        "rules/crm.rhai",
        "const RULE = #{ watch: \"shop.orders\" };\nfn handle(event) { webhook(\"crm\", #{}); }\n",
    );
    let config = dir.write(
        "herald.toml",
        "[webhooks.crm]\nurl = \"https://crm.example.com/hook\"\nheaders = { X-Api-Key = \"k-123\" }\n",
    );
    let output = herald()
        .arg("check")
        .arg(dir.join("rules"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("webhooks.crm.headers.X-Api-Key"), "{err}");
    assert!(err.contains("{ env = \"VAR\" }"), "{err}");
    assert!(!err.contains("k-123"), "{err}");
});
