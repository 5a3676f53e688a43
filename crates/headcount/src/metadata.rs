//! The cloud metadata client: asks the provider's link-local metadata service for the instance
//! type, and for nothing else, when no file on the machine holds it.
//!
//! A privacy-sensitive network client, so it is narrow on purpose:
//! - it exists only for the running machine (`--root /`): a fixture root is not this host, and
//!   on a cloud CI machine the answer would be the host's own type ([`is_this_host`]);
//! - it is handed to collection only at level minimal or full with an endpoint configured
//!   ([`why_not_asked`]): at level off, or with no endpoint, no socket is opened;
//! - the collectors ask it only for a provider the kernel command line or DMI names;
//! - no proxy (reqwest would apply the environment's), no redirect, no retry, 2 s for the whole
//!   exchange, an answer of at most [`MAX_ANSWER_BYTES`], plain HTTP to the link-local address
//!   (no DNS lookup);
//! - one query per daemon run ([`MetadataClient`] keeps its answer, whatever it was);
//! - it logs what happened in words, never what the service said.
//!
//! Endpoints and headers are those afterburn's providers use (coreos/afterburn
//! `src/providers/aws/mod.rs`, `src/providers/microsoft/azure/mod.rs`, `src/providers/gcp/mod.rs`)
//! and cloud-init's (`cloudinit/sources/DataSourceEc2.py`, `cloudinit/sources/azure/imds.py`,
//! `cloudinit/sources/DataSourceGCE.py`).

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use headcount_collect::{MetadataProvider, MetadataSource};
use headcount_report::Level;
use reqwest::header::{HeaderName, HeaderValue};
use tracing::debug;

use crate::config::Settings;
use crate::send::USER_AGENT;

/// The link-local address every supported provider serves its metadata on. An IP literal: no
/// resolver is asked, so no DNS query leaves the machine either.
pub const METADATA_BASE: &str = "http://169.254.169.254";
/// The whole exchange (the AWS token and the type included) takes at most this long.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// The longest answer read; a longer one is dropped unread (a GCP machine-type path is about 60
/// bytes, an instance type at most 48).
pub const MAX_ANSWER_BYTES: usize = 256;

/// AWS IMDSv2: a session token is PUT for, then sent with the query (afterburn's
/// `fetch_imdsv2_token`; cloud-init's `api_token_route`).
pub const AWS_TOKEN_PATH: &str = "/latest/api/token";
/// The header asking for a token, with its lifetime in seconds.
pub const AWS_TOKEN_TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// The token's lifetime: it is used once, right away (afterburn and cloud-init ask for 6 hours).
pub const AWS_TOKEN_TTL_SECS: &str = "60";
/// The header carrying the token.
pub const AWS_TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// The instance type (afterburn: `meta-data/instance-type`).
pub const AWS_INSTANCE_TYPE_PATH: &str = "/latest/meta-data/instance-type";
/// Azure IMDS: the VM size as text, with afterburn's API version (`fetch_vmsize`).
pub const AZURE_VMSIZE_PATH: &str =
    "/metadata/instance/compute/vmSize?api-version=2017-08-01&format=text";
/// Azure IMDS answers only requests carrying `Metadata: true`.
pub const AZURE_HEADER: (&str, &str) = ("metadata", "true");
/// GCE's metadata server: `projects/<number>/machineTypes/<type>` (afterburn:
/// `instance/machine-type`); the collector keeps only the type.
pub const GCP_MACHINE_TYPE_PATH: &str = "/computeMetadata/v1/instance/machine-type";
/// GCE's metadata server answers only requests carrying `Metadata-Flavor: Google`, and says the
/// same in its answer (google-cloud-go `compute/metadata` checks it to know it is on GCE).
pub const GCP_HEADER: (&str, &str) = ("metadata-flavor", "Google");

/// The path and query each provider is asked, after the AWS token: the one value it gives.
pub fn instance_type_path(provider: MetadataProvider) -> &'static str {
    match provider {
        MetadataProvider::Aws => AWS_INSTANCE_TYPE_PATH,
        MetadataProvider::Azure => AZURE_VMSIZE_PATH,
        MetadataProvider::Gcp => GCP_MACHINE_TYPE_PATH,
    }
}

/// Why the metadata service is not asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAsked {
    /// The level (configured or previewed) is off.
    LevelOff,
    /// No endpoint: nothing would be sent, so nothing is asked either.
    NoEndpoint,
    /// `--root` is not `/`: the files read are not this host's.
    NotThisHost,
}

impl fmt::Display for NotAsked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotAsked::LevelOff => "the level is off",
            NotAsked::NoEndpoint => {
                "no endpoint is configured ([reporting] endpoint): headcount asks it only when it reports"
            }
            NotAsked::NotThisHost => "--root is not /, and the service would describe this host",
        })
    }
}

/// Whether `root` is this host's own root directory.
pub fn is_this_host(root: &Path) -> bool {
    std::fs::canonicalize(root).is_ok_and(|p| p == Path::new("/"))
}

/// Why a collection under `root` at `level`, configured as `settings`, must not ask the metadata
/// service; `None` when it may. An off level anywhere wins.
pub fn why_not_asked(root: &Path, settings: &Settings, level: Level) -> Option<NotAsked> {
    if level == Level::Off || settings.level == Level::Off {
        Some(NotAsked::LevelOff)
    } else if settings.endpoint.is_none() {
        Some(NotAsked::NoEndpoint)
    } else if !is_this_host(root) {
        Some(NotAsked::NotThisHost)
    } else {
        None
    }
}

/// Why one query gave no answer, in words (never with what the service said).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The client could not be built.
    Client(String),
    /// No answer within [`TIMEOUT`].
    TimedOut,
    /// Nothing listens, or the network is unreachable.
    Connect,
    /// The exchange broke off or the answer was not HTTP.
    Request,
    /// A redirect, which is never followed.
    Redirect(u16),
    /// Any other status than 200.
    Status(u16),
    /// GCE's answer lacks `Metadata-Flavor: Google`.
    NotGoogle,
    /// The answer is longer than [`MAX_ANSWER_BYTES`].
    TooLarge,
    /// The answer is not text, or the AWS token cannot be sent back as a header.
    NotText,
    /// The client was already used for another provider in this run.
    AlreadyAsked,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Client(e) => write!(f, "cannot set up the HTTP client: {e}"),
            Failure::TimedOut => write!(f, "no answer within {} s", TIMEOUT.as_secs()),
            Failure::Connect => f.write_str("could not connect"),
            Failure::Request => f.write_str("the exchange failed"),
            Failure::Redirect(s) => write!(f, "it answered {s}, a redirect, not followed"),
            Failure::Status(s) => write!(f, "it answered {s}"),
            Failure::NotGoogle => f.write_str("the answer lacks Metadata-Flavor: Google"),
            Failure::TooLarge => write!(f, "the answer exceeds {MAX_ANSWER_BYTES} bytes"),
            Failure::NotText => f.write_str("the answer is not text"),
            Failure::AlreadyAsked => f.write_str("another provider was asked in this run"),
        }
    }
}

/// The metadata client of one daemon run: asks once, then keeps the answer (or its absence)
/// for the rest of the run.
#[derive(Debug)]
pub struct MetadataClient {
    /// Scheme, host and port, without a trailing slash.
    base: String,
    asked: OnceLock<(MetadataProvider, Result<String, Failure>)>,
}

impl MetadataClient {
    /// The client of the real service at [`METADATA_BASE`].
    pub fn new() -> MetadataClient {
        MetadataClient::with_base(METADATA_BASE)
    }

    /// A client of the service at `base` (`http://host:port`) instead: a loopback stand-in in
    /// tests. The binary only ever uses [`MetadataClient::new`]: no option, file or environment
    /// variable moves it.
    pub fn with_base(base: &str) -> MetadataClient {
        MetadataClient {
            base: base.trim_end_matches('/').to_owned(),
            asked: OnceLock::new(),
        }
    }

    /// The outcome of the one query of this run, once it was made.
    pub fn outcome(&self) -> Option<(MetadataProvider, Result<&str, &Failure>)> {
        self.asked
            .get()
            .map(|(p, r)| (*p, r.as_ref().map(String::as_str)))
    }

    /// Asks `provider`'s service on a thread of its own (the caller may be inside the daemon's
    /// runtime, or in no runtime at all) and waits for it: [`TIMEOUT`] at most.
    fn ask_blocking(&self, provider: MetadataProvider) -> Result<String, Failure> {
        let base = &self.base;
        std::thread::scope(|s| {
            let thread = std::thread::Builder::new()
                .name("metadata".to_owned())
                .spawn_scoped(s, || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_io()
                        .enable_time()
                        .build()
                        .map_err(|e| Failure::Client(e.to_string()))?;
                    runtime.block_on(ask(base, provider))
                })
                .map_err(|e| Failure::Client(e.to_string()))?;
            thread
                .join()
                .unwrap_or_else(|_| Err(Failure::Client("the query thread failed".to_owned())))
        })
    }
}

impl Default for MetadataClient {
    fn default() -> Self {
        MetadataClient::new()
    }
}

impl MetadataSource for MetadataClient {
    fn instance_type(&self, provider: MetadataProvider) -> Option<String> {
        let (asked, outcome) = self.asked.get_or_init(|| {
            let outcome = self.ask_blocking(provider);
            match &outcome {
                Ok(_) => debug!("the {provider} metadata service answered the instance type query"),
                Err(why) => {
                    debug!("no instance type from the {provider} metadata service: {why}")
                }
            }
            (provider, outcome)
        });
        if *asked != provider {
            debug!(
                "not asking the {provider} metadata service: {}",
                Failure::AlreadyAsked
            );
            return None;
        }
        outcome.as_ref().ok().cloned()
    }
}

/// The HTTP client of the one query: no proxy, no redirect, no retry, no pooled connection,
/// HTTP/1.1 over plain TCP.
fn client() -> Result<reqwest::Client, Failure> {
    crate::send::install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        // reqwest applies HTTP_PROXY, ALL_PROXY and the system proxy unless told not to.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .pool_max_idle_per_host(0)
        .http1_only()
        // Plain HTTP only: no trust store is read for a TLS connection that never happens.
        .tls_certs_only([])
        .build()
        .map_err(|e| Failure::Client(e.to_string()))
}

/// `base` followed by `path_and_query` (a constant above).
fn endpoint(base: &str, path_and_query: &str) -> String {
    format!("{base}{path_and_query}")
}

fn header(name: &'static str, value: &str) -> Result<(HeaderName, HeaderValue), Failure> {
    let value = HeaderValue::from_str(value).map_err(|_| Failure::NotText)?;
    Ok((HeaderName::from_static(name), value))
}

/// One exchange with `provider`'s service: the AWS token first, then the type.
async fn ask(base: &str, provider: MetadataProvider) -> Result<String, Failure> {
    let client = client()?;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let url = endpoint(base, instance_type_path(provider));
    match provider {
        MetadataProvider::Aws => {
            let ttl = header(AWS_TOKEN_TTL_HEADER, AWS_TOKEN_TTL_SECS)?;
            let token = fetch(
                client
                    .put(endpoint(base, AWS_TOKEN_PATH))
                    .header(ttl.0, ttl.1),
                deadline,
                None,
            )
            .await?;
            let (name, mut value) = header(AWS_TOKEN_HEADER, &token)?;
            value.set_sensitive(true);
            fetch(client.get(url).header(name, value), deadline, None).await
        }
        MetadataProvider::Azure => {
            let (name, value) = header(AZURE_HEADER.0, AZURE_HEADER.1)?;
            fetch(client.get(url).header(name, value), deadline, None).await
        }
        MetadataProvider::Gcp => {
            let (name, value) = header(GCP_HEADER.0, GCP_HEADER.1)?;
            fetch(
                client.get(url).header(name, value),
                deadline,
                Some(GCP_HEADER),
            )
            .await
        }
    }
}

/// Sends `request`, wants a 200 (with `required` among its headers) and at most
/// [`MAX_ANSWER_BYTES`] of text, all before `deadline`.
async fn fetch(
    request: reqwest::RequestBuilder,
    deadline: tokio::time::Instant,
    required: Option<(&str, &str)>,
) -> Result<String, Failure> {
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    if left.is_zero() {
        return Err(Failure::TimedOut);
    }
    let classify = |e: reqwest::Error| {
        if e.is_timeout() {
            Failure::TimedOut
        } else if e.is_connect() {
            Failure::Connect
        } else {
            Failure::Request
        }
    };
    let mut response = request.timeout(left).send().await.map_err(classify)?;
    let status = response.status();
    if status.is_redirection() {
        return Err(Failure::Redirect(status.as_u16()));
    }
    if status != reqwest::StatusCode::OK {
        return Err(Failure::Status(status.as_u16()));
    }
    if let Some((name, value)) = required
        && response
            .headers()
            .get(name)
            .is_none_or(|v| v.as_bytes() != value.as_bytes())
    {
        return Err(Failure::NotGoogle);
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(Failure::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(Failure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body).map_err(|_| Failure::NotText)?;
    Ok(text
        .trim_matches(|c: char| c.is_ascii_whitespace())
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_service_is_the_link_local_address() {
        let base = MetadataClient::new().base;
        assert_eq!(base, "http://169.254.169.254");
        assert_eq!(
            endpoint(&base, AZURE_VMSIZE_PATH),
            "http://169.254.169.254/metadata/instance/compute/vmSize?api-version=2017-08-01&format=text"
        );
        assert_eq!(
            endpoint(&base, AWS_TOKEN_PATH),
            "http://169.254.169.254/latest/api/token"
        );
    }

    #[test]
    fn only_this_host_at_a_reporting_level_with_an_endpoint_is_asked() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings::default();
        let slash = Path::new("/");
        assert_eq!(
            why_not_asked(slash, &s, Level::Minimal),
            Some(NotAsked::NoEndpoint)
        );
        s.endpoint = Some("https://counter.example/report".parse().unwrap());
        assert_eq!(why_not_asked(slash, &s, Level::Minimal), None);
        assert_eq!(why_not_asked(slash, &s, Level::Full), None);
        assert_eq!(
            why_not_asked(dir.path(), &s, Level::Minimal),
            Some(NotAsked::NotThisHost)
        );
        // A path that leads to / is this host.
        assert!(is_this_host(Path::new("/./")));
        assert!(is_this_host(Path::new("/etc/..")));
        assert!(!is_this_host(Path::new("/nonexistent")));
        assert_eq!(
            why_not_asked(slash, &s, Level::Off),
            Some(NotAsked::LevelOff)
        );
        // Previewing minimal on a machine configured off asks nothing.
        s.level = Level::Off;
        assert_eq!(
            why_not_asked(slash, &s, Level::Minimal),
            Some(NotAsked::LevelOff)
        );
    }
}
