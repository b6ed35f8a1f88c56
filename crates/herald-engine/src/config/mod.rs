//! `herald.toml`: channels, webhooks and engine settings.
//!
//! ```toml
//! rules = "rules"             # relative to this file
//! store = "data/herald"
//!
//! [mongodb]                   # for `herald run`
//! uri = "mongodb://127.0.0.1:27017/?replicaSet=rs0"   # or HERALD_MONGODB_URI
//! start_at = "now"            # or "1714557600" / "1714557600:3" (an operation time)
//! on_history_lost = "fail"    # or "from_now"
//! on_invalidate = "stop"      # or "restart"
//! max_await_ms = 1000
//! split_large_events = false  # true: join events over 16 MiB from fragments (MongoDB 7.0+)
//! [mongodb.streams."finance.expenses"]
//! on_invalidate = "restart"
//!
//! [engine]
//! durability = "batch"        # or "always"
//! commit_every = 512          # events per group commit
//! commit_interval_ms = 200    # or sooner, when events trickle in
//! workers = 0                 # parallel workers (0 = one per core); one document's events stay in order
//! queue = 256                 # events waiting per worker before the source is paused
//! shutdown_timeout_ms = 30000 # on SIGTERM, how long in-flight events may take
//! ledger_window = 500000      # (rule, event) pairs the dedupe ledger remembers (~24 bytes of memory each)
//! handler_timeout_ms = 1000   # one handler call's time limit (a rule may set its own `timeout_ms`)
//! handler_memory_mib = 64     # one handler call's memory limit (a rule may set its own `memory_mib`)
//!
//! [channels.approvals]        # notify("approvals", ...)
//! kind = "file"               # stdout | file | log | webhook
//! path = "notices.jsonl"
//!
//! [webhooks.crm]              # webhook("crm", ...)
//! url = "https://crm.example.com/hooks/expenses"   # or { env = "CRM_HOOK_URL" }
//! allow_insecure = false      # true: allow http:// to a host other than loopback
//! timeout_ms = 5000
//! headers = { Authorization = { env = "CRM_TOKEN" } }   # secrets only by env reference
//! secret = { env = "CRM_SIGNING_SECRET" }   # signs each request (X-Herald-Signature)
//! proxy = "http://proxy.internal:3128"       # or { env = "VAR" } when it holds a password
//! ca_file = "certs/internal-ca.pem"          # trusted besides the system's roots
//! client_cert = "certs/herald.pem"           # mutual TLS; the key in it or in client_key
//! client_key = "certs/herald.key"
//!
//! [retry]
//! max_attempts = 5
//! initial_backoff_ms = 200
//! max_backoff_ms = 30000
//! max_attempts_for = { crm = 10 }   # per channel or webhook name
//! ```
//!
//! With a config file, every `notify` channel and `webhook` a rule names must be defined
//! in it; without one (the demo), an unnamed `notify` channel prints readably to stdout.

use herald_store::Durability;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod cluster;
mod mongodb;
mod names;
mod reads;
mod webhook_target;
mod webhooks;
pub use self::mongodb::{MongoConfig, StreamConfig, check_connection_string};
pub use cluster::{ClusterConfig, StoreKind};
pub use names::unknown_targets;
pub use reads::reads_removed_fields;
pub use webhook_target::WebhookTarget;
pub use webhooks::{ConfigValue, SECRET_HEADER_WORDS, WebhookConfig, is_secret_header};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file this configuration was read from ([`Config::load`]). With
    /// one, every `notify` channel and `webhook` a rule uses must be named in
    /// it (or registered with the engine builder); without one (the demo),
    /// an unnamed `notify` channel prints to stdout.
    #[serde(skip)]
    pub source: Option<PathBuf>,
    /// The rules directory.
    #[serde(default)]
    pub rules: Option<PathBuf>,
    /// The store directory.
    #[serde(default)]
    pub store: Option<PathBuf>,
    /// MongoDB, for `herald run`.
    #[serde(default)]
    pub mongodb: MongoConfig,
    /// Engine settings.
    #[serde(default)]
    pub engine: EngineSettings,
    /// `notify` channels by name.
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelConfig>,
    /// `webhook` targets by name.
    #[serde(default)]
    pub webhooks: BTreeMap<String, WebhookConfig>,
    /// How failing effects are retried.
    #[serde(default)]
    pub retry: RetryConfig,
    /// The operators' HTTP endpoint of `herald run`.
    #[serde(default)]
    pub http: HttpConfig,
    /// Where the state is kept, and how instances share the work.
    #[serde(default)]
    pub cluster: ClusterConfig,
}

/// The operators' HTTP endpoint (`[http]`): `/metrics`, `/healthz`,
/// `/readyz`, `/status`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The address to listen on, e.g. `127.0.0.1:9464`; none: no endpoint.
    #[serde(default)]
    pub listen: Option<std::net::SocketAddr>,
}

/// Engine settings (`[engine]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// When commits reach the disk.
    pub durability: Durability,
    /// Events per group commit.
    pub commit_every: usize,
    /// The longest a completed event waits for its group to commit, in milliseconds.
    pub commit_interval_ms: u64,
    /// Workers handling events in parallel (events of one document stay in order); 0 = cores.
    pub workers: usize,
    /// Events waiting per worker; when full, the engine stops pulling from the source.
    pub queue: usize,
    /// On shutdown, how long in-flight events may take to finish, in milliseconds.
    pub shutdown_timeout_ms: u64,
    /// How many of the newest completed (rule, event) pairs the dedupe ledger
    /// remembers, so a source read again from an earlier point (an
    /// overlapping event file, a stream started before its checkpoint) skips
    /// them; older marks are pruned as the run goes. 0 turns the ledger off.
    pub ledger_window: usize,
    /// The longest one handler call may run, in milliseconds (a rule may set
    /// its own `timeout_ms`); past it, that (rule, event) is dead-lettered.
    pub handler_timeout_ms: u64,
    /// The most memory one handler call may hold, in MiB (a rule may set its
    /// own `memory_mib`); past it, that (rule, event) is dead-lettered.
    pub handler_memory_mib: u64,
}

impl EngineSettings {
    /// Events per group commit unless configured.
    pub const DEFAULT_COMMIT_EVERY: usize = 512;
    /// Milliseconds before a partial group commits unless configured.
    pub const DEFAULT_COMMIT_INTERVAL_MS: u64 = 200;
    /// Events waiting per worker unless configured.
    pub const DEFAULT_QUEUE: usize = 256;
    /// Ledger window unless configured (see [`herald_store::DEFAULT_LEDGER_WINDOW`]).
    pub const DEFAULT_LEDGER_WINDOW: usize = herald_store::DEFAULT_LEDGER_WINDOW;
    /// Shutdown deadline unless configured.
    pub const DEFAULT_SHUTDOWN_TIMEOUT_MS: u64 = 30_000;

    /// Handler time limit unless configured.
    pub const DEFAULT_HANDLER_TIMEOUT_MS: u64 = herald_script::limits::DEFAULT_TIMEOUT_MS;
    /// Handler memory limit (MiB) unless configured.
    pub const DEFAULT_HANDLER_MEMORY_MIB: u64 = herald_script::limits::DEFAULT_MEMORY_MIB;

    /// The limits of one handler call these settings imply.
    pub fn call_limits(&self) -> herald_script::CallLimits {
        herald_script::CallLimits {
            timeout: Duration::from_millis(self.handler_timeout_ms),
            memory: usize::try_from(self.handler_memory_mib.saturating_mul(1 << 20))
                .unwrap_or(usize::MAX),
            cancel: None,
        }
    }

    /// The store options these settings imply.
    pub fn store_options(&self) -> herald_store::StoreOptions {
        herald_store::StoreOptions {
            ledger_window: self.ledger_window,
        }
    }

    /// The number of workers: as configured, or one per core.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            durability: Durability::Batch,
            commit_every: Self::DEFAULT_COMMIT_EVERY,
            commit_interval_ms: Self::DEFAULT_COMMIT_INTERVAL_MS,
            workers: 0,
            queue: Self::DEFAULT_QUEUE,
            shutdown_timeout_ms: Self::DEFAULT_SHUTDOWN_TIMEOUT_MS,
            ledger_window: Self::DEFAULT_LEDGER_WINDOW,
            handler_timeout_ms: Self::DEFAULT_HANDLER_TIMEOUT_MS,
            handler_memory_mib: Self::DEFAULT_HANDLER_MEMORY_MIB,
        }
    }
}

/// A `notify` channel (`[channels.NAME]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelConfig {
    /// Print notices readably to stdout. (An empty struct, not a unit
    /// variant: serde lets a unit variant of a tagged enum ignore other keys,
    /// so `path` under `kind = "stdout"` would pass unnoticed.)
    Stdout {},
    /// Append notices as JSON lines to a file.
    File {
        /// The file (relative paths are relative to the config file).
        path: PathBuf,
    },
    /// Write notices to herald's log as structured events (an empty struct, as `Stdout`).
    Log {},
    /// POST notices as JSON.
    Webhook(WebhookConfig),
}

/// Retries of failing effects (`[retry]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts in all, the first included, before the event goes to the dead-letter queue.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubles each time, with jitter.
    pub initial_backoff_ms: u64,
    /// The longest wait between attempts.
    pub max_backoff_ms: u64,
    /// Attempts per channel or webhook name, overriding `max_attempts` (e.g. `{ crm = 10 }`).
    pub max_attempts_for: BTreeMap<String, u32>,
}

impl RetryConfig {
    /// Attempts unless configured.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
    /// First backoff unless configured.
    pub const DEFAULT_INITIAL_BACKOFF_MS: u64 = 200;
    /// Backoff cap unless configured.
    pub const DEFAULT_MAX_BACKOFF_MS: u64 = 30_000;
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            initial_backoff_ms: Self::DEFAULT_INITIAL_BACKOFF_MS,
            max_backoff_ms: Self::DEFAULT_MAX_BACKOFF_MS,
            max_attempts_for: BTreeMap::new(),
        }
    }
}

/// TOML's message without the value it quotes (`invalid type: string
/// "Bearer s3cret", expected a map`): a misplaced secret must not be echoed.
fn without_values(message: &str) -> String {
    // `unknown variant `VALUE`, expected ...`: the value goes, the choices stay.
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        // The value may itself hold a backtick: cut to the last "`, expected".
        return match rest.rfind("`, expected") {
            Some(end) => format!("unknown variant{}", &rest[end + 1..]),
            None => "unknown variant".to_owned(),
        };
    }
    match message.split_once("string \"") {
        Some((before, rest)) => match rest.rfind("\", ") {
            Some(end) => format!("{before}a string{}", &rest[end + 1..]),
            None => format!("{before}a string"),
        },
        None => message.to_owned(),
    }
}

/// The 1-based (line, column) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Where the key an error names (`engine.commit_every ...`,
/// `webhooks.crm.headers.X ...`) is written: the line of the key in its
/// table, else of the table.
fn locate_key(text: &str, message: &str) -> Option<(usize, usize)> {
    let path = message.split([' ', ':']).next()?;
    let parts: Vec<&str> = path.split('.').collect();
    // The longest table header the path starts with, then the next key in it.
    (1..=parts.len()).rev().find_map(|n| {
        let header = format!("[{}]", parts[..n].join("."));
        let start = text.lines().position(|l| l.trim() == header)?;
        let key = parts.get(n).copied();
        let offset = |line: usize| text.lines().take(line).map(|l| l.len() + 1).sum::<usize>();
        let found = key.and_then(|key| {
            text.lines()
                .enumerate()
                .skip(start + 1)
                .take_while(|(_, l)| !l.trim_start().starts_with('['))
                .find(|(_, l)| l.trim_start().starts_with(key))
                .map(|(i, l)| (i, l.len() - l.trim_start().len()))
        });
        let (line, indent) = found.unwrap_or((start, 0));
        Some(line_column(text, offset(line) + indent))
    })
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// A referenced environment variable is not set.
    #[error(
        "environment variable {0} is not set (herald.toml refers to it with {{ env = \"{0}\" }})"
    )]
    MissingEnv(String),
}

impl Config {
    /// Reads and validates a config file; relative channel and webhook file
    /// paths become relative to its directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = herald_core::text::read_utf8(path).map_err(|e| match e {
            herald_core::text::TextError::Read(source) => ConfigError::Read {
                path: path.to_path_buf(),
                source,
            },
            herald_core::text::TextError::NotUtf8 { line, column } => ConfigError::Invalid {
                path: PathBuf::from(format!("{}:{line}:{column}", path.display())),
                message: "the file is not UTF-8 text (an invalid byte here); save it as UTF-8"
                    .into(),
            },
        })?;
        let mut config = Self::parse_located(&text).map_err(|(at, message)| {
            let path = match at {
                Some((line, column)) => {
                    PathBuf::from(format!("{}:{line}:{column}", path.display()))
                }
                None => path.to_path_buf(),
            };
            ConfigError::Invalid { path, message }
        })?;
        config.source = Some(path.to_path_buf());
        let base = path.parent().unwrap_or(Path::new(""));
        for dir in [&mut config.rules, &mut config.store].into_iter().flatten() {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
        for channel in config.channels.values_mut() {
            match channel {
                ChannelConfig::File { path } if path.is_relative() => *path = base.join(&*path),
                ChannelConfig::Webhook(webhook) => webhook.resolve_paths(base),
                _ => {}
            }
        }
        for webhook in config.webhooks.values_mut() {
            webhook.resolve_paths(base);
        }
        Ok(config)
    }

    /// Parses config text; the error names the line and column.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_located(text).map_err(|(at, message)| match at {
            Some((line, column)) => format!("line {line}, column {column}: {message}"),
            None => message,
        })
    }

    /// [`Config::parse`], with the (line, column) of the error apart from its
    /// message: where TOML says, or the line of the table or key named.
    fn parse_located(text: &str) -> Result<Self, (Option<(usize, usize)>, String)> {
        let config: Self = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|span| line_column(text, span.start));
            (at, without_values(e.message().trim_end()))
        })?;
        config
            .validate()
            .map_err(|message| (locate_key(text, &message), message))?;
        Ok(config)
    }

    /// The checks TOML's types cannot make; errors start with the key they concern.
    fn validate(&self) -> Result<(), String> {
        let config = self;
        if config.engine.commit_every == 0 {
            return Err("engine.commit_every must be at least 1".into());
        }
        if config.retry.max_attempts == 0 {
            return Err("retry.max_attempts must be at least 1".into());
        }
        let timeout = config.engine.handler_timeout_ms;
        if !(1..=herald_script::spec::MAX_TIMEOUT_MS).contains(&timeout) {
            return Err(format!(
                "engine.handler_timeout_ms must be from 1 to {}, found {timeout}",
                herald_script::spec::MAX_TIMEOUT_MS
            ));
        }
        let memory = config.engine.handler_memory_mib;
        if !(1..=herald_script::spec::MAX_MEMORY_MIB).contains(&memory) {
            return Err(format!(
                "engine.handler_memory_mib must be from 1 to {}, found {memory}",
                herald_script::spec::MAX_MEMORY_MIB
            ));
        }
        config.mongodb.check_uri()?;
        config.cluster.check()?;
        config.mongodb.source_options()?;
        for (name, webhook) in &config.webhooks {
            webhook.check(&format!("webhooks.{name}"))?;
        }
        for (name, channel) in &config.channels {
            if let ChannelConfig::Webhook(webhook) = channel {
                webhook.check(&format!("channels.{name}"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let config = Config::parse(
            r#"
            [engine]
            durability = "always"
            [channels.approvals]
            kind = "file"
            path = "out/notices.jsonl"
            [channels.ops]
            kind = "webhook"
            url = "http://127.0.0.1:9/hook"
            [webhooks.crm]
            url = "http://127.0.0.1:9/crm"
            headers = { Authorization = { env = "CRM_TOKEN" }, X-Team = "finance" }
            "#,
        )
        .unwrap();
        assert_eq!(config.engine.durability, Durability::Always);
        assert!(matches!(
            config.channels["approvals"],
            ChannelConfig::File { .. }
        ));
        assert!(matches!(config.channels["ops"], ChannelConfig::Webhook(_)));
        assert!(matches!(
            config.webhooks["crm"].headers["Authorization"],
            ConfigValue::Env { .. }
        ));
        assert_eq!(
            config.webhooks["crm"].timeout_ms,
            WebhookConfig::DEFAULT_TIMEOUT_MS
        );
    }

    #[test]
    fn mistakes_are_named_with_their_line() {
        let err = Config::parse("[channels.a]\nkind = \"fax\"\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("unknown variant, expected one of `stdout`"),
            "{err}"
        );
        let err = Config::parse("[engine]\ncomit_every = 5\n").unwrap_err();
        assert!(
            err.contains("comit_every") && err.contains("line 2"),
            "{err}"
        );
        let err = Config::parse("[engine]\ncommit_every = 0\n").unwrap_err();
        assert!(err.contains("at least 1"), "{err}");
    }

    #[test]
    fn errors_do_not_echo_the_values_they_refuse() {
        for (text, line) in [
            ("[engine]\ndurability = \"s3cret-value\"\n", "line 2"),
            ("[engine]\ndurability = \"ab`cd-s3cret\"\n", "line 2"),
            (
                "[webhooks.crm]\nurl = \"https://x.example\"\nheaders = \"s3cret-value\"\n",
                "line 3",
            ),
            ("[engine]\ncommit_every = \"s3cret-value\"\n", "line 2"),
        ] {
            let err = Config::parse(text).unwrap_err();
            assert!(!err.contains("s3cret"), "{text}: {err}");
            assert!(err.contains(line), "{text}: {err}");
        }
    }

    #[test]
    fn env_headers_must_be_set() {
        let missing = ConfigValue::Env {
            env: "HERALD_TEST_SURELY_UNSET_VAR".into(),
        };
        assert!(matches!(missing.resolve(), Err(ConfigError::MissingEnv(_))));
    }
}
