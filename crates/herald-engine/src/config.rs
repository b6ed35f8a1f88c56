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
//! ledger_ttl_hours = 168      # dedupe marks older than this are removed at start
//!
//! [channels.approvals]        # notify("approvals", ...)
//! kind = "file"               # stdout | file | log | webhook
//! path = "notices.jsonl"
//!
//! [webhooks.crm]              # webhook("crm", ...)
//! url = "https://crm.example.com/hooks/expenses"
//! timeout_ms = 5000
//! headers = { Authorization = { env = "CRM_TOKEN" } }   # secrets only by env reference
//!
//! [retry]
//! max_attempts = 5
//! initial_backoff_ms = 200
//! max_backoff_ms = 30000
//! max_attempts_for = { crm = 10 }   # per channel or webhook name
//! ```
//!
//! A `notify` channel that no config names prints the notice readably to stdout.

use herald_store::Durability;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
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
}

/// `[mongodb]`: the connection and the change stream policies.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongoConfig {
    /// The connection string; `HERALD_MONGODB_URI` overrides it.
    pub uri: Option<String>,
    /// Where streams without a checkpoint start: `now`, or an operation time `SECONDS[:INCREMENT]`.
    #[serde(default)]
    pub start_at: Option<String>,
    /// `fail` (default) or `from_now`.
    #[serde(default)]
    pub on_history_lost: Option<String>,
    /// `stop` (default) or `restart`.
    #[serde(default)]
    pub on_invalidate: Option<String>,
    /// `maxAwaitTimeMS` of getMore.
    #[serde(default)]
    pub max_await_ms: Option<u64>,
    /// Ask the server to split events over 16 MiB (`$changeStreamSplitLargeEvent`, MongoDB 7.0+).
    #[serde(default)]
    pub split_large_events: bool,
    /// Per watch target settings.
    #[serde(default)]
    pub streams: BTreeMap<String, StreamConfig>,
}

/// `[mongodb.streams."db.coll"]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// `stop` or `restart`.
    pub on_invalidate: Option<String>,
}

impl MongoConfig {
    /// The environment variable that overrides `uri`.
    pub const URI_ENV: &'static str = "HERALD_MONGODB_URI";

    /// The connection string: the environment first, then the file.
    pub fn resolved_uri(&self) -> Option<String> {
        std::env::var(Self::URI_ENV)
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| self.uri.clone())
    }

    /// The change stream options this section describes.
    pub fn source_options(&self) -> Result<herald_ingest::mongo::MongoSourceOptions, String> {
        use herald_ingest::mongo::{
            HistoryLostPolicy, InvalidatePolicy, MongoSourceOptions, StartAt,
        };
        let invalidate = |v: &Option<String>, at: &str| match v.as_deref() {
            None | Some("stop") => Ok(InvalidatePolicy::Stop),
            Some("restart") => Ok(InvalidatePolicy::Restart),
            Some(other) => Err(format!(
                "{at}: on_invalidate must be \"stop\" or \"restart\", not {other:?}"
            )),
        };
        let mut options = MongoSourceOptions {
            on_history_lost: match self.on_history_lost.as_deref() {
                None | Some("fail") => HistoryLostPolicy::Fail,
                Some("from_now") => HistoryLostPolicy::FromNow,
                Some(other) => {
                    return Err(format!(
                        "mongodb.on_history_lost must be \"fail\" or \"from_now\", not {other:?}"
                    ));
                }
            },
            on_invalidate: invalidate(&self.on_invalidate, "mongodb")?,
            start_at: match self.start_at.as_deref() {
                None | Some("now") => StartAt::Now,
                Some(text) => {
                    let (seconds, increment) = text.split_once(':').unwrap_or((text, "0"));
                    match (seconds.parse::<u32>(), increment.parse::<u32>()) {
                        (Ok(time), Ok(increment)) => {
                            StartAt::OperationTime(bson::Timestamp { time, increment })
                        }
                        _ => {
                            return Err(format!(
                                "mongodb.start_at must be \"now\" or SECONDS[:INCREMENT], not {text:?}"
                            ));
                        }
                    }
                }
            },
            ..MongoSourceOptions::default()
        };
        options.split_large_events = self.split_large_events;
        if let Some(ms) = self.max_await_ms {
            options.max_await = Duration::from_millis(ms);
        }
        for (target, stream) in &self.streams {
            let parsed: herald_core::WatchTarget = target
                .parse()
                .map_err(|e: herald_core::NamespaceError| format!("mongodb.streams: {e}"))?;
            options.on_invalidate_for.insert(
                parsed,
                invalidate(
                    &stream.on_invalidate,
                    &format!("mongodb.streams.\"{target}\""),
                )?,
            );
        }
        Ok(options)
    }
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
    /// Ledger marks older than this are removed at start: they only guard against replays,
    /// which never reach back further than the oplog window.
    pub ledger_ttl_hours: u64,
}

impl EngineSettings {
    /// Events per group commit unless configured.
    pub const DEFAULT_COMMIT_EVERY: usize = 512;
    /// Milliseconds before a partial group commits unless configured.
    pub const DEFAULT_COMMIT_INTERVAL_MS: u64 = 200;
    /// Events waiting per worker unless configured.
    pub const DEFAULT_QUEUE: usize = 256;
    /// Ledger TTL unless configured: a week, well past a typical oplog window.
    pub const DEFAULT_LEDGER_TTL_HOURS: u64 = 24 * 7;
    /// Shutdown deadline unless configured.
    pub const DEFAULT_SHUTDOWN_TIMEOUT_MS: u64 = 30_000;

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
            ledger_ttl_hours: Self::DEFAULT_LEDGER_TTL_HOURS,
        }
    }
}

/// A `notify` channel (`[channels.NAME]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelConfig {
    /// Print notices readably to stdout.
    Stdout,
    /// Append notices as JSON lines to a file.
    File {
        /// The file (relative paths are relative to the config file).
        path: PathBuf,
    },
    /// Write notices to herald's log as structured events.
    Log,
    /// POST notices as JSON.
    Webhook(WebhookConfig),
}

/// A webhook target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST.
    pub url: String,
    /// Per-request timeout in milliseconds.
    #[serde(default = "WebhookConfig::default_timeout_ms")]
    pub timeout_ms: u64,
    /// Extra headers; values are literal strings or `{ env = "VAR" }`.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderValue>,
}

impl WebhookConfig {
    /// Request timeout unless configured.
    pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

    fn default_timeout_ms() -> u64 {
        Self::DEFAULT_TIMEOUT_MS
    }

    /// The timeout as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// A header value: literal, or read from the environment (for secrets).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum HeaderValue {
    /// Used as written.
    Literal(String),
    /// Read from an environment variable when the engine starts.
    Env {
        /// The variable's name.
        env: String,
    },
}

impl HeaderValue {
    /// The value, reading the environment if needed.
    pub fn resolve(&self) -> Result<String, ConfigError> {
        match self {
            Self::Literal(v) => Ok(v.clone()),
            Self::Env { env } => {
                std::env::var(env).map_err(|_| ConfigError::MissingEnv(env.clone()))
            }
        }
    }
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
    /// Reads and validates a config file; relative channel paths become relative to its directory.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        for dir in [&mut config.rules, &mut config.store].into_iter().flatten() {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
        for channel in config.channels.values_mut() {
            if let ChannelConfig::File { path } = channel
                && path.is_relative()
            {
                *path = base.join(&*path);
            }
        }
        Ok(config)
    }

    /// Parses config text; the error names the line and column.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        if config.engine.commit_every == 0 {
            return Err("engine.commit_every must be at least 1".into());
        }
        if config.retry.max_attempts == 0 {
            return Err("retry.max_attempts must be at least 1".into());
        }
        config.mongodb.source_options()?;
        Ok(config)
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
            HeaderValue::Env { .. }
        ));
        assert_eq!(
            config.webhooks["crm"].timeout_ms,
            WebhookConfig::DEFAULT_TIMEOUT_MS
        );
    }

    #[test]
    fn mistakes_are_named_with_their_line() {
        let err = Config::parse("[channels.a]\nkind = \"fax\"\n").unwrap_err();
        assert!(err.contains("line 1") || err.contains("fax"), "{err}");
        let err = Config::parse("[engine]\ncomit_every = 5\n").unwrap_err();
        assert!(
            err.contains("comit_every") && err.contains("line 2"),
            "{err}"
        );
        let err = Config::parse("[engine]\ncommit_every = 0\n").unwrap_err();
        assert!(err.contains("at least 1"), "{err}");
    }

    #[test]
    fn env_headers_must_be_set() {
        let missing = HeaderValue::Env {
            env: "HERALD_TEST_SURELY_UNSET_VAR".into(),
        };
        assert!(matches!(missing.resolve(), Err(ConfigError::MissingEnv(_))));
    }
}

#[cfg(test)]
mod mongo_tests {
    use super::*;
    use herald_ingest::mongo::{HistoryLostPolicy, InvalidatePolicy, StartAt};

    #[test]
    fn mongodb_policies_parse() {
        let config = Config::parse(
            "rules = \"r\"\n[mongodb]\nuri = \"mongodb://h/\"\nstart_at = \"1700000000:2\"\non_history_lost = \"from_now\"\n[mongodb.streams.\"a.b\"]\non_invalidate = \"restart\"\n",
        )
        .unwrap();
        let options = config.mongodb.source_options().unwrap();
        assert_eq!(options.on_history_lost, HistoryLostPolicy::FromNow);
        assert_eq!(
            options.start_at,
            StartAt::OperationTime(bson::Timestamp {
                time: 1_700_000_000,
                increment: 2
            })
        );
        assert_eq!(
            options.invalidate_policy(&"a.b".parse().unwrap()),
            InvalidatePolicy::Restart
        );
        assert_eq!(
            options.invalidate_policy(&"a.c".parse().unwrap()),
            InvalidatePolicy::Stop
        );
        let err = Config::parse("[mongodb]\non_history_lost = \"ignore\"\n").unwrap_err();
        assert!(err.contains("from_now"), "{err}");
    }
}
