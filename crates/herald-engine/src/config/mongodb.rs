//! `[mongodb]`: the connection string and the change stream policies of `herald run`.

use herald_ingest::mongo::{HistoryLostPolicy, InvalidatePolicy, MongoSourceOptions, StartAt};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// `[mongodb]`: the connection and the change stream policies.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongoConfig {
    /// The connection string; `HERALD_MONGODB_URI` overrides it.
    pub uri: Option<String>,
    /// Where streams without a checkpoint start: `now`, `snapshot` (the
    /// documents of collection targets first), or an operation time `SECONDS[:INCREMENT]`.
    #[serde(default)]
    pub start_at: Option<StartAt>,
    /// `fail` (default) or `from_now`.
    #[serde(default)]
    pub on_history_lost: Option<HistoryLostPolicy>,
    /// `stop` (default) or `restart`.
    #[serde(default)]
    pub on_invalidate: Option<InvalidatePolicy>,
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
    pub on_invalidate: Option<InvalidatePolicy>,
    /// `snapshot` (read its documents at its first start) or `now` (not,
    /// when `[mongodb] start_at = "snapshot"`); a collection target only.
    pub start_at: Option<StartAt>,
    /// Stages after herald's `$match` for this target's events, e.g.
    /// `[{ "$unset" = "fullDocument.receiptImage" }]`.
    #[serde(default)]
    pub stages: Vec<bson::Document>,
}

/// Why `uri` is not a MongoDB connection string (the scheme, a host),
/// without repeating it: it may hold a password.
///
/// ```
/// use herald_engine::config::check_connection_string;
/// assert!(check_connection_string("mongodb://127.0.0.1:27017/?replicaSet=rs0").is_ok());
/// assert!(check_connection_string("postgres://u:pw@h").unwrap_err().contains("mongodb://"));
/// ```
pub fn check_connection_string(uri: &str) -> Result<(), String> {
    let rest = uri
        .strip_prefix("mongodb://")
        .or_else(|| uri.strip_prefix("mongodb+srv://"))
        .ok_or("not a MongoDB connection string; it starts with mongodb:// or mongodb+srv://")?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let hosts = authority
        .rsplit_once('@')
        .map_or(authority, |(_, hosts)| hosts);
    if hosts.is_empty() {
        return Err(
            "the connection string names no host, e.g. mongodb://127.0.0.1:27017/?replicaSet=rs0"
                .into(),
        );
    }
    Ok(())
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

    /// Refuses a `uri` that is not a MongoDB connection string (the scheme, a
    /// host), without repeating it: it may hold a password.
    pub fn check_uri(&self) -> Result<(), String> {
        match &self.uri {
            Some(uri) => check_connection_string(uri).map_err(|why| format!("mongodb.uri: {why}")),
            None => Ok(()),
        }
    }

    /// The change stream options this section describes.
    pub fn source_options(&self) -> Result<MongoSourceOptions, String> {
        let mut options = MongoSourceOptions {
            on_history_lost: self.on_history_lost.unwrap_or_default(),
            on_invalidate: self.on_invalidate.unwrap_or_default(),
            start_at: self.start_at.unwrap_or_default(),
            split_large_events: self.split_large_events,
            ..MongoSourceOptions::default()
        };
        if let Some(ms) = self.max_await_ms {
            options.max_await = Duration::from_millis(ms);
        }
        for (target, stream) in &self.streams {
            let parsed: herald_core::WatchTarget = target
                .parse()
                .map_err(|e: herald_core::NamespaceError| format!("mongodb.streams: {e}"))?;
            if let Some(policy) = stream.on_invalidate {
                options.on_invalidate_for.insert(parsed.clone(), policy);
            }
            match (stream.start_at, &parsed) {
                (None, _) => {}
                (Some(StartAt::Snapshot | StartAt::Now), _) => {
                    options
                        .start_at_for
                        .insert(parsed.clone(), stream.start_at.unwrap_or_default());
                }
                (Some(StartAt::OperationTime(_)), _) => {
                    return Err(format!(
                        "mongodb.streams.\"{target}\".start_at: a target may say \"snapshot\" or \"now\"; an operation time is set for all streams in [mongodb] start_at"
                    ));
                }
            }
            if !stream.stages.is_empty() {
                herald_ingest::mongo::stages::check(&stream.stages)
                    .map_err(|why| format!("mongodb.streams.\"{target}\".{why}"))?;
                options.stages.insert(parsed, stream.stages.clone());
            }
        }
        if matches!(options.start_at, StartAt::OperationTime(_))
            && options
                .start_at_for
                .values()
                .any(|s| *s == StartAt::Snapshot)
        {
            return Err(
                "mongodb.start_at: a target's snapshot is read at the time new rules start, so with a target's start_at = \"snapshot\" it must be \"now\" or \"snapshot\", not an operation time".into(),
            );
        }
        // Stages apply to every event of their target: one target's stages
        // cannot also apply inside another's.
        for outer in options.stages.keys() {
            if let Some(inner) = options
                .stages
                .keys()
                .find(|inner| *inner != outer && outer.contains(inner))
            {
                return Err(format!(
                    "mongodb.streams: both \"{outer}\" and \"{inner}\" inside it have stages; put them on one target"
                ));
            }
        }
        Ok(options)
    }
}

/// Shows the connection string without its secrets.
impl std::fmt::Debug for MongoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoConfig")
            .field(
                "uri",
                &self.uri.as_deref().map(herald_ingest::mongo::uri::redact),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
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
        assert!(err.contains("from_now") && err.contains("line 2"), "{err}");
        let err = Config::parse("[mongodb]\nstart_at = \"yesterday\"\n").unwrap_err();
        assert!(
            err.contains("SECONDS[:INCREMENT]") && err.contains("line 2"),
            "{err}"
        );
        let err =
            Config::parse("[mongodb.streams.\"a.b\"]\non_invalidate = \"pause\"\n").unwrap_err();
        assert!(err.contains("restart") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn snapshots_are_asked_for_globally_or_per_collection() {
        let options = |text: &str| Config::parse(text).unwrap().mongodb.source_options();
        let global = options("[mongodb]\nstart_at = \"snapshot\"\n[mongodb.streams.\"a.skip\"]\nstart_at = \"now\"\n").unwrap();
        assert!(global.snapshots(&"a.b".parse().unwrap()));
        assert!(
            !global.snapshots(&"a.skip".parse().unwrap()),
            "a target may opt out"
        );
        let one = options("[mongodb.streams.\"a.b\"]\nstart_at = \"snapshot\"\n").unwrap();
        assert!(one.snapshots(&"a.b".parse().unwrap()));
        assert!(!one.snapshots(&"a.c".parse().unwrap()));
        let db = options("[mongodb.streams.\"a\"]\nstart_at = \"snapshot\"\n").unwrap();
        assert!(
            db.snapshots(&"a".parse().unwrap()),
            "a database's collections too"
        );
        let err =
            Config::parse("[mongodb.streams.\"a.b\"]\nstart_at = \"1700000000\"\n").unwrap_err();
        assert!(err.contains("\"snapshot\" or \"now\""), "{err}");
    }
}
