//! What every command resolves the same way: the configuration file, the
//! rules and store directories, and the engine built from them.
//!
//! One precedence everywhere: the flag, then the `HERALD_*` environment
//! variable (clap reads both), then the configuration file (whose relative
//! paths are relative to the file itself), then the command's default. The
//! configuration file is `--config` (or `HERALD_CONFIG`), else
//! `./herald.toml` when it exists. So
//! `herald replay --config FILE` and `herald run --config FILE` mean the same
//! rules, the same store and the same channels.

use crate::cli::{Common, RulesArgs};
use crate::exit::Failure;
use crate::report;
use anyhow::anyhow;
use herald_engine::{Config, Engine, EngineError, RunOptions};
use herald_ingest::mongo::uri::redact;
use herald_script::RuleSet;
use herald_store::Store;
use std::path::{Path, PathBuf};

/// The rules directory when neither a flag, the environment nor the config names one.
pub const DEFAULT_RULES: &str = "rules";

/// The store directory of `run`, `status`, `dlq`, `streams` and `timers` when nothing names one.
pub const DEFAULT_STORE: &str = "data/herald";

/// The configuration file used when none is named and it exists.
pub const DEFAULT_CONFIG: &str = "herald.toml";

/// What a command does when nothing names a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreDefault {
    /// Use [`DEFAULT_STORE`].
    Persistent,
    /// Use a temporary store, forgotten at exit (`replay` without `--store`).
    Temporary,
}

/// The resolved inputs of a command.
#[derive(Debug)]
pub struct Setup {
    /// The configuration (the default when no file is given).
    pub config: Config,
    /// The configuration file, if one was given.
    pub config_path: Option<PathBuf>,
    /// The rules directory.
    pub rules: PathBuf,
    /// The store directory; `None` for a temporary store.
    pub store: Option<PathBuf>,
}

impl Setup {
    /// Resolves `common` with one precedence: flag or environment, config, default.
    pub fn resolve(common: &Common, store_default: StoreDefault) -> Result<Self, Failure> {
        Self::resolve_parts(
            common.config.as_deref(),
            common.rules.clone(),
            common.store.clone(),
            store_default,
        )
    }

    /// [`Setup::resolve`] from its parts (for commands that name the rules positionally).
    pub fn resolve_parts(
        config_path: Option<&Path>,
        rules: Option<PathBuf>,
        store: Option<PathBuf>,
        store_default: StoreDefault,
    ) -> Result<Self, Failure> {
        // Without --config (or HERALD_CONFIG), ./herald.toml when there is one.
        let found = Path::new(DEFAULT_CONFIG);
        let config_path = config_path.or_else(|| found.is_file().then_some(found));
        let config = match config_path {
            Some(path) => Config::load(path).map_err(|e| Failure::BadInput(e.into()))?,
            None => Config::default(),
        };
        let rules = rules
            .or_else(|| config.rules.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_RULES));
        let store = store.or_else(|| config.store.clone()).or_else(|| {
            (store_default == StoreDefault::Persistent).then(|| PathBuf::from(DEFAULT_STORE))
        });
        Ok(Self {
            config,
            config_path: config_path.map(Path::to_path_buf),
            rules,
            store,
        })
    }

    /// Resolves the rules (and config) of `herald check` and `herald test`.
    pub fn for_rules(args: &RulesArgs) -> Result<Self, Failure> {
        Self::resolve_parts(
            args.config.as_deref(),
            args.dir.clone(),
            None,
            StoreDefault::Temporary,
        )
    }

    /// Compiles the rules; on failure every diagnostic is printed (exit 2).
    pub fn load_rules(&self) -> Result<RuleSet, Failure> {
        RuleSet::load_dir(&self.rules).map_err(|diagnostics| {
            diagnostics.iter().for_each(report::print);
            let files: std::collections::BTreeSet<&Path> =
                diagnostics.iter().map(|d| d.file.as_path()).collect();
            crate::logging::say::info(
                format!(
                    "{} error(s) in {} file(s) of {}",
                    diagnostics.len(),
                    files.len(),
                    self.rules.display()
                ),
                serde_json::json!({
                    "errors": diagnostics.len(),
                    "files": files.len(),
                    "rules": self.rules.display().to_string(),
                }),
            );
            Failure::Reported(2)
        })
    }

    /// The store directory, which must exist (for commands that read a store).
    pub fn existing_store(&self) -> Result<&Path, Failure> {
        let dir = self.store.as_deref().unwrap_or(Path::new(DEFAULT_STORE));
        if !dir.exists() {
            return Err(Failure::BadInput(anyhow!(
                "no store at {} (pass --store, set HERALD_STORE, or set `store` in the config)",
                dir.display()
            )));
        }
        Ok(dir)
    }

    /// Opens the store with the config's ledger window: in cluster mode the
    /// MongoDB database of `[cluster]`, else the store directory (which must
    /// exist).
    pub fn open_store(&self) -> Result<Store, Failure> {
        let mut options = self.config.engine.store_options();
        let cluster = &self.config.cluster;
        if cluster.enabled() {
            // Each partition keeps its own window: `ledger_window` is shared
            // out among them, so an instance serving every partition holds
            // about as many marks as one herald on its own store.
            options.ledger_window = partition_window(options.ledger_window, cluster.partitions);
            let uri = cluster
                .resolved_uri(self.config.mongodb.resolved_uri())
                .ok_or_else(|| {
                    Failure::BadInput(anyhow!(
                        "[cluster] store = \"mongodb\" needs a connection string: [cluster] uri, [mongodb] uri, or HERALD_MONGODB_URI"
                    ))
                })?;
            return Store::open_mongodb(&uri, &cluster.database, &options)
                .map_err(store_open_failure);
        }
        let dir = self.existing_store()?;
        Store::open_with(dir, &options).map_err(store_open_failure)
    }

    /// The MongoDB client of `[mongodb]` (or `HERALD_MONGODB_URI`), if one is configured.
    pub async fn mongodb_client(&self) -> Result<Option<mongodb::Client>, Failure> {
        let Some(uri) = self.config.mongodb.resolved_uri() else {
            return Ok(None);
        };
        // The environment's value is checked here; the file's when it loads.
        herald_engine::config::check_connection_string(&uri).map_err(|why| {
            Failure::BadInput(anyhow!(
                "MongoDB connection string ({}): {why}",
                herald_engine::config::MongoConfig::URI_ENV
            ))
        })?;
        mongodb::Client::with_uri_str(&uri)
            .await
            .map(Some)
            .map_err(|e| {
                Failure::BadInput(anyhow!(
                    "invalid MongoDB connection string {}: {e}",
                    redact(&uri)
                ))
            })
    }

    /// Builds the engine: the rules, the store, the channels of the config,
    /// and `insert_doc` through `client` when there is one.
    pub fn engine(
        &self,
        options: RunOptions,
        client: Option<mongodb::Client>,
    ) -> Result<Engine, Failure> {
        self.engine_on(options, client, None)
    }

    /// [`Setup::engine`] with these rules instead of the rules directory's.
    pub fn engine_for(
        &self,
        rules: RuleSet,
        options: RunOptions,
        client: Option<mongodb::Client>,
    ) -> Result<Engine, Failure> {
        self.engine_with(rules, options, client, None)
    }

    /// [`Setup::engine`] on a store already open (else the resolved one).
    pub fn engine_on(
        &self,
        options: RunOptions,
        client: Option<mongodb::Client>,
        store: Option<Store>,
    ) -> Result<Engine, Failure> {
        let builder = Engine::builder().rules_dir(&self.rules);
        self.build(builder, options, client, store)
    }

    /// [`Setup::engine_for`] on a store already open (else the resolved one).
    pub fn engine_with(
        &self,
        rules: RuleSet,
        options: RunOptions,
        client: Option<mongodb::Client>,
        store: Option<Store>,
    ) -> Result<Engine, Failure> {
        self.build(Engine::builder().rules(rules), options, client, store)
    }

    /// Builds the engine `builder` has the rules of, with the config.
    fn build(
        &self,
        builder: herald_engine::EngineBuilder,
        options: RunOptions,
        client: Option<mongodb::Client>,
        store: Option<Store>,
    ) -> Result<Engine, Failure> {
        let mut builder = builder.config(self.config.clone()).options(options);
        match (store, &self.store) {
            (Some(store), _) => builder = builder.store(store),
            (None, Some(dir)) => builder = builder.store_path(dir),
            (None, None) => {}
        }
        if let Some(client) = client {
            builder = builder.mongodb(client);
        }
        builder.build().map_err(build_failure)
    }
}

/// Why a store could not be opened: damaged, foreign, locked or newer is bad
/// input (2); an I/O failure is a runtime failure (1).
pub fn store_open_failure(error: herald_store::StoreError) -> Failure {
    if crate::exit::store_is_bad_input(&error) {
        Failure::BadInput(error.into())
    } else {
        Failure::Runtime(error.into())
    }
}

/// Why an engine could not be built: rule diagnostics are printed with their
/// source lines; everything else is bad input (config, store).
pub fn build_failure(error: EngineError) -> Failure {
    match error {
        EngineError::Rules(diagnostics) => {
            diagnostics.iter().for_each(report::print);
            Failure::Reported(2)
        }
        EngineError::Store(e) => store_open_failure(e),
        other => Failure::BadInput(other.into()),
    }
}

/// Each partition's share of a ledger window of `window` marks (rounded
/// up; 0, the ledger off, stays 0).
fn partition_window(window: usize, partitions: u32) -> usize {
    window.div_ceil(partitions.max(1) as usize)
}

#[cfg(test)]
mod partition_window_tests {
    #[test]
    fn the_window_is_shared_out_among_the_partitions() {
        assert_eq!(super::partition_window(500_000, 16), 31_250);
        assert_eq!(super::partition_window(10, 3), 4);
        assert_eq!(super::partition_window(0, 16), 0);
        assert_eq!(super::partition_window(7, 0), 7);
    }
}
