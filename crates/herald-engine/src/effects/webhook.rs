//! HTTP webhooks: POST the payload as JSON with the effect's `Idempotency-Key`.

use super::{BoxFuture, Channel, EffectError};
use crate::config::{ConfigError, WebhookConfig};
use herald_core::Effect;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// The header that carries each effect's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// POSTs each effect's arguments as a JSON body.
///
/// 2xx is success; 408, 429, 5xx, timeouts and connection errors are worth
/// retrying; any other status is a permanent failure. Redirects are not
/// followed: a 3xx is a permanent failure naming the `Location`.
#[derive(Debug, Clone)]
pub struct WebhookChannel {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
}

/// Installs rustls' ring provider once per process (reqwest is built without a default one,
/// so that the MongoDB driver and reqwest share one TLS stack).
fn install_crypto_provider() {
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
}

impl WebhookChannel {
    /// Builds a webhook from its configuration; env-referenced headers are read now.
    pub fn new(config: &WebhookConfig) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: "herald.toml".into(),
            message,
        };
        install_crypto_provider();
        let url = reqwest::Url::parse(&config.url)
            .map_err(|e| invalid(format!("webhook url {:?}: {e}", config.url)))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| invalid(format!("header name {name:?}: {e}")))?;
            let value = HeaderValue::from_str(&value.resolve()?)
                .map_err(|e| invalid(format!("header {name}: {e}")))?;
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout())
            // A redirect is not delivery: following it could POST the payload
            // (and its headers) somewhere nobody configured.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            client,
            url,
            headers,
        })
    }
}

impl Channel for WebhookChannel {
    fn send<'a>(&'a self, effect: &'a Effect) -> BoxFuture<'a, Result<(), EffectError>> {
        Box::pin(async move {
            let body = herald_core::extjson::to_relaxed(&effect.intent.args());
            let response = self
                .client
                .post(self.url.clone())
                .headers(self.headers.clone())
                .header(IDEMPOTENCY_HEADER, effect.key.as_str())
                .header("X-Herald-Rule", effect.rule.as_ref())
                .json(&body)
                .send()
                .await
                .map_err(|e| EffectError::transient(format!("POST {}: {e}", self.url)))?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or("(no Location header)");
                return Err(EffectError::permanent(format!(
                    "POST {} answered {status}, a redirect to {location}; webhooks do not follow redirects: configure the url it points to",
                    self.url
                )));
            }
            let message = format!("POST {} answered {status}", self.url);
            if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
                Err(EffectError::transient(message))
            } else {
                Err(EffectError::permanent(message))
            }
        })
    }
}
