//! STAND-IN for the lead's `headcount::config` (same API); replaced when main lands.
#![allow(missing_docs)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use headcount_report::Level;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyUrl(url::Url);

impl ProxyUrl {
    pub fn url(&self) -> &url::Url {
        &self.0
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut u = self.0.clone();
        if !u.username().is_empty() || u.password().is_some() {
            let _ = u.set_username("***");
            let _ = u.set_password(None);
        }
        write!(f, "{u}")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub level: Level,
    pub exclude: Vec<String>,
    pub endpoint: Option<url::Url>,
    pub proxy: Option<ProxyUrl>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    pub max_startup_delay: Duration,
    pub max_rollover_delay: Duration,
    pub allow_plain_http: bool,
}

#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

pub fn load(root: &Path, _known_collectors: &[&str]) -> Result<Loaded, ConfigError> {
    let mut s = Settings {
        level: Level::Minimal,
        exclude: vec![],
        endpoint: None,
        proxy: None,
        ca_file: None,
        timeout: Duration::from_secs(30),
        max_startup_delay: Duration::from_secs(300),
        max_rollover_delay: Duration::from_secs(6 * 3600),
        allow_plain_http: false,
    };
    for dir in ["usr/lib", "run", "etc"] {
        let d = root.join(dir).join("headcount/config.d");
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut files: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| ConfigError(e.to_string()))?;
            let v: toml::Table = text
                .parse()
                .map_err(|e| ConfigError(format!("{}: {e}", f.display())))?;
            let bad = |k: &str| ConfigError(format!("{}: {k}: invalid", f.display()));
            if let Some(c) = v.get("collecting").and_then(|c| c.as_table()) {
                if let Some(l) = c.get("level") {
                    s.level = l
                        .as_str()
                        .and_then(|l| l.parse().ok())
                        .ok_or_else(|| bad("collecting.level"))?;
                }
            }
            if let Some(r) = v.get("reporting").and_then(|c| c.as_table()) {
                for (k, val) in r {
                    let secs = || {
                        val.as_integer()
                            .and_then(|i| u64::try_from(i).ok())
                            .map(Duration::from_secs)
                            .ok_or_else(|| bad(k))
                    };
                    let url = || {
                        val.as_str()
                            .and_then(|u| url::Url::parse(u).ok())
                            .ok_or_else(|| bad(k))
                    };
                    match k.as_str() {
                        "endpoint" => s.endpoint = Some(url()?),
                        "proxy" => s.proxy = Some(ProxyUrl(url()?)),
                        "ca_file" => s.ca_file = val.as_str().map(PathBuf::from),
                        "timeout_secs" => s.timeout = secs()?,
                        "max_startup_delay_secs" => s.max_startup_delay = secs()?,
                        "max_rollover_delay_secs" => s.max_rollover_delay = secs()?,
                        "allow_plain_http" => s.allow_plain_http = val.as_bool().unwrap_or(false),
                        _ => return Err(bad(k)),
                    }
                }
            }
        }
    }
    Ok(Loaded {
        settings: s,
        warnings: vec![],
    })
}
