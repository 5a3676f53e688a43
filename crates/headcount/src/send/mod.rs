//! Sending one report: reqwest over rustls (ring), one client per send, no pooled connections.
//!
//! Trust: the system's roots (rustls-platform-verifier reads them the way OpenSSL does, from
//! /etc/ssl/certs or `SSL_CERT_FILE`/`SSL_CERT_DIR`) plus `ca_file` when set. Proxy: the one in
//! the config, else the standard environment variables (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, `NO_PROXY`, lower-case too). A client lives only for one send, so no idle
//! connection or pool timer wakes the process between sends.
//!
//! Redirects: the HTTP client follows none; [`redirect::decide`] says which 3xx is followed
//! (a 307/308 within the endpoint's origin) and this module re-posts the same body itself, so a
//! report never leaves the configured origin and the answer names the URL that took it.

mod policy;
pub mod redirect;

use std::path::Path;
use std::time::Duration;

pub use policy::{MAX_RETRY_AFTER, Verdict, parse_retry_after, verdict};
pub use redirect::{MAX_REDIRECTS, Redirect};
use url::Url;

use crate::config::{Settings, redact};
use crate::error::chain;
use crate::file_read::{Links, read_bounded};

/// `User-Agent` of every request: the program and its version, nothing about the machine.
pub const USER_AGENT: &str = concat!("headcount/", env!("CARGO_PKG_VERSION"));
/// A `ca_file` larger than this is refused (a distribution's whole bundle is a few hundred KiB).
pub const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// How one send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// What it means for the period.
    pub verdict: Verdict,
    /// The receiver's `Retry-After`.
    pub retry_after: Option<Duration>,
    /// What happened, in words, with proxy credentials removed.
    pub detail: String,
    /// The URL the last request went to: the endpoint, or where a followed redirect led
    /// (none without an endpoint).
    pub url: Option<Url>,
}

/// Why no client could be built (a config the network layer cannot use).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// `ca_file` could not be read or holds no certificate.
    #[error("cannot use ca_file {path}: {reason}")]
    CaFile {
        /// The path as configured.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The TLS or proxy set-up failed.
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
    /// No endpoint is configured.
    #[error("no endpoint is configured")]
    NoEndpoint,
}

/// Makes ring the process's rustls provider (reqwest is built without one, to avoid aws-lc-rs).
pub(crate) fn install_crypto_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Reads `ca_file` (an absolute path as configured) under `root`.
fn extra_roots(
    root: &Path,
    ca_file: Option<&Path>,
) -> Result<Vec<reqwest::Certificate>, SendError> {
    let Some(ca) = ca_file else {
        return Ok(Vec::new());
    };
    let err = |reason: String| SendError::CaFile {
        path: ca.display().to_string(),
        reason,
    };
    let path = crate::config::under_root(root, ca);
    let pem = read_bounded(&path, MAX_CA_FILE_BYTES, Links::Follow)
        .map_err(|e| err(format!("it {e}")))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no PEM certificate in it".to_owned()));
    }
    Ok(certs)
}

/// Builds the client for one send.
fn client(root: &Path, settings: &Settings) -> Result<reqwest::Client, SendError> {
    install_crypto_provider();
    let https = settings
        .endpoint
        .as_ref()
        .is_some_and(|u| u.scheme() == "https");
    let base = || {
        let builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .pool_max_idle_per_host(0)
            // Redirects are decided by `redirect::decide` and followed in `send`.
            .redirect(reqwest::redirect::Policy::none())
            .https_only(https);
        match &settings.proxy {
            Some(proxy) => reqwest::Proxy::all(proxy.url().as_str())
                .map(|p| builder.proxy(p))
                .map_err(|e| SendError::Client(scrub(&chain(&e), settings))),
            None => Ok(builder),
        }
    };
    let roots = extra_roots(root, settings.ca_file.as_deref())?;
    let merged = if roots.is_empty() {
        base()?
    } else {
        base()?.tls_certs_merge(roots.clone())
    };
    match merged.build() {
        Ok(client) => Ok(client),
        // The platform verifier refuses to start without a system trust store. That must not
        // stop a plain-http loopback endpoint, or a fleet whose only trust root is `ca_file`:
        // fall back to exactly the configured roots (none for http).
        Err(e) => {
            tracing::debug!(error = %scrub(&chain(&e), settings), "system trust roots unusable; using ca_file only");
            base()?
                .tls_certs_only(roots)
                .build()
                .map_err(|e| SendError::Client(scrub(&chain(&e), settings)))
        }
    }
}

/// Removes the proxy's user name and password from a message, wherever they appear.
pub fn scrub(message: &str, settings: &Settings) -> String {
    let mut out = message.to_owned();
    if let Some(proxy) = &settings.proxy {
        let url = proxy.url();
        let secrets = [url.password().unwrap_or(""), url.username()];
        for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
            out = out.replace(secret, "***");
        }
    }
    out
}

/// Posts `body` to the configured endpoint and classifies the answer. Never panics; every
/// network trouble, and every redirect not followed, becomes [`Verdict::Retry`] with a detail
/// string. The whole send, redirects included, takes at most the configured timeout.
pub async fn send(root: &Path, settings: &Settings, body: Vec<u8>) -> Answer {
    let retry = |detail: String, url: Option<&Url>| Answer {
        verdict: Verdict::Retry,
        retry_after: None,
        detail,
        url: url.cloned(),
    };
    let Some(endpoint) = settings.endpoint.clone() else {
        return retry(SendError::NoEndpoint.to_string(), None);
    };
    let client = match client(root, settings) {
        Ok(c) => c,
        Err(e) => return retry(e.to_string(), Some(&endpoint)),
    };
    let deadline = tokio::time::Instant::now() + settings.timeout;
    let mut url = endpoint.clone();
    let mut followed = 0;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return retry("timed out following redirects".to_owned(), Some(&url));
        }
        let request = client
            .post(url.clone())
            .timeout(left)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "could not connect"
                } else {
                    "request failed"
                };
                // reqwest's message names the endpoint URL, never the proxy URL; scrub anyway.
                return retry(
                    scrub(&format!("{kind}: {}", chain(&e)), settings),
                    Some(&url),
                );
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, crate::clock::now()));
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| v.as_bytes());
            match redirect::decide(&endpoint, &url, status.as_u16(), location, followed) {
                Redirect::Follow(next) => {
                    tracing::debug!(
                        "{} answered {status}: posting the report again to {} (same origin)",
                        redact(&url),
                        redact(&next)
                    );
                    url = next;
                    followed += 1;
                    continue;
                }
                Redirect::Refuse(why) => {
                    return Answer {
                        verdict: Verdict::Retry,
                        retry_after,
                        detail: scrub(&why, settings),
                        url: Some(url),
                    };
                }
            }
        }
        return Answer {
            verdict: verdict(status.as_u16()),
            retry_after,
            detail: format!("the receiver answered {status}"),
            url: Some(url),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_names_only_the_program() {
        assert_eq!(
            USER_AGENT,
            format!("headcount/{}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn ca_file_is_read_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        assert!(extra_roots(dir.path(), None).unwrap().is_empty());
        let missing = extra_roots(dir.path(), Some(Path::new("/etc/ca.pem")));
        assert!(matches!(missing, Err(SendError::CaFile { .. })));
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/ca.pem"), "not a pem").unwrap();
        assert!(extra_roots(dir.path(), Some(Path::new("/etc/ca.pem"))).is_err());
    }
}
