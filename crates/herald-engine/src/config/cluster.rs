//! `[cluster]`: where herald keeps its state, and how instances share work.

use serde::Deserialize;

/// Where herald keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// The embedded store (sled) in the store directory: one instance.
    #[default]
    Sled,
    /// A MongoDB database: any number of instances share the work.
    Mongodb,
}

/// Cluster mode (`[cluster]`).
///
/// ```
/// let config = herald_engine::Config::parse(
///     "[mongodb]\nuri = \"mongodb://localhost/?replicaSet=rs0\"\n[cluster]\nstore = \"mongodb\"\npartitions = 8\n",
/// ).unwrap();
/// assert_eq!(config.cluster.partitions, 8);
/// assert_eq!(config.cluster.database, "herald");
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// `"sled"` (default) or `"mongodb"`.
    pub store: StoreKind,
    /// The database of herald's own collections (MongoDB store).
    pub database: String,
    /// Hash partitions of the document key; each is served by one instance.
    pub partitions: u32,
    /// An instance that stops renewing its leases loses its partitions after
    /// this many milliseconds.
    pub lease_ms: u64,
    /// The deployment of herald's database, if not `[mongodb]`'s.
    pub uri: Option<String>,
}

impl ClusterConfig {
    /// Partitions unless configured.
    pub const DEFAULT_PARTITIONS: u32 = 16;
    /// The most partitions allowed (each is one change stream per stream of
    /// the plan, and a node serves about a thousand).
    pub const MAX_PARTITIONS: u32 = 256;
    /// Lease length unless configured.
    pub const DEFAULT_LEASE_MS: u64 = 10_000;
    /// The environment variable overriding `uri`.
    pub const URI_ENV: &'static str = "HERALD_CLUSTER_URI";
    /// The environment variable naming this instance.
    pub const INSTANCE_ENV: &'static str = "HERALD_INSTANCE";

    /// The connection string of herald's database: the environment first,
    /// then `uri`, then `mongodb_uri` (`[mongodb]`'s).
    pub fn resolved_uri(&self, mongodb_uri: Option<String>) -> Option<String> {
        std::env::var(Self::URI_ENV)
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| self.uri.clone())
            .or(mongodb_uri)
    }

    /// Whether cluster mode is on: herald's state is in MongoDB, shared by
    /// instances (`store = "mongodb"`).
    ///
    /// ```
    /// let config = herald_engine::Config::parse("[cluster]\nstore = \"mongodb\"\n").unwrap();
    /// assert!(config.cluster.enabled());
    /// assert!(!herald_engine::Config::default().cluster.enabled());
    /// ```
    pub fn enabled(&self) -> bool {
        self.store == StoreKind::Mongodb
    }

    /// This instance's name: `HERALD_INSTANCE`, else the host name and pid.
    pub fn instance_name() -> String {
        std::env::var(Self::INSTANCE_ENV)
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| {
                let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim().to_owned())
                    .ok()
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| "herald".into());
                format!("{host}-{}", std::process::id())
            })
    }

    /// The checks TOML's types cannot make.
    pub(crate) fn check(&self) -> Result<(), String> {
        if !(1..=Self::MAX_PARTITIONS).contains(&self.partitions) {
            return Err(format!(
                "cluster.partitions must be from 1 to {}, found {}",
                Self::MAX_PARTITIONS,
                self.partitions
            ));
        }
        if !(1_000..=3_600_000).contains(&self.lease_ms) {
            return Err(format!(
                "cluster.lease_ms must be from 1000 to 3600000, found {}",
                self.lease_ms
            ));
        }
        let bad = |c: char| "/\\. \"$\0".contains(c);
        if self.database.is_empty() || self.database.len() > 63 || self.database.contains(bad) {
            return Err(
                "cluster.database must be a MongoDB database name (1 to 63 characters, none of / \\ . space \" $)"
                    .into(),
            );
        }
        if let Some(uri) = &self.uri {
            super::check_connection_string(uri).map_err(|why| format!("cluster.uri: {why}"))?;
        }
        Ok(())
    }
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            store: StoreKind::Sled,
            database: "herald".into(),
            partitions: Self::DEFAULT_PARTITIONS,
            lease_ms: Self::DEFAULT_LEASE_MS,
            uri: None,
        }
    }
}
