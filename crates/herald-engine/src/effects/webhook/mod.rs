//! HTTP webhooks: POST the payload as JSON with the effect's `Idempotency-Key`.

mod client;
mod reply;
mod sign;

pub use reply::REPLY_EXCERPT_BYTES;
pub use sign::{SIGNATURE_HEADER, webhook_signature};

use super::{BoxFuture, Channel, EffectError};
use crate::config::{ConfigError, ConfigValue, WebhookConfig, WebhookTarget};
use herald_core::Effect;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// The header that carries each effect's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// POSTs each effect's arguments as a JSON body.
///
/// 2xx is success; 408, 429, 5xx, timeouts and connection errors are worth
/// retrying; any other status is a permanent failure. The error of a 4xx or
/// 5xx keeps the first [`REPLY_EXCERPT_BYTES`] of the reply's body. Redirects are not
/// followed: a 3xx is a permanent failure naming the `Location`'s host.
/// Errors and `Debug` show the target as scheme and host only, and the
/// configured headers are marked sensitive: the URL's path and query and the
/// headers may hold secrets.
#[derive(Clone)]
pub struct WebhookChannel {
    client: reqwest::Client,
    target: WebhookTarget,
    headers: HeaderMap,
    /// What an error reply must not carry into a dead letter.
    secrets: reply::Secrets,
    /// With a `secret`: signs each request.
    signer: Option<sign::Signer>,
}

impl std::fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookChannel")
            .field("target", &self.target)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("signed", &self.signer.is_some())
            .finish_non_exhaustive()
    }
}

/// Installs rustls' ring provider once per process (reqwest is built without a default one,
/// so that the MongoDB driver and reqwest share one TLS stack). Call before building a
/// `reqwest::Client`.
///
/// ```
/// herald_engine::effects::install_crypto_provider();
/// let _client = reqwest::Client::new();
/// ```
pub fn install_crypto_provider() {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}

/// An HTTP error's text without the URL it was for (reqwest puts it in),
/// with its causes.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl WebhookChannel {
    /// Builds a webhook from its configuration; the URL, env-referenced
    /// headers and secret, and the proxy and TLS files are read and checked now.
    pub fn new(config: &WebhookConfig) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: crate::effects::registry::WEBHOOK_SETTINGS.into(),
            message,
        };
        install_crypto_provider();
        let target = config.target()?;
        let mut secrets = reply::Secrets::default();
        // The URL is shown as scheme and host only: its path and query may hold a key.
        let url = target.url();
        secrets.add(url.as_str());
        if url.path().len() > 1 {
            secrets.add(url.path());
        }
        if let Some(query) = url.query() {
            secrets.add(query);
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| invalid(format!("header name {name:?}: {e}")))?;
            let resolved = value.resolve()?;
            if matches!(value, ConfigValue::Env { .. }) {
                secrets.add(&resolved);
            }
            let mut value = HeaderValue::from_str(&resolved).map_err(|_| {
                invalid(format!(
                    "header {name}: the value is not a valid header value"
                ))
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let signer = match &config.secret {
            None => None,
            Some(secret) => {
                let secret = secret.resolve()?;
                if secret.is_empty() {
                    return Err(invalid(
                        "webhook secret: the environment variable is empty; set it to the shared secret".into(),
                    ));
                }
                secrets.add(&secret);
                Some(sign::Signer::new(secret))
            }
        };
        let client = client::build(config)?;
        // A proxy's URL may hold a password.
        if let Some(proxy) = config.proxy_url()? {
            if let Some(password) = reqwest::Url::parse(&proxy)
                .ok()
                .and_then(|u| u.password().map(str::to_owned))
            {
                secrets.add(password);
            }
            secrets.add(&proxy);
        }
        Ok(Self {
            client,
            target,
            headers,
            secrets,
            signer,
        })
    }
}

impl Channel for WebhookChannel {
    fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(async move {
            let body = herald_core::extjson::to_relaxed(&effect.intent.args());
            // Serialised here, so that the signature covers the bytes sent.
            let body = serde_json::to_vec(&body).map_err(|e| {
                EffectError::permanent(format!("the payload cannot be written as JSON: {e}"))
            })?;
            let mut request = self
                .client
                .post(self.target.url().clone())
                .headers(self.headers.clone())
                .header(IDEMPOTENCY_HEADER, effect.key.as_str())
                .header("X-Herald-Rule", effect.rule.as_ref())
                .header(reqwest::header::CONTENT_TYPE, "application/json");
            if let Some(signer) = &self.signer {
                // Signed at each attempt, with its own send time.
                request = request.header(SIGNATURE_HEADER, signer.header_now(&body));
            }
            let response = request.body(body).send().await.map_err(|e| {
                EffectError::transient(format!("POST {}: {}", self.target, describe(e)))
            })?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            if status.is_redirection() {
                // The Location may hold a secret too: its scheme and host only.
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| self.target.url().join(l).ok())
                    .and_then(|l| WebhookTarget::parse(l.as_str(), true).ok())
                    .map_or_else(
                        || "(no usable Location header)".to_owned(),
                        |l| l.to_string(),
                    );
                return Err(EffectError::permanent(format!(
                    "POST {} answered {status}, a redirect to {location}; webhooks do not follow redirects: configure the url it points to",
                    self.target
                )));
            }
            let retryable =
                status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429;
            let message = match reply::excerpt(response, &self.secrets).await {
                Some(body) => format!("POST {} answered {status}: {body}", self.target),
                None => format!("POST {} answered {status}", self.target),
            };
            if retryable {
                Err(EffectError::transient(message))
            } else {
                Err(EffectError::permanent(message))
            }
        })
    }
}
