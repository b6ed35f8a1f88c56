//! A webhook's URL, checked when read and shown as scheme and host only, so
//! that a key in its path or query never reaches a log or a dead letter.

use std::fmt;

/// A webhook's URL: used to send, shown only as scheme and host.
///
/// ```
/// use herald_engine::config::WebhookTarget;
/// let target = WebhookTarget::parse("https://hooks.example.com/T0/B0/s3cr3t?key=k", false).unwrap();
/// assert_eq!(target.to_string(), "https://hooks.example.com");
/// assert_eq!(format!("{target:?}"), "WebhookTarget(https://hooks.example.com)");
/// assert!(WebhookTarget::parse("http://crm.example.com/hook", false).is_err());
/// assert!(WebhookTarget::parse("http://127.0.0.1:8080/hook", false).is_ok());
/// ```
#[derive(Clone)]
pub struct WebhookTarget {
    url: reqwest::Url,
    shown: String,
}

impl WebhookTarget {
    /// Parses and checks a URL: http or https, no user or password in it,
    /// and `http://` only to a loopback host unless `allow_insecure`.
    /// Errors never quote the URL.
    pub fn parse(url: &str, allow_insecure: bool) -> Result<Self, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("not a valid URL ({e})"))?;
        let shown = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
            (Some(host), None) => format!("{}://{host}", url.scheme()),
            (None, _) => format!("{}://", url.scheme()),
        };
        match url.scheme() {
            "https" => {}
            "http" => {
                let host = url.host_str().unwrap_or("");
                let ip = host.trim_start_matches('[').trim_end_matches(']');
                let loopback = host.eq_ignore_ascii_case("localhost")
                    || ip
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback());
                if !loopback && !allow_insecure {
                    return Err(format!(
                        "{shown} is plain http to a host other than loopback: use https, or set allow_insecure = true"
                    ));
                }
            }
            other => return Err(format!("the scheme must be http or https, not {other:?}")),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("the URL has no host".to_owned());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!(
                "{shown}: credentials in the URL; give them as a header with {{ env = \"VAR\" }}"
            ));
        }
        Ok(Self { url, shown })
    }

    /// The full URL, to send to.
    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }
}

impl fmt::Display for WebhookTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookTarget({})", self.shown)
    }
}
