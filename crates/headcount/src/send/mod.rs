//! Sending one report: reqwest over rustls (ring), one client per send, no pooled connections.
//!
//! Trust: the system's roots (rustls-platform-verifier reads them the way OpenSSL does, from
//! /etc/ssl/certs or `SSL_CERT_FILE`/`SSL_CERT_DIR`) plus `ca_file` when set. Proxy: the one in
//! the config, else the standard environment variables (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, `NO_PROXY`, lower-case too). A client lives only for one send, so no idle
//! connection or pool timer wakes the process between sends.

mod policy;

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
pub use policy::{Verdict, parse_retry_after, verdict};

use crate::config::Settings;

/// `User-Agent` of every request: the program and its version, nothing about the machine.
pub const USER_AGENT: &str = concat!("headcount/", env!("CARGO_PKG_VERSION"));
/// Redirects followed at most (each to https only).
pub const MAX_REDIRECTS: usize = 3;

/// How one send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// What it means for the period.
    pub verdict: Verdict,
    /// The HTTP status, when the receiver answered at all.
    pub status: Option<u16>,
    /// The receiver's `Retry-After`.
    pub retry_after: Option<Duration>,
    /// What happened, in words, with proxy credentials removed.
    pub detail: String,
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
fn install_crypto_provider() {
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
    let pem = std::fs::read(&path).map_err(|e| err(e.to_string()))?;
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
    let redirects = || {
        reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if attempt.url().scheme() != "https" {
                attempt.error("redirect to a URL that is not https")
            } else {
                attempt.follow()
            }
        })
    };
    let base = || {
        let builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .pool_max_idle_per_host(0)
            .redirect(redirects())
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

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
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
/// network trouble becomes [`Verdict::Retry`] with a detail string.
pub async fn send(root: &Path, settings: &Settings, body: Vec<u8>) -> Answer {
    let retry = |detail: String| Answer {
        verdict: Verdict::Retry,
        status: None,
        retry_after: None,
        detail,
    };
    let Some(endpoint) = settings.endpoint.clone() else {
        return retry(SendError::NoEndpoint.to_string());
    };
    let client = match client(root, settings) {
        Ok(c) => c,
        Err(e) => return retry(e.to_string()),
    };
    let request = client
        .post(endpoint)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, Utc::now()));
            Answer {
                verdict: verdict(status),
                status: Some(status),
                retry_after,
                detail: format!("the receiver answered {}", response.status()),
            }
        }
        Err(e) => {
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not connect"
            } else if e.is_redirect() {
                "redirect refused"
            } else {
                "request failed"
            };
            // reqwest's message names the endpoint URL, never the proxy URL; scrub anyway.
            let detail = scrub(&format!("{kind}: {}", chain(&e)), settings);
            retry(detail)
        }
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
