//! Which channel executes which intent.

use super::{Channel, EffectError, FileChannel, LogChannel, StdoutChannel, WebhookChannel};
use crate::config::{ChannelConfig, Config, ConfigError};
use foldhash::{HashMap, HashMapExt};
use herald_core::Intent;
use std::sync::Arc;

/// The channels of an engine, by intent kind and name.
///
/// `notify(name, ..)` goes to the channel `name` (stdout if none is
/// configured), `webhook(name, ..)` to the webhook `name` (an error if none
/// is). `log(..)` is not an effect: the engine writes it to herald's log.
#[derive(Clone)]
pub struct Channels {
    notify: HashMap<String, Arc<dyn Channel>>,
    webhooks: HashMap<String, Arc<dyn Channel>>,
    fallback_notify: Arc<dyn Channel>,
    /// With a configuration file, a `notify` channel it does not name is an
    /// error, not stdout (which would count an undelivered notice as done).
    strict: Option<std::path::PathBuf>,
    mongodb: Option<Arc<dyn Channel>>,
}

impl Default for Channels {
    fn default() -> Self {
        Self {
            notify: HashMap::new(),
            webhooks: HashMap::new(),
            fallback_notify: Arc::new(StdoutChannel),
            strict: None,
            mongodb: None,
        }
    }
}

impl Channels {
    /// Builds the channels a configuration names.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let mut channels = Self {
            strict: config.source.clone(),
            ..Self::default()
        };
        for (name, channel) in &config.channels {
            let built: Arc<dyn Channel> = match channel {
                ChannelConfig::Stdout {} => Arc::new(StdoutChannel),
                ChannelConfig::Log {} => Arc::new(LogChannel),
                ChannelConfig::File { path } => {
                    let sync_each = config.engine.durability == herald_store::Durability::Always;
                    Arc::new(FileChannel::open_with(path, sync_each).map_err(|source| {
                        ConfigError::Read {
                            path: path.clone(),
                            source,
                        }
                    })?)
                }
                ChannelConfig::Webhook(webhook) => Arc::new(
                    WebhookChannel::new(webhook)
                        .map_err(|e| in_section(e, config, &format!("[channels.{name}]")))?,
                ),
            };
            channels.notify.insert(name.clone(), built);
        }
        for (name, webhook) in &config.webhooks {
            channels.webhooks.insert(
                name.clone(),
                Arc::new(
                    WebhookChannel::new(webhook)
                        .map_err(|e| in_section(e, config, &format!("[webhooks.{name}]")))?,
                ),
            );
        }
        Ok(channels)
    }

    /// Makes every channel's effects durable ([`Channel::sync`]), before a group commits.
    pub fn sync_all(&self) -> Result<(), EffectError> {
        let all = self
            .notify
            .values()
            .chain(self.webhooks.values())
            .chain(self.mongodb.iter())
            .chain(std::iter::once(&self.fallback_notify));
        for channel in all {
            channel.sync()?;
        }
        Ok(())
    }

    /// Routes `notify(name, ..)` to a custom channel (embedding).
    pub fn insert_notify(&mut self, name: impl Into<String>, channel: Arc<dyn Channel>) {
        self.notify.insert(name.into(), channel);
    }

    /// Routes `webhook(name, ..)` to a custom channel.
    pub fn insert_webhook(&mut self, name: impl Into<String>, channel: Arc<dyn Channel>) {
        self.webhooks.insert(name.into(), channel);
    }

    /// Executes `insert_doc` and `upsert_doc` through this channel (a MongoDB client).
    pub fn set_mongodb(&mut self, channel: Arc<dyn Channel>) {
        self.mongodb = Some(channel);
    }

    /// The channel for an intent; state intents have none (the engine applies them).
    pub fn for_intent(&self, intent: &Intent) -> Result<Arc<dyn Channel>, EffectError> {
        match intent {
            Intent::Notify { channel, .. } => match (self.notify.get(channel), &self.strict) {
                (Some(found), _) => Ok(found.clone()),
                (None, None) => Ok(self.fallback_notify.clone()),
                (None, Some(file)) => Err(EffectError::permanent(format!(
                    "no notify channel named {channel:?} in {}; add [channels.{channel}] to it",
                    file.display()
                ))),
            },
            Intent::Webhook { name, .. } => self.webhooks.get(name).cloned().ok_or_else(|| {
                EffectError::permanent(format!(
                    "no webhook named {name:?}; add [webhooks.{name}] with a url to herald.toml"
                ))
            }),
            Intent::Log { .. } => Err(EffectError::permanent(
                "log intents are written by the engine, not a channel",
            )),
            Intent::InsertDoc { .. } | Intent::UpsertDoc { .. } | Intent::UpsertWhere { .. } => {
                self.mongodb.clone().ok_or_else(|| {
                    EffectError::permanent(format!(
                        "{} needs a MongoDB connection, which replays of event files do not have; \
                         run the rule with `herald run`",
                        intent.kind()
                    ))
                })
            }
            Intent::SetState { .. }
            | Intent::DelState { .. }
            | Intent::SetTimer { .. }
            | Intent::CancelTimer { .. } => Err(EffectError::permanent(
                "state and timer intents are applied by the engine, not a channel",
            )),
        }
    }
}

/// What a webhook's own errors name as their place until [`in_section`] does better.
pub(crate) const WEBHOOK_SETTINGS: &str = "herald.toml";

/// A webhook's error, named with the config file it is in and its section
/// (the webhook itself does not know where it was configured).
fn in_section(error: ConfigError, config: &Config, section: &str) -> ConfigError {
    match error {
        // Errors about the webhook's own settings (not a file it names).
        ConfigError::Invalid { path, message } if path.as_os_str() == WEBHOOK_SETTINGS => {
            let file = config.source.as_ref().map_or_else(
                || "the configuration".to_owned(),
                |p| p.display().to_string(),
            );
            ConfigError::Invalid {
                path: format!("{file} {section}").into(),
                message,
            }
        }
        other => other,
    }
}
