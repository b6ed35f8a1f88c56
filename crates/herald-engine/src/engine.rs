//! The [`Engine`] and its builder.

use crate::config::{Config, ConfigError, EngineSettings};
use crate::effects::{Backoffs, Channel, Channels};
use crate::router::Router;
use herald_script::{Diagnostic, RuleSet};
use herald_store::{Store, StoreError};
use std::path::PathBuf;
use std::sync::Arc;

/// Why the engine cannot be built or cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Rules failed to load.
    #[error("{} rule error(s):\n{}", .0.len(), .0.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))]
    Rules(Vec<Diagnostic>),
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The source failed.
    #[error(transparent)]
    Source(#[from] herald_ingest::SourceError),
    /// No dead letter has this id.
    #[error("no dead letter with id {0} (see `herald dlq list`)")]
    NoSuchDeadLetter(u64),
    /// A dead letter names a rule that is no longer loaded.
    #[error(
        "the dead letter's rule {0:?} is not among the loaded rules; restore the rule file, or drop the entry"
    )]
    UnknownRule(String),
    /// A stored dead letter cannot be read.
    #[error("dead letter {0} cannot be read: {1}")]
    BadDeadLetter(u64, String),
    /// The builder lacks something.
    #[error("{0}")]
    Incomplete(&'static str),
    /// A worker task ended while events were in flight (a panic outside any
    /// rule's handler or channel, which are caught and dead-lettered).
    #[error(
        "a worker stopped unexpectedly: {0}; the events it held were not checkpointed and run again on the next start"
    )]
    WorkerFailed(String),
    /// A group could not be committed: the run stopped with the checkpoint
    /// where it was, and nothing after the failed group was committed.
    #[error(
        "the store could not commit ({0}); herald stopped with the checkpoint at the last group that committed, so the events after it run again (with the same idempotency keys) when herald restarts. Check the disk (space, permissions, errors) before restarting"
    )]
    CommitFailed(StoreError),
    /// A channel could not make its effects durable before a group commit:
    /// the run stopped without committing the group.
    #[error(
        "a channel could not flush its effects to disk ({0}); herald stopped before committing, so the events after the last commit run again (with the same idempotency keys) when herald restarts"
    )]
    SyncFailed(String),
}

/// What a run does besides executing effects.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Execute nothing, write nothing: report each effect to the observer instead.
    pub dry_run: bool,
    /// Start at the source's beginning and redo work the ledger has recorded as done.
    pub from_start: bool,
    /// The clock that fires timers: the wall clock (default), or event time (replays).
    pub timers: crate::timers::TimerClock,
    /// Cluster mode: the one partition of document keys this engine serves
    /// (its source reads only that partition's events). It fires only the
    /// partition's timers, and runs rules on events without a document key
    /// (which every partition receives) only as partition 0.
    pub partition: Option<herald_core::partition::Partition>,
    /// Cluster mode on a server older than MongoDB 7.0, which has no
    /// `$toHashedIndexKey`: the source reads every partition's events, and
    /// the engine skips those whose document key hashes outside
    /// `partition` (so each event is read once per partition).
    pub partition_in_herald: bool,
    /// Where a rule with no progress of its own starts, by rule name,
    /// instead of the source's start: after this cluster time. Cluster mode
    /// records each rule's the first time any instance runs it, so every
    /// partition starts a new rule at the same point.
    pub rule_starts: std::sync::Arc<std::collections::BTreeMap<String, bson::Timestamp>>,
}

/// The embeddable engine: source → route → handlers → effects → commit.
///
/// ```no_run
/// # async fn demo() -> Result<(), herald_engine::EngineError> {
/// use herald_engine::{Engine, Quiet};
/// use herald_ingest::FileSource;
/// let engine = Engine::builder().rules_dir("rules").store_path("data/herald").build()?;
/// let source = FileSource::open("examples/approvals/events.jsonl")?;
/// let summary = engine.run(source, &mut Quiet, std::future::pending::<()>()).await?;
/// println!("{} events, {} effects", summary.events, summary.effects);
/// # Ok(()) }
/// ```
pub struct Engine {
    pub(crate) core: Arc<Core>,
    /// The streams' states, across runs.
    pub(crate) health: crate::health::Health,
}

/// What the engine's workers share.
pub(crate) struct Core {
    pub(crate) router: Router,
    pub(crate) store: Store,
    pub(crate) channels: Channels,
    pub(crate) settings: EngineSettings,
    pub(crate) backoff: Backoffs,
    pub(crate) options: RunOptions,
    /// The limits of one handler call, from the settings.
    pub(crate) limits: herald_script::CallLimits,
    /// The channel and webhook names rules may use, when a configuration
    /// file names them: checked again for every rule set that replaces one.
    pub(crate) names: Option<crate::reload::Names>,
}

impl Engine {
    /// Starts building an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The rules in use.
    pub fn rules(&self) -> &[herald_script::Rule] {
        self.core.router.rules()
    }

    /// Whether a run is ready (every stream open, no target stopped), for
    /// readiness checks; a handle that stays valid across runs.
    pub fn health(&self) -> crate::health::Health {
        self.health.clone()
    }

    /// The store in use.
    pub fn store(&self) -> &Store {
        &self.core.store
    }

    /// What each rule needs from MongoDB, for planning change streams; the
    /// rules of stopped targets ([`crate::stops`]) are left out.
    pub fn subscriptions(&self) -> Result<Vec<herald_ingest::mongo::Subscription>, EngineError> {
        let stopped = crate::stops::stopped_targets(&self.core.store)?;
        Ok(subscriptions_of(
            self.rules()
                .iter()
                .filter(|rule| !stopped.contains(&rule.spec().watch)),
        ))
    }
}

/// What each of `rules` needs from MongoDB, for planning change streams.
///
/// ```
/// use std::sync::Arc;
/// let engine = Arc::new(herald_script::sandbox::engine());
/// let rule = herald_script::Rule::from_source(engine, "rules/r.rhai",
///     "const RULE = #{ watch: \"shop.orders\" };\nfn handle(event) {}").unwrap();
/// let subscriptions = herald_engine::engine::subscriptions_of([&rule]);
/// assert_eq!(subscriptions[0].target.to_string(), "shop.orders");
/// ```
pub fn subscriptions_of<'a>(
    rules: impl IntoIterator<Item = &'a herald_script::Rule>,
) -> Vec<herald_ingest::mongo::Subscription> {
    rules
        .into_iter()
        .map(|rule| {
            let spec = rule.spec();
            herald_ingest::mongo::Subscription {
                rule: rule.name().to_string(),
                target: spec.watch.clone(),
                on: spec.on.clone(),
                filter: spec.filter.source().clone(),
                full_document: spec.full_document,
                before_change: spec.full_document_before_change,
                snapshot: spec.snapshot,
            }
        })
        .collect()
}

/// Builds an [`Engine`].
#[derive(Default)]
pub struct EngineBuilder {
    rules_dir: Option<PathBuf>,
    rules: Option<RuleSet>,
    store_path: Option<PathBuf>,
    store: Option<Store>,
    config: Config,
    custom: Vec<(String, Arc<dyn Channel>)>,
    custom_webhooks: Vec<(String, Arc<dyn Channel>)>,
    mongodb: Option<mongodb::Client>,
    options: RunOptions,
}

impl EngineBuilder {
    /// Loads the rules of a directory (every `*.rhai` file in it).
    pub fn rules_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.rules_dir = Some(dir.into());
        self
    }

    /// Uses rules already loaded.
    pub fn rules(mut self, rules: RuleSet) -> Self {
        self.rules = Some(rules);
        self
    }

    /// Opens (or creates) the store in a directory. Without one, a temporary store is used.
    pub fn store_path(mut self, dir: impl Into<PathBuf>) -> Self {
        self.store_path = Some(dir.into());
        self
    }

    /// Uses a store already open.
    pub fn store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Uses a configuration (channels, webhooks, engine settings, retries).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Sends `notify(name, ..)` to a custom channel.
    pub fn effect(mut self, name: impl Into<String>, channel: impl Channel + 'static) -> Self {
        self.custom.push((name.into(), Arc::new(channel)));
        self
    }

    /// Sends `webhook(name, ..)` to a custom channel.
    pub fn webhook(mut self, name: impl Into<String>, channel: impl Channel + 'static) -> Self {
        self.custom_webhooks.push((name.into(), Arc::new(channel)));
        self
    }

    /// Executes `insert_doc` and `upsert_doc` intents through this client.
    pub fn mongodb(mut self, client: mongodb::Client) -> Self {
        self.mongodb = Some(client);
        self
    }

    /// Sets dry-run and from-start behaviour.
    pub fn options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    /// Loads the rules, opens the store and builds the channels.
    pub fn build(self) -> Result<Engine, EngineError> {
        let rules = match (self.rules, self.rules_dir) {
            (Some(rules), _) => rules,
            (None, Some(dir)) => RuleSet::load_dir(dir).map_err(EngineError::Rules)?,
            (None, None) => {
                return Err(EngineError::Incomplete(
                    "the engine needs rules: call rules_dir(..) or rules(..)",
                ));
            }
        };
        let store = match (self.store, self.store_path) {
            (Some(store), _) => store,
            (None, Some(path)) => Store::open_with(path, &self.config.engine.store_options())?,
            (None, None) => Store::temporary_with(&self.config.engine.store_options())?,
        };
        let names = self.config.source.is_some().then(|| {
            let names = |list: &[(String, Arc<dyn Channel>)]| -> Vec<String> {
                list.iter().map(|(name, _)| name.clone()).collect()
            };
            crate::reload::Names {
                config: self.config.clone(),
                notify: names(&self.custom),
                webhooks: names(&self.custom_webhooks),
            }
        });
        if let Some(names) = &names {
            names.check(&rules)?;
        }
        let mut channels = Channels::from_config(&self.config)?;
        for (name, channel) in self.custom {
            channels.insert_notify(name, channel);
        }
        for (name, channel) in self.custom_webhooks {
            channels.insert_webhook(name, channel);
        }
        if let Some(client) = self.mongodb {
            channels.set_mongodb(Arc::new(crate::effects::DocWriteChannel::new(client)));
        }
        let limits = self.config.engine.call_limits();
        if !herald_script::alloc::is_installed() {
            tracing::warn!(
                "herald_script::alloc::CountingAllocator is not the global allocator, so a handler call's memory is bounded only by per-value limits, not by handler_memory_mib"
            );
        }
        crate::metrics::rules_loaded(rules.rules().len());
        Ok(Engine {
            health: crate::health::Health::default(),
            core: Arc::new(Core {
                limits,
                router: Router::new(&rules),
                store,
                channels,
                backoff: Backoffs::from(&self.config.retry),
                settings: self.config.engine,
                options: self.options,
                names,
            }),
        })
    }
}
