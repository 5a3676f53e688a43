//! The receiver's TOML config file: raw (serde, every key optional, unknown keys refused) ->
//! validated [`Settings`] of domain types. Every error names the file and the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::collections::BTreeMap;

use headcount_report::{Arch, OsName, OsVersionId, Rules};
use serde::Deserialize;

use crate::counters;
use crate::countme::names::{self, ArchNames, NameRule, Names};
use crate::countme::totals::Spelling;

/// Default k: the release threshold is never below it, whatever the privacy budget allows.
pub const DEFAULT_K: u64 = 10;
/// Default grace after a period ends during which reports for it are still accepted (clocks
/// drift across midnight); the period closes and is released after it.
pub const DEFAULT_GRACE_SECS: u64 = 7200;
/// Longest grace: one day, the shortest period, so only the previous period is ever open late.
pub const MAX_GRACE_SECS: u64 = 24 * 60 * 60;
/// Default privacy budget of one period's release: epsilon.
pub const DEFAULT_EPSILON: f64 = 1.0;
/// Default privacy budget of one period's release: delta, far below one over the number of
/// machines of a large fleet.
pub const DEFAULT_DELTA: f64 = 1e-7;
/// Largest epsilon accepted: beyond it the noise is too small to protect anyone.
pub const MAX_EPSILON: f64 = 100.0;
/// Largest delta accepted: delta is the chance that the guarantee fails outright.
pub const MAX_DELTA: f64 = 1e-3;
/// Default age after which daily counters are deleted: about 13 months.
pub const DEFAULT_DAILY_RETENTION_DAYS: u32 = 400;
/// Default bound on the distinct values kept per field and period; beyond it a value is counted
/// as `other`. Above the instance types of all clouds together, far below what fills memory.
pub const DEFAULT_MAX_VALUES: u32 = 2000;
/// Default time within which a request's head and body must arrive.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u32 = 10;
/// Default time after which a keep-alive connection without a request is closed.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u32 = 5;
/// Longest timeout accepted: a longer one only lets slow clients hold connections.
const MAX_TIMEOUT_SECS: u32 = 3600;
/// Fewest fields in a cross-tabulation (one field is already counted on its own).
const MIN_CROSSTAB_FIELDS: usize = 2;
/// Most fields in a cross-tabulation: every extra field makes combinations rarer, which is
/// exactly what fingerprints a site.
pub const MAX_CROSSTAB_FIELDS: usize = 4;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    counts: Option<RawCounts>,
    privacy: Option<RawPrivacy>,
    connections: Option<RawConnections>,
    rate_limit: Option<RawRateLimit>,
    retention: Option<RawRetention>,
    tls: Option<RawTls>,
    metrics: Option<RawMetrics>,
    countme: Option<RawCountme>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCountme {
    os_names: Option<Vec<RawOsName>>,
    os_arch: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOsName {
    id: String,
    name: String,
    from_version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCounts {
    k: Option<u64>,
    crosstabs: Option<Vec<Vec<String>>>,
    grace_secs: Option<u64>,
    max_values: Option<u32>,
    known_os_names: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrivacy {
    epsilon: Option<f64>,
    delta: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnections {
    request_timeout_secs: Option<u32>,
    idle_timeout_secs: Option<u32>,
    max: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    reports_per_second: Option<u32>,
    burst: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    daily_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    certificate: Option<PathBuf>,
    key: Option<PathBuf>,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The release threshold is never below `k`.
    pub k: u64,
    /// Cross-tabulations: each a list of field paths counted together.
    pub crosstabs: Vec<Vec<String>>,
    /// How long after its end a period still accepts reports; then it closes.
    pub grace: Duration,
    /// The privacy budget of each period's release.
    pub privacy: Privacy,
    /// Distinct values kept per field (and per cross-tabulation) and period; the rest are
    /// counted as `other`.
    pub max_values: u32,
    /// Timeouts and the cap on open connections.
    pub connections: Connections,
    /// The global rate limit, if any.
    pub rate_limit: Option<RateLimit>,
    /// Daily counters older than this are deleted; monthly counters are kept.
    pub daily_retention: Duration,
    /// The open-field rules reports are counted with: the contract's, plus the os-release names
    /// the vendor added (the daemon's `[collecting] known_os_names`).
    pub rules: headcount_report::Rules,
    /// Certificate and key for native TLS; plain HTTP (behind a reverse proxy) when absent.
    pub tls: Option<TlsFiles>,
    /// Where `GET /metrics` is served (plain HTTP, a listener of its own); nowhere when absent.
    pub metrics_listen: Option<SocketAddr>,
    /// How countme totals spell the OS name and the architecture (`[countme]`).
    pub countme: Spelling,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            k: DEFAULT_K,
            crosstabs: Vec::new(),
            grace: Duration::from_secs(DEFAULT_GRACE_SECS),
            privacy: Privacy {
                epsilon: DEFAULT_EPSILON,
                delta: DEFAULT_DELTA,
            },
            max_values: DEFAULT_MAX_VALUES,
            connections: Connections::default(),
            rate_limit: None,
            daily_retention: days(DEFAULT_DAILY_RETENTION_DAYS),
            rules: headcount_report::Rules::default(),
            tls: None,
            metrics_listen: None,
            countme: Spelling::default(),
        }
    }
}

/// The (epsilon, delta) budget each period's release spends: differential privacy per period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Privacy {
    /// Epsilon: how much one report may change the odds of any published outcome (e^epsilon).
    pub epsilon: f64,
    /// Delta: the probability that the epsilon bound does not hold.
    pub delta: f64,
}

/// How long clients may take, and how many connections may be open at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connections {
    /// A request's head and body must arrive within this time of its first byte (of the
    /// connection's opening for the first request, TLS handshake included).
    pub request_timeout: Duration,
    /// A connection with no request in progress is closed after this time.
    pub idle_timeout: Duration,
    /// Most connections open at once; `None`: the open-file limit minus a reserve.
    pub max: Option<u32>,
}

impl Default for Connections {
    fn default() -> Self {
        Connections {
            request_timeout: secs(DEFAULT_REQUEST_TIMEOUT_SECS),
            idle_timeout: secs(DEFAULT_IDLE_TIMEOUT_SECS),
            max: None,
        }
    }
}

/// A global token bucket: `per_second` reports on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained reports per second.
    pub per_second: u32,
    /// Reports accepted at once after a quiet time.
    pub burst: u32,
}

/// PEM files for native TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub certificate: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A config file that cannot be used. Displayed as one line per problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{}: cannot read the config file: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, a wrong type, or a key that does not exist.
    #[error("{}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The TOML parser's words, with line, column and key.
        message: String,
    },
    /// Keys with values outside what is allowed.
    #[error("{}", problems.iter().map(|p| format!("{}: {p}", path.display())).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// One entry per bad key: "key: what is wrong and what is allowed".
        problems: Vec<String>,
    },
}

fn secs(n: u32) -> Duration {
    Duration::from_secs(u64::from(n))
}

fn days(n: u32) -> Duration {
    Duration::from_secs(u64::from(n) * 24 * 60 * 60)
}

impl Settings {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Settings::parse(path, &text)
    }

    /// Validates config text; `path` is only used to name the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Settings, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let mut problems = Vec::new();
        let mut settings = Settings::default();

        let counts = raw.counts.unwrap_or_default();
        if let Some(k) = counts.k {
            if k == 0 {
                problems.push("counts.k: must be at least 1 (1 shows every value)".to_owned());
            }
            settings.k = k;
        }
        let known = counters::known_fields();
        for (i, tab) in counts.crosstabs.unwrap_or_default().into_iter().enumerate() {
            let key = format!("counts.crosstabs[{i}]");
            if !(MIN_CROSSTAB_FIELDS..=MAX_CROSSTAB_FIELDS).contains(&tab.len()) {
                problems.push(format!(
                    "{key}: has {} fields, allowed are {MIN_CROSSTAB_FIELDS} to {MAX_CROSSTAB_FIELDS}",
                    tab.len()
                ));
            }
            for field in &tab {
                if !known.contains(field) {
                    problems.push(format!(
                        "{key}: unknown field {field:?}; report fields are: {}",
                        known.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            let mut sorted = tab.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != tab.len() {
                problems.push(format!("{key}: names a field twice"));
            }
            if settings.crosstabs.contains(&tab) {
                problems.push(format!("{key}: repeats an earlier cross-tabulation"));
            }
            settings.crosstabs.push(tab);
        }

        if let Some(max) = counts.max_values {
            if max == 0 {
                problems.push("counts.max_values: must be at least 1".to_owned());
            }
            settings.max_values = max;
        }

        if let Some(names) = counts.known_os_names {
            match headcount_report::Rules::with_os_names(&names) {
                Ok(rules) => settings.rules = rules,
                Err(bad) => problems.extend(
                    bad.into_iter()
                        .map(|b| format!("counts.known_os_names: {b}")),
                ),
            }
        }

        let connections = raw.connections.unwrap_or_default();
        for (key, value, field) in [
            (
                "request_timeout_secs",
                connections.request_timeout_secs,
                &mut settings.connections.request_timeout,
            ),
            (
                "idle_timeout_secs",
                connections.idle_timeout_secs,
                &mut settings.connections.idle_timeout,
            ),
        ] {
            if let Some(v) = value {
                if !(1..=MAX_TIMEOUT_SECS).contains(&v) {
                    problems.push(format!(
                        "connections.{key}: {v} is out of range, allowed are 1 to {MAX_TIMEOUT_SECS}"
                    ));
                }
                *field = secs(v);
            }
        }
        if let Some(max) = connections.max {
            if max == 0 {
                problems.push("connections.max: must be at least 1".to_owned());
            }
            settings.connections.max = Some(max);
        }

        if let Some(rate) = raw.rate_limit {
            match rate.reports_per_second {
                None => problems.push(
                    "rate_limit.reports_per_second: missing (the [rate_limit] table needs it)"
                        .to_owned(),
                ),
                Some(0) => problems.push(
                    "rate_limit.reports_per_second: must be at least 1 (remove [rate_limit] for no limit)"
                        .to_owned(),
                ),
                Some(per_second) => {
                    let burst = rate.burst.unwrap_or(per_second);
                    if burst == 0 {
                        problems.push("rate_limit.burst: must be at least 1".to_owned());
                    }
                    settings.rate_limit = Some(RateLimit { per_second, burst });
                }
            }
        }

        if let Some(d) = raw.retention.and_then(|r| r.daily_days) {
            if d == 0 {
                problems.push("retention.daily_days: must be at least 1".to_owned());
            }
            settings.daily_retention = days(d);
        }

        if let Some(tls) = raw.tls {
            match (tls.certificate, tls.key) {
                (Some(certificate), Some(key)) => {
                    settings.tls = Some(TlsFiles { certificate, key })
                }
                (None, _) => problems.push(
                    "tls.certificate: missing (the [tls] table needs certificate and key)"
                        .to_owned(),
                ),
                (_, None) => problems.push(
                    "tls.key: missing (the [tls] table needs certificate and key)".to_owned(),
                ),
            }
        }

        if let Some(metrics) = raw.metrics {
            match metrics.listen.map(|l| (l.parse::<SocketAddr>(), l)) {
                Some((Ok(addr), _)) => settings.metrics_listen = Some(addr),
                Some((Err(_), l)) => problems.push(format!(
                    "metrics.listen: {l:?} is not an address and port, such as 127.0.0.1:9180 \
                     or [::1]:9180"
                )),
                None => problems.push(
                    "metrics.listen: missing (the [metrics] table needs it; remove the table to \
                     serve no metrics)"
                        .to_owned(),
                ),
            }
        }

        if let Some(g) = counts.grace_secs {
            if g > MAX_GRACE_SECS {
                problems.push(format!(
                    "counts.grace_secs: {g} is more than a day; allowed are 0 to {MAX_GRACE_SECS}"
                ));
            }
            settings.grace = Duration::from_secs(g);
        }

        let privacy = raw.privacy.unwrap_or_default();
        if let Some(e) = privacy.epsilon {
            if !(e > 0.0 && e <= MAX_EPSILON) {
                problems.push(format!(
                    "privacy.epsilon: {e} is out of range; allowed are numbers above 0 up to {MAX_EPSILON}"
                ));
            }
            settings.privacy.epsilon = e;
        }
        if let Some(d) = privacy.delta {
            if !(d > 0.0 && d <= MAX_DELTA) {
                problems.push(format!(
                    "privacy.delta: {d} is out of range; allowed are numbers above 0 up to {MAX_DELTA}"
                ));
            }
            settings.privacy.delta = d;
        }

        if let Some(countme) = raw.countme {
            settings.countme = countme_spelling(countme, &settings.rules, &mut problems);
        }

        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems,
            })
        }
    }
}

/// `[countme]`: rows added to the os_name table, architectures respelled. Every bad entry is a
/// problem of its own. A row must name an ID reports carry as itself (`known`: the built-in IDs
/// and `[counts] known_os_names`); any other ID arrives as `other` and the row would never apply.
fn countme_spelling(raw: RawCountme, known: &Rules, problems: &mut Vec<String>) -> Spelling {
    let mut rules: Vec<NameRule> = Vec::new();
    for (i, r) in raw.os_names.unwrap_or_default().into_iter().enumerate() {
        let key = format!("countme.os_names[{i}]");
        if OsName::new(&r.id).is_none() {
            problems.push(format!(
                "{key}.id: {:?} is not an os-release ID (lower-case letters, digits, '.', '_' \
                 and '-', starting with a letter or digit, at most {} characters, like no \
                 identifier)",
                r.id,
                OsName::MAX_LEN
            ));
        } else if !known.is_known_os_id(&r.id) {
            problems.push(format!(
                "{key}.id: {:?} is not a known os-release ID, so reports carry it as other; \
                 add it to [counts] known_os_names (and the daemons' [collecting] \
                 known_os_names)",
                r.id
            ));
        }
        if !names::is_valid_os_name(&r.name) {
            problems.push(format!(
                "{key}.name: {:?} is not a NAME: 1 to 64 characters, no control character, no \
                 blank at either end",
                r.name
            ));
        }
        if let Some(from) = &r.from_version
            && (OsVersionId::new(from).is_none() || !from.starts_with(|c: char| c.is_ascii_digit()))
        {
            problems.push(format!(
                "{key}.from_version: {from:?} is not a VERSION_ID starting with a digit"
            ));
        }
        if rules
            .iter()
            .any(|o| o.id == r.id && o.from_version == r.from_version)
        {
            problems.push(format!(
                "{key}: repeats the id {:?} and from_version of an earlier row",
                r.id
            ));
        }
        rules.push(NameRule {
            id: r.id,
            from_version: r.from_version,
            name: r.name,
        });
    }
    let mut respelled = BTreeMap::new();
    for (arch, spelling) in raw.os_arch.unwrap_or_default() {
        let key = format!("countme.os_arch.{arch}");
        match arch.parse::<Arch>() {
            Ok(a) => {
                if names::is_valid_arch_spelling(&spelling) {
                    respelled.insert(a, spelling);
                } else {
                    problems.push(format!(
                        "{key}: {spelling:?} is not 1 to 32 of a-z, 0-9 and _"
                    ));
                }
            }
            Err(_) => problems.push(format!(
                "{key}: not an architecture of the report; known: {}",
                Arch::ALL
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    Spelling {
        names: Names::with(&rules),
        arches: ArchNames::with(respelled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, String> {
        Settings::parse(Path::new("/etc/r.toml"), text).map_err(|e| e.to_string())
    }

    /// The error `text` gets, checked to hold each of `needles`.
    fn refused(text: &str, needles: &[&str]) -> String {
        let e = parse(text).unwrap_err();
        for needle in needles {
            assert!(e.contains(needle), "{needle} not in {e}");
        }
        e
    }

    const USAGE_DOC: &str = include_str!("../../../docs/usage/receiver.md");

    #[test]
    fn documented_example_is_valid_and_documents_every_key() {
        let start = USAGE_DOC.find("```toml\n").unwrap() + "```toml\n".len();
        let len = USAGE_DOC[start..].find("```").unwrap();
        let example = &USAGE_DOC[start..start + len];
        let s = parse(example).unwrap();
        assert!(s.rate_limit.is_some() && s.tls.is_some() && !s.crosstabs.is_empty());
        for key in [
            "[counts]",
            "k = ",
            "crosstabs = ",
            "grace_secs = ",
            "[privacy]",
            "epsilon = ",
            "delta = ",
            "max_values = ",
            "[connections]",
            "request_timeout_secs = ",
            "idle_timeout_secs = ",
            "max = ",
            "[rate_limit]",
            "reports_per_second = ",
            "burst = ",
            "[retention]",
            "daily_days = ",
            "[tls]",
            "certificate = ",
            "key = ",
            "[metrics]",
            "listen = ",
            "[countme]",
            "os_names = ",
            "os_arch = ",
        ] {
            assert!(
                example.contains(key),
                "{key} is not in the documented example"
            );
        }
        // The defaults the doc states are the code's.
        assert!(USAGE_DOC.contains(&format!("Default {DEFAULT_K}.")));
        assert!(USAGE_DOC.contains(&format!("Default {DEFAULT_DAILY_RETENTION_DAYS} ")));
        assert!(USAGE_DOC.contains(&format!("Default {DEFAULT_GRACE_SECS} ")));
        assert!(USAGE_DOC.contains(&format!("Default {DEFAULT_EPSILON:?}.")));
        assert!(USAGE_DOC.contains(&format!("Default {DEFAULT_DELTA:e}.")));
        for (key, default) in [
            ("max_values", DEFAULT_MAX_VALUES),
            ("request_timeout_secs", DEFAULT_REQUEST_TIMEOUT_SECS),
            ("idle_timeout_secs", DEFAULT_IDLE_TIMEOUT_SECS),
        ] {
            let line = format!("{key} = {default}\n");
            assert!(example.contains(&line), "the example does not show {line}");
            let said = format!("Default {default}.\n{line}");
            assert!(
                example.contains(&said),
                "the comment above {key} does not say {said}"
            );
        }
        assert_eq!(Settings::default().connections.max, None);
        assert!(example.contains(&format!(
            "open-file limit (soft RLIMIT_NOFILE) minus {}",
            crate::limits::RESERVED_DESCRIPTORS
        )));
        // Every key the code knows is in the example: serde lists them when it meets an unknown
        // one, so a key added to the code fails here until it is documented.
        let tables = every_key();
        assert_eq!(tables.len(), 8, "{tables:?}");
        for (table, keys) in tables {
            assert!(
                example.contains(&format!("[{table}]")),
                "[{table}] undocumented"
            );
            for key in keys {
                assert!(
                    example.contains(&format!("{key} = ")),
                    "{table}.{key} undocumented"
                );
            }
        }
    }

    /// Every table and its keys, as the code knows them: serde lists them when it meets an
    /// unknown one, so a key added to the code shows up here.
    fn every_key() -> Vec<(String, Vec<String>)> {
        let expected = |probe: &str| -> Vec<String> {
            let e = parse(probe).unwrap_err();
            let list = e.split("expected").nth(1).unwrap_or_default().to_owned();
            list.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect()
        };
        expected("[unknown_table]\n")
            .into_iter()
            .map(|table| {
                let keys = expected(&format!("[{table}]\nunknown_key = 1\n"));
                assert!(!keys.is_empty(), "{table}");
                (table, keys)
            })
            .collect()
    }

    /// The config a package installs: valid, the shipped rate limit, every other key shown
    /// (commented) with the code's default.
    #[test]
    fn the_packaged_config_ships_the_rate_limit_and_the_defaults() {
        const PACKAGED: &str = include_str!("../../../dist/receiver.toml");
        let s = parse(PACKAGED).unwrap();
        assert_eq!(
            s.rate_limit,
            Some(RateLimit {
                per_second: 2000,
                burst: 20000
            })
        );
        // Metrics on loopback only: the exact counters are not for the internet.
        let metrics = s
            .metrics_listen
            .expect("the packaged config serves metrics");
        assert!(metrics.ip().is_loopback(), "{metrics}");
        assert_eq!(
            Settings {
                rate_limit: None,
                metrics_listen: None,
                ..s
            },
            Settings::default()
        );
        for (table, keys) in every_key() {
            assert!(PACKAGED.contains(&format!("[{table}]")), "[{table}]");
            for key in keys {
                assert!(PACKAGED.contains(&format!("{key} = ")), "{table}.{key}");
            }
        }
        for default in [
            format!("# k = {DEFAULT_K}\n"),
            format!("# max_values = {DEFAULT_MAX_VALUES}\n"),
            format!("# grace_secs = {DEFAULT_GRACE_SECS}\n"),
            format!("# epsilon = {DEFAULT_EPSILON:?}\n"),
            format!("# delta = {DEFAULT_DELTA:e}\n"),
            format!("# request_timeout_secs = {DEFAULT_REQUEST_TIMEOUT_SECS}\n"),
            format!("# idle_timeout_secs = {DEFAULT_IDLE_TIMEOUT_SECS}\n"),
            format!("# daily_days = {DEFAULT_DAILY_RETENTION_DAYS}\n"),
            format!(
                "# max = {}\n",
                crate::limits::connection_cap(None, 65536).unwrap()
            ),
        ] {
            assert!(PACKAGED.contains(&default), "{default}");
        }
        // The unit passes this file and sets the limit the `max` above assumes.
        let unit = include_str!("../../../systemd/headcount-receiver.service");
        assert!(unit.contains("--config %E/headcount-receiver/receiver.toml\n"));
        assert!(unit.contains("\nLimitNOFILE=65536\n"));
    }

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(parse("").unwrap(), Settings::default());
    }

    #[test]
    fn full_file() {
        let s = parse(
            r#"
[counts]
k = 5
crosstabs = [["os.version_id", "platform.id", "arch"]]
grace_secs = 600
max_values = 100
[privacy]
epsilon = 0.5
delta = 1e-9
[connections]
request_timeout_secs = 3
idle_timeout_secs = 1
max = 500
[rate_limit]
reports_per_second = 100
burst = 200
[retention]
daily_days = 30
[tls]
certificate = "/c.pem"
key = "/k.pem"
[metrics]
listen = "[::1]:9180"
"#,
        )
        .unwrap();
        assert_eq!(s.k, 5);
        assert_eq!(s.crosstabs, [["os.version_id", "platform.id", "arch"]]);
        assert_eq!(s.max_values, 100);
        assert_eq!(
            s.connections,
            Connections {
                request_timeout: secs(3),
                idle_timeout: secs(1),
                max: Some(500)
            }
        );
        assert_eq!(
            s.rate_limit,
            Some(RateLimit {
                per_second: 100,
                burst: 200
            })
        );
        assert_eq!(s.daily_retention, days(30));
        assert_eq!(s.grace, Duration::from_secs(600));
        assert_eq!(
            s.privacy,
            Privacy {
                epsilon: 0.5,
                delta: 1e-9
            }
        );
        assert_eq!(s.tls.unwrap().key, Path::new("/k.pem"));
        assert_eq!(s.metrics_listen, Some("[::1]:9180".parse().unwrap()));
    }

    #[test]
    fn unknown_keys_name_file_and_key() {
        let e = refused("[counts]\nkk = 3\n", &["kk"]);
        assert!(e.starts_with("/etc/r.toml: "), "{e}");
        refused("[count]\n", &["count"]);
        refused("[counts]\nk = \"ten\"\n", &["line 2"]);
    }

    #[test]
    fn countme_spellings_extend_the_table_and_respell_architectures() {
        let s = parse(
            r#"
[counts]
known_os_names = ["myos"]

[countme]
os_names = [
  { id = "myos", name = "My OS" },
  { id = "myos", from_version = "5", name = "My OS Linux" },
]
os_arch = { ppc64le = "powerpc64", armv7l = "arm" }
"#,
        )
        .unwrap();
        assert_eq!(s.countme.names.os_name("myos", "4.9"), "My OS");
        assert_eq!(s.countme.names.os_name("myos", "5"), "My OS Linux");
        assert_eq!(s.countme.names.os_name("fedora", "43"), "Fedora Linux");
        assert_eq!(s.countme.arches.os_arch(Arch::Ppc64le), "powerpc64");
        assert_eq!(s.countme.arches.os_arch(Arch::Armv7l), "arm");
        assert_eq!(s.countme.arches.os_arch(Arch::X86_64), "x86_64");
        refused(
            r#"
[counts]
known_os_names = ["ok", "twice"]

[countme]
os_names = [
  { id = "My OS", name = "x" },
  { id = "ok", name = "" },
  { id = "ok", name = "Ok", from_version = "rawhide" },
  { id = "twice", name = "A" },
  { id = "twice", name = "B" },
  { id = "myos", name = "My OS" },
]
os_arch = { sparc = "sparc", x86_64 = "x86-64" }
"#,
            &[
                "countme.os_names[0].id: \"My OS\" is not an os-release ID",
                "countme.os_names[1].name: \"\" is not a NAME",
                "countme.os_names[2].from_version: \"rawhide\" is not a VERSION_ID starting with a digit",
                "countme.os_names[4]: repeats the id \"twice\"",
                "countme.os_names[5].id: \"myos\" is not a known os-release ID, so reports carry \
             it as other; add it to [counts] known_os_names",
                "countme.os_arch.sparc: not an architecture of the report; known: x86_64, aarch64",
                "countme.os_arch.x86_64: \"x86-64\" is not 1 to 32 of a-z, 0-9 and _",
            ],
        );
        refused(
            "[countme]\nos_names = [{ id = \"a\", name = \"A\", version = \"1\" }]\n",
            &["version"],
        );
    }

    #[test]
    fn every_bad_value_is_reported() {
        let e = refused(
            r#"
[counts]
k = 0
crosstabs = [["arch"], ["arch", "hostname"], ["arch", "arch"]]
grace_secs = 90000
max_values = 0
[privacy]
epsilon = 0
delta = 0.5
[connections]
request_timeout_secs = 0
idle_timeout_secs = 86400
max = 0
[rate_limit]
reports_per_second = 0
[retention]
daily_days = 0
[tls]
key = "/k.pem"
[metrics]
listen = "localhost"
"#,
            &[
                "counts.k:",
                "counts.crosstabs[0]: has 1 fields",
                "counts.crosstabs[1]: unknown field \"hostname\"",
                "counts.crosstabs[2]: names a field twice",
                "counts.grace_secs: 90000",
                "privacy.epsilon: 0 is out of range",
                "privacy.delta: 0.5 is out of range",
                "counts.max_values: must be at least 1",
                "connections.request_timeout_secs: 0 is out of range",
                "connections.idle_timeout_secs: 86400 is out of range, allowed are 1 to 3600",
                "connections.max: must be at least 1",
                "rate_limit.reports_per_second:",
                "retention.daily_days:",
                "tls.certificate: missing",
                "metrics.listen: \"localhost\" is not an address and port",
            ],
        );
        assert!(e.lines().all(|l| l.starts_with("/etc/r.toml: ")), "{e}");
    }
}
