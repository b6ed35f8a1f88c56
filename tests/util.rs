//! Helpers: run the binary from the repository root, in a fresh temp dir per test.

use assert_cmd::Command;
use std::path::PathBuf;

/// The repository root (where `rules/` and `examples/` are).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `herald` with the working directory at the repository root and quiet logs.
pub fn herald() -> Command {
    let mut cmd = Command::cargo_bin("herald").expect("the herald binary");
    cmd.current_dir(root())
        .env("RUST_LOG", "error")
        .env_remove("HERALD_RULES")
        .env_remove("HERALD_STORE")
        .env_remove("HERALD_CONFIG");
    cmd
}

/// A fresh directory for one test, removed when dropped.
pub struct Dir(tempfile::TempDir);

impl Dir {
    pub fn new() -> Self {
        Self(tempfile::tempdir().expect("temp dir"))
    }

    pub fn path(&self) -> &std::path::Path {
        self.0.path()
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    /// Writes a file (creating parent directories) and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent dir");
        }
        std::fs::write(&path, contents).expect("write file");
        path
    }
}

/// Declares a test that gets a fresh [`Dir`] as `$dir`.
macro_rules! herald_test {
    ($name:ident, |$dir:ident| $body:block) => {
        #[test]
        fn $name() {
            let $dir = $crate::util::Dir::new();
            $body
        }
    };
}

/// The keys (or `kind`s) `herald.toml` accepts where `probe` puts an unknown
/// one: the list serde's `deny_unknown_fields` error gives (none when it says
/// there are no fields). So tests of the keys (the `herald init` template,
/// `docs/configuration.md`) follow the config structs without a copy of them.
pub fn accepted(probe: &str) -> Vec<String> {
    let err = herald_engine::config::Config::parse(probe).unwrap_err();
    if err.ends_with("there are no fields") {
        return Vec::new();
    }
    let (_, choices) = err
        .split_once("expected")
        .unwrap_or_else(|| panic!("{probe:?}: {err}"));
    choices
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Stdout of a finished command as text.
pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr of a finished command as text.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The shipped example events.
pub const EVENTS: &str = "examples/approvals/events.jsonl";

/// The `mongosim` binary, built beside `herald` by `cargo test --workspace`.
pub fn mongosim_bin() -> PathBuf {
    let herald = PathBuf::from(env!("CARGO_BIN_EXE_herald"));
    let path = herald.with_file_name(format!("mongosim{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build -p mongosim` first)",
        path.display()
    );
    path
}

/// A `mongosim` process, killed when dropped.
pub struct MongoSimProcess {
    child: std::process::Child,
    /// Its connection string.
    pub uri: String,
}

impl MongoSimProcess {
    /// Starts `mongosim --port 0` and reads the address it prints.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts `mongosim --port 0` with more arguments (`--standalone`).
    pub fn start_with(args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(mongosim_bin())
            .args(["--port", "0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("mongosim starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("mongosim prints its address");
        let uri = line
            .split('(')
            .nth(1)
            .and_then(|s| s.trim_end().strip_suffix(')'))
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Self { child, uri }
    }
}

impl Drop for MongoSimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to 30 s for a condition, checking every 20 ms.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `herald` as a plain process (for long-running commands), set up like [`herald`].
pub fn herald_process() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_herald"));
    cmd.current_dir(root())
        .env("RUST_LOG", "error")
        .env_remove("HERALD_RULES")
        .env_remove("HERALD_STORE")
        .env_remove("HERALD_CONFIG");
    cmd
}

/// An insert of document `n` into `shop.orders`, as one Extended JSON line,
/// with the resume token `{_data: "<n, 4 digits>"}`.
pub fn order_insert(n: u32) -> String {
    format!(
        r#"{{"_id":{{"_data":"{n:04}"}},"operationType":"insert","ns":{{"db":"shop","coll":"orders"}},"documentKey":{{"_id":{n}}},"fullDocument":{{"_id":{n}}}}}"#
    )
}

/// Writes [`order_insert`] lines for `orders` to the file `name` of `dir`.
pub fn write_orders(dir: &Dir, name: &str, orders: impl IntoIterator<Item = u32>) -> PathBuf {
    let text: String = orders.into_iter().map(|n| order_insert(n) + "\n").collect();
    dir.write(name, &text)
}

/// A runtime that serves a test's webhook receiver while herald runs.
pub fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Sends SIGTERM to a child (a graceful stop), asserting it was delivered.
pub fn sigterm(child: &std::process::Child) {
    let sent = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(sent.success(), "SIGTERM to {}", child.id());
}

/// The Unix time one second ago, in seconds: a `start_at` that takes in
/// whatever a test writes once herald runs, however long its stream takes
/// to open.
pub fn one_second_ago() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1
}

/// A `herald.toml` in `dir` for `herald run` on mongosim at `sim_uri` from
/// one second ago, with webhook `sink` at `sink_uri` and these `[engine]`
/// settings (the crash tests' setup).
pub fn crash_config(dir: &Dir, sim_uri: &str, sink_uri: &str, engine: &str) -> PathBuf {
    let start = one_second_ago();
    dir.write(
        "herald.toml",
        &format!(
            "rules = \"rules\"\nstore = \"store\"\n[mongodb]\nuri = \"{sim_uri}\"\nstart_at = \"{start}\"\nmax_await_ms = 50\n[engine]\n{engine}\n[retry]\ninitial_backoff_ms = 5\nmax_backoff_ms = 50\n[webhooks.sink]\nurl = \"{sink_uri}/sink\"\ntimeout_ms = 2000\n"
        ),
    )
}

/// `herald run` with its stderr collected line by line as it comes.
pub struct Running {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Running {
    /// A failed test leaves no herald running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    pub fn start(config: &std::path::Path, args: &[&str]) -> Self {
        Self::start_with_env(config, args, &[])
    }

    /// [`Running::start`] with these environment variables set.
    pub fn start_with_env(config: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = herald_process()
            .envs(env.iter().copied())
            .arg("run")
            .arg("--config")
            .arg(config)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
                sink.lock().unwrap().push(line.unwrap_or_default());
            }
        });
        Self { child, lines }
    }

    /// Waits for the `n`th stderr line (1-based) containing `text`, and returns it.
    pub fn wait_for(&self, text: &str, n: usize) -> String {
        let mut found = String::new();
        crate::util::wait_until(&format!("stderr line {n} with {text:?}"), || {
            let lines = self.lines.lock().unwrap();
            match lines.iter().filter(|l| l.contains(text)).nth(n - 1) {
                Some(line) => {
                    found.clone_from(line);
                    true
                }
                None => false,
            }
        });
        found
    }

    /// The first stderr line so far containing each of `texts`, without waiting.
    pub fn saw(&self, texts: &[&str]) -> Option<String> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .find(|l| texts.iter().all(|t| l.contains(t)))
            .cloned()
    }

    pub fn signal(&self, name: &str) {
        let sent = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success(), "SIG{name} to {}", self.child.id());
    }

    /// SIGTERM, then the whole stderr once it exited.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        self.signal("TERM");
        let status = self.child.wait().unwrap();
        // The reader thread ends at EOF; wait for the summary line it carries.
        if status.success() {
            self.wait_for("herald stopped", 1);
        }
        (status, self.lines.lock().unwrap().join("\n"))
    }
}

/// A config on mongosim from one second ago, with the `out` channel a file.
pub fn notices_config(dir: &Dir, uri: &str) -> std::path::PathBuf {
    let start = one_second_ago();
    dir.write(
        "herald.toml",
        &format!(
            "rules = \"rules\"\nstore = \"store\"\n[mongodb]\nuri = \"{uri}\"\nstart_at = \"{start}\"\nmax_await_ms = 50\n[engine]\ncommit_interval_ms = 20\n[channels.out]\nkind = \"file\"\npath = \"out/notices.jsonl\"\n"
        ),
    )
}

/// Runs `f` with the `shop` database of mongosim at `uri`.
pub fn with_shop(uri: &str, f: impl AsyncFnOnce(mongodb::Database)) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let client = mongodb::Client::with_uri_str(uri).await.unwrap();
            f(client.database("shop")).await;
        });
}

/// The lines of the file at `path` that are whole (end in a newline): a
/// file that herald is writing may end in part of a line. None if it is missing.
pub fn complete_lines(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let whole = text.rfind('\n').map_or("", |end| &text[..end]);
    whole.lines().map(str::to_owned).collect()
}

/// A webhook receiver answering 200 to every POST, served on a runtime of
/// its own while the test's thread drives herald.
pub struct Sink {
    runtime: tokio::runtime::Runtime,
    server: wiremock::MockServer,
}

impl Sink {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(async {
            let server = wiremock::MockServer::start().await;
            wiremock::Mock::given(wiremock::matchers::method("POST"))
                .respond_with(wiremock::ResponseTemplate::new(200))
                .mount(&server)
                .await;
            server
        });
        Self { runtime, server }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// (Idempotency-Key, document id, version) of every request so far, in
    /// arrival order (the crash tests' rule sends `{id, v}`).
    pub fn versions(&self) -> Vec<(String, i64, i64)> {
        self.runtime
            .block_on(self.server.received_requests())
            .unwrap_or_default()
            .iter()
            .map(|r| {
                let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                (
                    r.headers["Idempotency-Key"].to_str().unwrap().to_owned(),
                    body["id"].as_i64().unwrap(),
                    body["v"].as_i64().unwrap(),
                )
            })
            .collect()
    }
}

/// On a thread of its own: inserts documents `0..docs` (`{_id, v: 0}`) into
/// `db.coll` at `uri`, then sets `v` of each to 1, 2, ... up to
/// `versions - 1`, waiting `pace` after each write (pacing, not synchronisation).
pub fn spawn_writer(
    uri: &str,
    (db, coll): (&str, &str),
    docs: i32,
    versions: i32,
    pace: std::time::Duration,
) -> std::thread::JoinHandle<()> {
    let (uri, db, coll) = (uri.to_owned(), db.to_owned(), coll.to_owned());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
            let docs_coll = client.database(&db).collection::<bson::Document>(&coll);
            for v in 0..versions {
                for id in 0..docs {
                    if v == 0 {
                        docs_coll
                            .insert_one(bson::doc! {"_id": id, "v": v})
                            .await
                            .unwrap();
                    } else {
                        docs_coll
                            .update_one(bson::doc! {"_id": id}, bson::doc! {"$set": {"v": v}})
                            .await
                            .unwrap();
                    }
                    tokio::time::sleep(pace).await;
                }
            }
        });
    })
}

/// Every (document, version) of a [`spawn_writer`] of `docs` and `versions`.
pub fn every_version(docs: i32, versions: i32) -> std::collections::HashSet<(i64, i64)> {
    (0..docs)
        .flat_map(|id| (0..versions).map(move |v| (i64::from(id), i64::from(v))))
        .collect()
}

/// The crash tests' verdict on what a [`Sink`] received: exactly one
/// idempotency key per expected effect, none lost, and each document's
/// effects first arriving in version order.
pub fn check_versions(all: &[(String, i64, i64)], docs: i32, versions: i32) {
    use std::collections::{HashMap, HashSet};
    let expected = every_version(docs, versions);
    let keys: HashMap<&str, (i64, i64)> = all
        .iter()
        .map(|(k, id, v)| (k.as_str(), (*id, *v)))
        .collect();
    println!(
        "{} effects expected, {} requests received, {} duplicates (same idempotency key)",
        expected.len(),
        all.len(),
        all.len() - keys.len()
    );
    assert_eq!(keys.len(), expected.len(), "one idempotency key per effect");
    assert_eq!(
        keys.values().copied().collect::<HashSet<_>>(),
        expected,
        "no effect lost"
    );
    let mut first_seen: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut seen = HashSet::new();
    for (key, id, v) in all {
        if seen.insert(key.as_str()) {
            first_seen.entry(*id).or_default().push(*v);
        }
    }
    for (id, seen) in first_seen {
        assert_eq!(
            seen,
            (0..i64::from(versions)).collect::<Vec<_>>(),
            "document {id}'s effects in order"
        );
    }
}
