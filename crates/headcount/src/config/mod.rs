//! Configuration: fragments under `{usr/lib,run,etc}/headcount/config.d`, merged and validated.
//!
//! Three stages, one module each: [`fragments`] finds the files that survive masking,
//! [`raw`] parses each into optional serde fields, [`inputs`] merges them in order with the
//! file that set each value; this module validates the result into [`Settings`], the only
//! configuration type the rest of the program sees. The level has two more sources above the
//! fragments, the kernel command line ([`cmdline`]) and the old pinger opt-out ([`pinger`]);
//! [`precedence`] decides between them.

pub mod cmdline;
pub mod fragments;
mod inputs;
mod keys;
pub mod pinger;
pub mod precedence;
mod raw;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use headcount_report::{Level, Rules, Window};
use url::Url;

pub use crate::windows::Windows;

pub use inputs::Origin;
use inputs::Sourced;
use keys::Inputs;
/// Every section and its keys, in documentation order: the names docs and tests check against.
pub use keys::SECTIONS;
pub use keys::{Row, rows};
use precedence::FragmentLevel;
pub use precedence::LevelSource;

/// Level when no fragment sets one.
pub const DEFAULT_LEVEL: Level = Level::Minimal;
/// Per-request timeout when no fragment sets one.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Longest timeout accepted: a request that needs more is not worth holding open.
pub const MAX_TIMEOUT_SECS: u64 = 600;
/// Upper bound of the random delay after start: short, so a machine that lives an hour counts.
pub const DEFAULT_MAX_STARTUP_DELAY_SECS: u64 = 300;
/// Upper bound of the random delay after a period rolls over: spreads a fleet over hours.
pub const DEFAULT_MAX_ROLLOVER_DELAY_SECS: u64 = 6 * 3600;
/// Delays must stay below a day, or a daily period could pass without a report.
pub const MAX_DELAY_SECS: u64 = 24 * 3600 - 1;

/// The validated configuration. Only this type travels into the rest of the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// How much is collected; `Off` means nothing is collected, sent or written.
    pub level: Level,
    /// Collectors left out even at their level.
    pub exclude: Vec<String>,
    /// The open-field rules: the built-in ones plus the os-release names a vendor added.
    pub rules: Rules,
    /// The full URL reports are POSTed to; `None` means nothing is ever sent.
    pub endpoint: Option<Url>,
    /// HTTP(S) or SOCKS5 proxy; `None` means the standard proxy environment variables apply.
    pub proxy: Option<ProxyUrl>,
    /// Extra PEM trust roots, as written in the config (absolute; read under the root).
    pub ca_file: Option<PathBuf>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Upper bound of the random delay after start.
    pub max_startup_delay: Duration,
    /// Upper bound of the random delay after a period rolls over.
    pub max_rollover_delay: Duration,
    /// Whether a plain `http://` endpoint on a non-loopback host is allowed.
    pub allow_plain_http: bool,
    /// The windows reported in: daily and monthly unless a vendor adds weekly.
    pub windows: Windows,
}

impl Settings {
    /// Whether reports go anywhere: a level other than off, and an endpoint.
    pub fn sends(&self) -> bool {
        self.level != Level::Off && self.endpoint.is_some()
    }

    /// Why nothing is sent, in words, or `None` when reports are sent.
    pub fn why_silent(&self) -> Option<&'static str> {
        if self.level == Level::Off {
            Some("level is \"off\"")
        } else if self.endpoint.is_none() {
            Some("no endpoint is configured ([reporting] endpoint)")
        } else {
            None
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            level: DEFAULT_LEVEL,
            exclude: Vec::new(),
            rules: Rules::default(),
            endpoint: None,
            proxy: None,
            ca_file: None,
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            max_startup_delay: Duration::from_secs(DEFAULT_MAX_STARTUP_DELAY_SECS),
            max_rollover_delay: Duration::from_secs(DEFAULT_MAX_ROLLOVER_DELAY_SECS),
            allow_plain_http: false,
            windows: Windows::default_set(),
        }
    }
}

/// A proxy URL. Its `Display` hides the credentials, so it can be printed and logged.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl(Url);

impl ProxyUrl {
    /// The full URL, credentials included: for the HTTP client only.
    pub fn url(&self) -> &Url {
        &self.0
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

/// A URL with any user name and password replaced by `***`.
pub fn redact(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    // Setting credentials only fails for URLs that cannot have them, which have none to hide.
    let _ = shown.set_username("***");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// One problem found in the configuration, naming the file and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The fragment or directory concerned.
    pub path: Option<PathBuf>,
    /// 1-based line and column, when known.
    pub pos: Option<(usize, usize)>,
    /// `[section] key`, or the section, when the problem is about one.
    pub key: Option<String>,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl Diagnostic {
    fn file(path: &Path, message: impl Into<String>) -> Self {
        Diagnostic {
            path: Some(path.to_owned()),
            pos: None,
            key: None,
            message: message.into(),
        }
    }

    fn at(path: &Path, pos: Option<(usize, usize)>, key: Option<&str>, message: String) -> Self {
        Diagnostic {
            path: Some(path.to_owned()),
            pos,
            key: key.map(display_key),
            message,
        }
    }

    fn for_value<T>(value: &Sourced<T>, key: &str, message: String) -> Self {
        let (path, pos) = match &value.origin {
            Origin::File { path, line } | Origin::PingerOptOut { path, line } => {
                (Some(path.clone()), Some((*line, 1)))
            }
            Origin::Default | Origin::KernelCommandLine => (None, None),
        };
        Diagnostic {
            path,
            pos: pos.filter(|(line, _)| *line > 0),
            key: Some(display_key(key)),
            message,
        }
    }
}

/// `reporting.endpoint` -> `[reporting] endpoint`, the way the key looks in the file.
fn display_key(key: &str) -> String {
    match key.split_once('.') {
        Some((section, key)) => format!("[{section}] {key}"),
        None => format!("[{key}]"),
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}", path.display())?;
            if let Some((line, col)) = self.pos {
                write!(f, ":{line}:{col}")?;
            }
            f.write_str(": ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// The configuration is invalid; every problem found is listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// Every error, in file order.
    pub errors: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "invalid configuration ({n} error{})",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// A valid configuration, with what check-config shows beside it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The effective settings.
    pub settings: Settings,
    /// For each `(section, key)`, where its effective value came from.
    pub origins: Vec<((&'static str, &'static str), Origin)>,
    /// Fragments that were read, in the order they were applied.
    pub fragments: Vec<PathBuf>,
    /// Those of them that are empty or link to /dev/null: they only mask same-named files.
    pub masks: Vec<PathBuf>,
    /// Problems that do not stop the program (including errors overridden by an opt-out).
    pub warnings: Vec<Diagnostic>,
    /// Every source that names a valid level, in precedence order (see [`precedence`]).
    pub level_sources: Vec<LevelSource>,
}

impl Loaded {
    /// Where the effective value of `[section] key` came from.
    pub fn origin(&self, section: &str, key: &str) -> &Origin {
        self.origins
            .iter()
            .find(|((s, k), _)| *s == section && *k == key)
            .map_or(&Origin::Default, |(_, o)| o)
    }
}

/// Reads, merges and validates every fragment under `root`.
///
/// `known_collectors` are the names `[collecting] exclude` accepts; an unknown one is a warning
/// (a rollback to an older build must not fail over a collector it does not know).
pub fn load(root: &Path, known_collectors: &[&str]) -> Result<Loaded, ConfigError> {
    load_with(root, known_collectors, None)
}

/// A fragment that is not on disk (yet): what `headcount level` is about to write.
#[derive(Debug, Clone)]
pub struct Overlay {
    /// Its path under the root, in one of the fragment directories.
    pub path: PathBuf,
    /// Its content.
    pub text: String,
}

/// [`load`], as if `overlay` were written: it replaces (masks) any fragment of the same name.
pub fn load_with(
    root: &Path,
    known_collectors: &[&str],
    overlay: Option<&Overlay>,
) -> Result<Loaded, ConfigError> {
    let (mut fragments, mut errors) = fragments::discover(root);
    if let Some(o) = overlay {
        let name = o.path.file_name();
        fragments.retain(|f| f.path.file_name() != name);
        errors.retain(|e| e.path.as_deref() != Some(o.path.as_path()));
        let at = fragments.partition_point(|f| f.path.file_name() < name);
        fragments.insert(
            at,
            fragments::Fragment {
                path: o.path.clone(),
                text: o.text.clone(),
            },
        );
    }
    merge(root, fragments, errors, known_collectors)
}

/// What [`load`] makes of fragments already read: `(path, bytes)` in the order they apply
/// (masking already done). No fragment is read from disk (only `ca_file`, the kernel command
/// line and the old pinger opt-out are looked up under `root`), so any bytes can be driven
/// through the whole parse, merge and validation.
pub fn load_from_bytes(
    root: &Path,
    files: &[(PathBuf, Vec<u8>)],
    known_collectors: &[&str],
) -> Result<Loaded, ConfigError> {
    let mut fragments = Vec::new();
    let mut errors = Vec::new();
    for (path, bytes) in files {
        match fragments::decode(bytes) {
            Ok(text) => fragments.push(fragments::Fragment {
                path: path.clone(),
                text,
            }),
            Err(message) => errors.push(Diagnostic::file(path, message)),
        }
    }
    merge(root, fragments, errors, known_collectors)
}

fn merge(
    root: &Path,
    fragments: Vec<fragments::Fragment>,
    mut errors: Vec<Diagnostic>,
    known_collectors: &[&str],
) -> Result<Loaded, ConfigError> {
    let mut inputs = Inputs::default();
    let mut applied = Vec::new();
    let mut levels = Vec::new();
    for fragment in &fragments {
        let (parsed, parse_errors) = raw::parse(fragment);
        errors.extend(parse_errors);
        if let Some(value) = parsed.raw.collecting.as_ref().and_then(|c| c.level.clone()) {
            levels.push(FragmentLevel {
                path: fragment.path.clone(),
                line: parsed.line_of("collecting", "level").unwrap_or(0),
                value,
            });
        }
        inputs.apply(&fragment.path, &parsed);
        applied.push(fragment.path.clone());
    }
    let masks: Vec<PathBuf> = fragments
        .iter()
        .filter(|f| f.text.trim().is_empty())
        .map(|f| f.path.clone())
        .collect();
    let mut warnings = Vec::new();
    let mut settings = validate(&inputs, root, known_collectors, &mut errors, &mut warnings);
    let level = precedence::resolve(root, &levels, &mut errors, &mut warnings);
    settings.level = level.level;
    let mut origins = inputs.origins();
    if let Some((_, o)) = origins
        .iter_mut()
        .find(|(k, _)| *k == ("collecting", "level"))
    {
        *o = level.origin;
    }
    let level_sources = level.sources;
    // Report in the order a reader applies the fragments: file by file, line by line.
    let file_rank = |d: &Diagnostic| applied.iter().position(|p| Some(p) == d.path.as_ref());
    errors.sort_by_key(|d| (file_rank(d), d.pos));

    if settings.level == Level::Off {
        // An opt-out always wins: an unrelated mistake must never undo it.
        warnings.extend(errors.into_iter().map(|mut e| {
            e.message.push_str(" (ignored: level is \"off\")");
            e
        }));
    } else if !errors.is_empty() {
        return Err(ConfigError { errors });
    } else if settings.endpoint.is_none() {
        warnings.push(Diagnostic {
            path: None,
            pos: None,
            key: Some(display_key("reporting.endpoint")),
            message: "not set: nothing will be sent (a distribution ships a fragment naming its \
                      receiver)"
                .to_owned(),
        });
    }
    Ok(Loaded {
        settings,
        origins,
        fragments: applied,
        masks,
        warnings,
        level_sources,
    })
}

fn validate(
    inputs: &Inputs,
    root: &Path,
    known_collectors: &[&str],
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> Settings {
    let mut s = Settings::default();

    // The level is not validated here: every fragment's value counts (see `precedence`).

    if let Some(exclude) = &inputs.exclude {
        for name in &exclude.value {
            if !known_collectors.contains(&name.as_str()) {
                warnings.push(Diagnostic::for_value(
                    exclude,
                    "collecting.exclude",
                    format!(
                        "unknown collector {name:?}, ignored; known collectors: {}",
                        known_collectors.join(", ")
                    ),
                ));
            }
        }
        s.exclude = exclude.value.clone();
    }

    if let Some(names) = &inputs.known_os_names {
        match Rules::with_os_names(&names.value) {
            Ok(rules) => s.rules = rules,
            Err(bad) => {
                errors.extend(bad.into_iter().map(|b| {
                    Diagnostic::for_value(names, "collecting.known_os_names", b.to_string())
                }))
            }
        }
    }

    if let Some(allow) = &inputs.allow_plain_http {
        s.allow_plain_http = allow.value;
    }

    if let Some(windows) = &inputs.windows
        && let Some(set) = validate_windows(windows, errors)
    {
        s.windows = set;
    }

    if let Some(endpoint) = &inputs.endpoint {
        match parse_http_url(&endpoint.value, false) {
            Err(message) => errors.push(Diagnostic::for_value(
                endpoint,
                "reporting.endpoint",
                message,
            )),
            Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                errors.push(Diagnostic::for_value(
                    endpoint,
                    "reporting.endpoint",
                    "must not carry credentials: reports are anonymous".to_owned(),
                ))
            }
            Ok(url) if url.scheme() == "http" && !is_loopback(&url) && !s.allow_plain_http => {
                errors.push(Diagnostic::for_value(
                    endpoint,
                    "reporting.endpoint",
                    format!(
                        "plain http:// to {:?} is refused: use https://, or set \
                         [reporting] allow_plain_http = true (loopback hosts need neither)",
                        url.host_str().unwrap_or_default()
                    ),
                ))
            }
            Ok(url) => s.endpoint = Some(url),
        }
    }

    if let Some(proxy) = &inputs.proxy {
        match parse_url(&proxy.value, true, PROXY_SCHEMES) {
            Ok(url) => s.proxy = Some(ProxyUrl(url)),
            Err(message) => errors.push(Diagnostic::for_value(proxy, "reporting.proxy", message)),
        }
    }

    if let Some(ca) = &inputs.ca_file {
        let path = PathBuf::from(&ca.value);
        if !path.is_absolute() {
            errors.push(Diagnostic::for_value(
                ca,
                "reporting.ca_file",
                format!("{:?} is not an absolute path", ca.value),
            ));
        } else {
            let on_disk = under_root(root, &path);
            match std::fs::metadata(&on_disk) {
                Ok(m) if m.is_file() => s.ca_file = Some(path),
                Ok(_) => errors.push(Diagnostic::for_value(
                    ca,
                    "reporting.ca_file",
                    format!("{} is not a file", on_disk.display()),
                )),
                Err(e) => errors.push(Diagnostic::for_value(
                    ca,
                    "reporting.ca_file",
                    format!("cannot read {}: {e}", on_disk.display()),
                )),
            }
        }
    }

    if let Some(t) = &inputs.timeout_secs {
        if (1..=MAX_TIMEOUT_SECS).contains(&t.value) {
            s.timeout = Duration::from_secs(t.value);
        } else {
            errors.push(Diagnostic::for_value(
                t,
                "reporting.timeout_secs",
                format!(
                    "{} is out of range: allowed 1 to {MAX_TIMEOUT_SECS} seconds",
                    t.value
                ),
            ));
        }
    }

    for (input, key, slot) in [
        (
            &inputs.max_startup_delay_secs,
            "reporting.max_startup_delay_secs",
            &mut s.max_startup_delay,
        ),
        (
            &inputs.max_rollover_delay_secs,
            "reporting.max_rollover_delay_secs",
            &mut s.max_rollover_delay,
        ),
    ] {
        if let Some(d) = input {
            if d.value <= MAX_DELAY_SECS {
                *slot = Duration::from_secs(d.value);
            } else {
                errors.push(Diagnostic::for_value(
                    d,
                    key,
                    format!(
                        "{} is out of range: allowed 0 (at once) to {MAX_DELAY_SECS} seconds \
                         (less than a day)",
                        d.value
                    ),
                ));
            }
        }
    }
    s
}

/// `[reporting] windows`: known names, each once, at least one. Every mistake is an error.
fn validate_windows(input: &Sourced<Vec<String>>, errors: &mut Vec<Diagnostic>) -> Option<Windows> {
    let key = "reporting.windows";
    let allowed = Window::ALL
        .iter()
        .map(|w| format!("{:?}", w.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    if input.value.is_empty() {
        errors.push(Diagnostic::for_value(
            input,
            key,
            format!(
                "is empty: list at least one of {allowed} (to send nothing, set [collecting] \
                 level = \"off\")"
            ),
        ));
        return None;
    }
    let mut set = Windows::NONE;
    let before = errors.len();
    for name in &input.value {
        match name.parse::<Window>() {
            Ok(window) => {
                if !set.insert(window) {
                    errors.push(Diagnostic::for_value(
                        input,
                        key,
                        format!("{name:?} is listed twice"),
                    ));
                }
            }
            Err(e) => {
                let mut message = e.to_string();
                let names: Vec<&str> = Window::ALL.iter().map(|w| w.as_str()).collect();
                if let Some(near) = raw::nearest(name, &names) {
                    message.push_str(&format!("; did you mean {near:?}?"));
                }
                errors.push(Diagnostic::for_value(input, key, message));
            }
        }
    }
    (errors.len() == before).then_some(set)
}

/// Schemes of an endpoint.
const ENDPOINT_SCHEMES: &[&str] = &["https", "http"];
/// Schemes of a proxy: HTTP(S) (an https endpoint is reached with CONNECT), or SOCKS5 with the
/// endpoint's host name resolved here (`socks5`) or by the proxy (`socks5h`).
pub const PROXY_SCHEMES: &[&str] = &["http", "https", "socks5", "socks5h"];

/// An absolute `http://` or `https://` URL with a host.
fn parse_http_url(text: &str, secret: bool) -> Result<Url, String> {
    parse_url(text, secret, ENDPOINT_SCHEMES)
}

/// An absolute URL of one of `schemes`, with a host. `secret` values (a proxy URL may hold
/// credentials) are never quoted back in the message.
fn parse_url(text: &str, secret: bool, schemes: &[&str]) -> Result<Url, String> {
    let shown = if secret {
        "the URL".to_owned()
    } else {
        format!("{text:?}")
    };
    let url = Url::parse(text).map_err(|e| format!("{shown} is not an absolute URL: {e}"))?;
    if !schemes.contains(&url.scheme()) {
        let allowed: Vec<String> = schemes.iter().map(|s| format!("{s:?}")).collect();
        return Err(format!(
            "{shown} has scheme {:?}: allowed {}",
            url.scheme(),
            allowed.join(", ")
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{shown} has no host"));
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// An absolute path as seen from `root` (`/etc/x` under root `/tmp/r` is `/tmp/r/etc/x`).
pub fn under_root(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}
