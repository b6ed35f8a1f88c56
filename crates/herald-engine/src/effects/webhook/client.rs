//! The HTTP client of one webhook: timeout, no redirects, and its optional
//! proxy, extra certificate authorities and client certificate.
//!
//! Every file is read and checked here, when the engine starts, so a missing
//! or unusable one is a configuration error naming the file, not a failure
//! at the first send.

use super::describe;
use crate::config::{ConfigError, WebhookConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;

/// A configuration error about `path`.
fn bad(path: &Path, message: String) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The certificates of a PEM file (`what` names the setting in errors).
fn certificates(
    path: &Path,
    pem: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(path, format!("{what}: not a valid PEM file ({e})")))?;
    if certs.is_empty() {
        return Err(bad(
            path,
            format!("{what}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)"),
        ));
    }
    Ok(certs)
}

/// The extra roots of `ca_file`, each checked as a trust anchor.
fn roots(path: &Path) -> Result<Vec<reqwest::Certificate>, ConfigError> {
    let certs = certificates(path, &read(path)?, "ca_file")?;
    let mut store = rustls::RootCertStore::empty();
    certs
        .into_iter()
        .map(|der| {
            store.add(der.clone()).map_err(|e| {
                bad(
                    path,
                    format!("ca_file: a certificate in it cannot be used ({e})"),
                )
            })?;
            reqwest::Certificate::from_der(&der)
                .map_err(|e| bad(path, format!("ca_file: {}", describe(e))))
        })
        .collect()
}

/// The identity of `client_cert` (and `client_key`): certificates and a
/// private key the TLS stack accepts.
fn identity(cert: &Path, key: Option<&Path>) -> Result<reqwest::Identity, ConfigError> {
    let cert_pem = read(cert)?;
    certificates(cert, &cert_pem, "client_cert")?;
    let (key_path, key_pem) = match key {
        Some(key) => (key, read(key)?),
        None => (cert, cert_pem.clone()),
    };
    let what = if key.is_some() {
        "client_key"
    } else {
        "client_cert (no client_key given)"
    };
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        bad(
            key_path,
            format!("{what}: no usable PEM private key in it ({e})"),
        )
    })?;
    rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(private)
        .map_err(|e| {
            bad(
                key_path,
                format!("{what}: the private key cannot be used ({e})"),
            )
        })?;
    let mut pem = cert_pem;
    if key.is_some() {
        pem.push(b'\n');
        pem.extend_from_slice(&key_pem);
    }
    reqwest::Identity::from_pem(&pem)
        .map_err(|e| bad(cert, format!("client_cert: {}", describe(e))))
}

/// Builds the client `config` describes.
pub(super) fn build(config: &WebhookConfig) -> Result<reqwest::Client, ConfigError> {
    let mut builder = reqwest::Client::builder()
        .timeout(config.timeout())
        // A redirect is not delivery: following it could POST the payload
        // (and its headers) somewhere nobody configured.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(url) = config.proxy_url()? {
        let proxy = reqwest::Proxy::all(&url).map_err(|e| ConfigError::Invalid {
            path: crate::effects::registry::WEBHOOK_SETTINGS.into(),
            message: format!("webhook proxy: {}", describe(e)),
        })?;
        builder = builder.proxy(proxy);
    }
    if let Some(path) = &config.ca_file {
        for root in roots(path)? {
            builder = builder.add_root_certificate(root);
        }
    }
    if let Some(cert) = &config.client_cert {
        builder = builder.identity(identity(cert, config.client_key.as_deref())?);
    }
    builder.build().map_err(|e| match &config.client_cert {
        // The TLS client checks the certificate now (its version, its form):
        // the file, with why.
        Some(cert) => bad(
            cert,
            format!("client_cert: the TLS client refuses it: {}", describe(e)),
        ),
        None => ConfigError::Invalid {
            path: crate::effects::registry::WEBHOOK_SETTINGS.into(),
            message: format!("cannot build the HTTP client: {}", describe(e)),
        },
    })
}
