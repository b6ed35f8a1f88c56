//! Webhook targets (`[webhooks.NAME]`, and `[channels.NAME] kind = "webhook"`),
//! and how their secrets are kept out of sight.
//!
//! A secret (a token in a header, a key in the URL) is given only by
//! environment reference, `{ env = "VAR" }`, and is read when the engine
//! starts. A literal value for `Authorization` or for a header whose name
//! says it holds a secret is refused. A webhook's URL is shown anywhere
//! (logs, dead letters, status) as its scheme and host only
//! ([`WebhookTarget`]).

use super::{ConfigError, WebhookTarget};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A webhook target.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST: literal, or `{ env = "VAR" }` when the URL holds a secret.
    pub url: ConfigValue,
    /// Per-request timeout in milliseconds.
    #[serde(default = "WebhookConfig::default_timeout_ms")]
    pub timeout_ms: u64,
    /// Extra headers; values are literal strings or `{ env = "VAR" }`.
    #[serde(default)]
    pub headers: BTreeMap<String, ConfigValue>,
    /// Allows `http://` to a host other than loopback (the payload and
    /// headers then cross the network unencrypted).
    #[serde(default)]
    pub allow_insecure: bool,
    /// Signs each request with HMAC-SHA256 of this shared secret, given only
    /// as `{ env = "VAR" }` (see `effects::SIGNATURE_HEADER`).
    #[serde(default)]
    pub secret: Option<ConfigValue>,
    /// Sends through this HTTP proxy (`http://` or `https://`; literal, or
    /// `{ env = "VAR" }` when it holds a password).
    #[serde(default)]
    pub proxy: Option<ConfigValue>,
    /// A PEM file of certificate authorities trusted besides the system's
    /// (relative to the config file).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// A PEM client certificate (chain) to present, for mutual TLS; with
    /// its key in the same file or in `client_key` (relative to the config file).
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// The PEM private key of `client_cert`, when not in that file.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("timeout_ms", &self.timeout_ms)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("allow_insecure", &self.allow_insecure)
            .field("secret", &self.secret)
            .field("proxy", &self.proxy)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .finish()
    }
}

/// Words that, in a header's name, say its value is a secret: a literal
/// value is refused.
pub const SECRET_HEADER_WORDS: [&str; 15] = [
    "authorization",
    "auth",
    "token",
    "key",
    "apikey",
    "secret",
    "password",
    "passwd",
    "cookie",
    "signature",
    "credential",
    "credentials",
    "session",
    "bearer",
    "jwt",
];

/// True if a header's name says it carries a secret: one of its words
/// (split at `-`, `_` and `.`) is a [`SECRET_HEADER_WORDS`] word
/// (`Authorization`, `X-Api-Key`, `X-Auth-Token`, `X-Hub-Signature`), ends
/// in `key`, `secret`, `token`, `password` or `passwd` (`X-AccessKey`,
/// `Clientsecret`), or begins with `auth` (`Authentication`). `X-Author`
/// is not.
///
/// ```
/// use herald_engine::config::is_secret_header;
/// assert!(is_secret_header("X-Hub-Signature-256"));
/// assert!(is_secret_header("x-apikey"));
/// assert!(is_secret_header("X-Clientsecret"));
/// assert!(!is_secret_header("X-Author"));
/// assert!(!is_secret_header("X-Team"));
/// ```
pub fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    // Words that end a compound name (`accesskey`, `clientsecret`).
    const SUFFIXES: [&str; 5] = ["key", "secret", "token", "password", "passwd"];
    name.split(['-', '_', '.']).any(|word| {
        SECRET_HEADER_WORDS.contains(&word)
            || SUFFIXES.iter().any(|s| word.ends_with(s))
            // `authkey`, `authentication`, `authorization`; not `author`.
            || (word.starts_with("auth") && (!word.starts_with("author") || word.starts_with("authoriz")))
    })
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

    /// Checks what can be checked before the environment is read: no literal
    /// secret in a header, and a literal URL that is http(s) (and https, or
    /// loopback, unless `allow_insecure`). `at` names the table in errors.
    pub fn check(&self, at: &str) -> Result<(), String> {
        for (name, value) in &self.headers {
            if matches!(value, ConfigValue::Literal(_)) && is_secret_header(name) {
                return Err(format!(
                    "{at}.headers.{name}: a literal value for a header that carries a secret; give it as {{ env = \"VAR\" }} so it stays out of the file (and out of herald's logs)"
                ));
            }
        }
        if let Some(ConfigValue::Literal(_)) = &self.secret {
            return Err(format!(
                "{at}.secret: a literal signing secret; give it as {{ env = \"VAR\" }} so it stays out of the file (and out of herald's logs)"
            ));
        }
        if let ConfigValue::Literal(url) = &self.url {
            WebhookTarget::parse(url, self.allow_insecure).map_err(|e| format!("{at}.url: {e}"))?;
        }
        if let Some(ConfigValue::Literal(proxy)) = &self.proxy {
            check_proxy(proxy).map_err(|e| format!("{at}.proxy: {e}"))?;
            if reqwest::Url::parse(proxy).is_ok_and(|u| u.password().is_some()) {
                return Err(format!(
                    "{at}.proxy: a password in a literal proxy URL; give the URL as {{ env = \"VAR\" }}"
                ));
            }
        }
        if self.client_key.is_some() && self.client_cert.is_none() {
            return Err(format!(
                "{at}.client_key: a key without client_cert; add client_cert = \"PATH\" (the PEM certificate it belongs to)"
            ));
        }
        Ok(())
    }

    /// Makes `ca_file`, `client_cert` and `client_key` relative to `base`
    /// (the config file's directory) when they are relative.
    pub fn resolve_paths(&mut self, base: &Path) {
        for path in [
            &mut self.ca_file,
            &mut self.client_cert,
            &mut self.client_key,
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    /// The proxy URL, read from the environment if needed, and checked.
    pub fn proxy_url(&self) -> Result<Option<String>, ConfigError> {
        let Some(proxy) = &self.proxy else {
            return Ok(None);
        };
        let url = proxy.resolve()?;
        check_proxy(&url).map_err(|message| ConfigError::Invalid {
            path: "herald.toml".into(),
            message: match proxy {
                ConfigValue::Env { env } => format!("webhook proxy from {env}: {message}"),
                ConfigValue::Literal(_) => format!("webhook proxy: {message}"),
            },
        })?;
        Ok(Some(url))
    }

    /// The URL, read from the environment if needed, parsed and checked.
    pub fn target(&self) -> Result<WebhookTarget, ConfigError> {
        let url = self.url.resolve()?;
        WebhookTarget::parse(&url, self.allow_insecure).map_err(|message| ConfigError::Invalid {
            path: "herald.toml".into(),
            message: match &self.url {
                ConfigValue::Env { env } => format!("webhook url from {env}: {message}"),
                ConfigValue::Literal(_) => format!("webhook url: {message}"),
            },
        })
    }
}

/// Checks a proxy URL: http or https, with a host. Errors never quote it.
fn check_proxy(url: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(url).map_err(|e| format!("not a valid URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the scheme must be http or https, not {:?}",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".to_owned());
    }
    Ok(())
}

/// A value: literal, or read from the environment (for secrets).
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ConfigValue {
    /// Used as written.
    Literal(String),
    /// Read from an environment variable when the engine starts.
    Env {
        /// The variable's name.
        env: String,
    },
}

/// Shows which variable, never a value (a literal may be a URL with a key in it).
impl fmt::Debug for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(_) => f.write_str("Literal(..)"),
            Self::Env { env } => write!(f, "Env({env})"),
        }
    }
}

impl ConfigValue {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn literal_secrets_in_headers_are_refused_with_a_pointer_to_env() {
        for name in [
            "Authorization",
            "X-Api-Key",
            "X-Auth-Token",
            "Client-Secret",
            "X-Hub-Signature",
            "Cookie",
            "X-AccessKey",
            "X-SecretKey",
            "X-Authkey",
            "PrivateKey",
            "Authentication",
        ] {
            let err = Config::parse(&format!(
                "[webhooks.crm]\nurl = \"https://crm.example.com\"\nheaders = {{ {name} = \"s3cret\" }}\n"
            ))
            .unwrap_err();
            assert!(
                err.contains(&format!("webhooks.crm.headers.{name}")),
                "{err}"
            );
            assert!(err.contains("{ env = \"VAR\" }"), "{err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
        let ok = Config::parse(
            "[webhooks.crm]\nurl = \"https://crm.example.com\"\nheaders = { Authorization = { env = \"T\" }, X-Team = \"finance\", X-Author = \"ann\" }\n",
        );
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn a_signing_secret_is_given_only_by_env() {
        let err = Config::parse(
            "[webhooks.crm]\nurl = \"https://crm.example.com\"\nsecret = \"whsec_s3cret\"\n",
        )
        .unwrap_err();
        assert!(err.contains("webhooks.crm.secret"), "{err}");
        assert!(
            err.contains("{ env = \"VAR\" }") && !err.contains("s3cret"),
            "{err}"
        );
        let config = Config::parse(
            "[webhooks.crm]\nurl = \"https://crm.example.com\"\nsecret = { env = \"CRM_SECRET\" }\n",
        )
        .unwrap();
        assert!(
            format!("{:?}", config.webhooks["crm"]).contains("secret: Some(Env(CRM_SECRET))"),
            "{:?}",
            config.webhooks["crm"]
        );
    }

    #[test]
    fn plain_http_leaves_loopback_only_when_allowed() {
        let err = Config::parse("[channels.ops]\nkind = \"webhook\"\nurl = \"http://ops.example.com/hook?key=s3cret\"\n")
            .unwrap_err();
        assert!(
            err.contains("channels.ops.url") && err.contains("allow_insecure"),
            "{err}"
        );
        assert!(!err.contains("s3cret") && !err.contains("/hook"), "{err}");
        assert!(
            Config::parse(
                "[webhooks.a]\nurl = \"http://ops.example.com/hook\"\nallow_insecure = true\n"
            )
            .is_ok()
        );
        for url in [
            "http://localhost:1/h",
            "http://127.0.0.1/h",
            "http://[::1]:8/h",
            "https://x.example/h",
        ] {
            assert!(WebhookTarget::parse(url, false).is_ok(), "{url}");
        }
        for (url, why) in [
            ("ftp://x.example/h", "scheme"),
            ("https://user:pw@x.example/h", "credentials"),
            ("not a url", "not a valid URL"),
        ] {
            let err = WebhookTarget::parse(url, false).err().unwrap();
            assert!(err.contains(why) && !err.contains("pw@"), "{url}: {err}");
        }
    }

    #[test]
    fn a_url_from_the_environment_is_checked_when_read() {
        let config = WebhookConfig {
            url: ConfigValue::Env {
                env: "HERALD_TEST_SURELY_UNSET_URL".into(),
            },
            timeout_ms: 1000,
            headers: BTreeMap::new(),
            allow_insecure: false,
            secret: None,
            proxy: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
        };
        assert!(config.check("webhooks.a").is_ok());
        assert!(matches!(config.target(), Err(ConfigError::MissingEnv(_))));
        assert_eq!(
            format!("{:?}", config.url),
            "Env(HERALD_TEST_SURELY_UNSET_URL)"
        );
    }
}
