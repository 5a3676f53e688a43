//! Stage two: parsed fragments merged in order, each value remembering which file set it.

use std::path::PathBuf;

use super::raw::Parsed;

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// No fragment set it; the built-in default applies.
    Default,
    /// Set by this fragment, at this 1-based line.
    File {
        /// The fragment's path.
        path: PathBuf,
        /// The line of the key.
        line: usize,
    },
    /// `headcount.level=` on the kernel command line (the level only).
    KernelCommandLine,
    /// The old `fedora-coreos-pinger` opt-out, `[reporting] enabled = false` (level off only).
    PingerOptOut {
        /// The pinger fragment's path.
        path: PathBuf,
        /// The line of `enabled`.
        line: usize,
    },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::KernelCommandLine => f.write_str("kernel command line"),
            Origin::PingerOptOut { path, line } => write!(
                f,
                "{}:{line} (the fedora-coreos-pinger opt-out, [reporting] enabled = false)",
                path.display()
            ),
        }
    }
}

/// A value and the fragment that set it.
#[derive(Debug, Clone)]
pub struct Sourced<T> {
    pub value: T,
    pub origin: Origin,
}

/// All fragments merged: a later fragment's key overrides an earlier one's.
#[derive(Debug, Default)]
pub struct Inputs {
    pub level: Option<Sourced<String>>,
    pub exclude: Option<Sourced<Vec<String>>>,
    pub known_os_names: Option<Sourced<Vec<String>>>,
    pub endpoint: Option<Sourced<String>>,
    pub proxy: Option<Sourced<String>>,
    pub ca_file: Option<Sourced<String>>,
    pub timeout_secs: Option<Sourced<u64>>,
    pub max_startup_delay_secs: Option<Sourced<u64>>,
    pub max_rollover_delay_secs: Option<Sourced<u64>>,
    pub allow_plain_http: Option<Sourced<bool>>,
    pub windows: Option<Sourced<Vec<String>>>,
}

impl Inputs {
    /// Applies one parsed fragment on top of what is merged so far.
    pub fn apply(&mut self, path: &std::path::Path, parsed: Parsed) {
        let origin = |section: &str, key: &str| Origin::File {
            path: path.to_owned(),
            line: parsed.line_of(section, key).unwrap_or(0),
        };
        fn set<T>(
            slot: &mut Option<Sourced<T>>,
            value: Option<T>,
            origin: impl FnOnce() -> Origin,
        ) {
            if let Some(value) = value {
                *slot = Some(Sourced {
                    value,
                    origin: origin(),
                });
            }
        }
        if let Some(c) = parsed.raw.collecting.clone() {
            set(&mut self.level, c.level, || origin("collecting", "level"));
            set(&mut self.exclude, c.exclude, || {
                origin("collecting", "exclude")
            });
            set(&mut self.known_os_names, c.known_os_names, || {
                origin("collecting", "known_os_names")
            });
        }
        if let Some(r) = parsed.raw.reporting.clone() {
            set(&mut self.endpoint, r.endpoint, || {
                origin("reporting", "endpoint")
            });
            set(&mut self.proxy, r.proxy, || origin("reporting", "proxy"));
            set(&mut self.ca_file, r.ca_file, || {
                origin("reporting", "ca_file")
            });
            set(&mut self.timeout_secs, r.timeout_secs, || {
                origin("reporting", "timeout_secs")
            });
            set(
                &mut self.max_startup_delay_secs,
                r.max_startup_delay_secs,
                || origin("reporting", "max_startup_delay_secs"),
            );
            set(
                &mut self.max_rollover_delay_secs,
                r.max_rollover_delay_secs,
                || origin("reporting", "max_rollover_delay_secs"),
            );
            set(&mut self.allow_plain_http, r.allow_plain_http, || {
                origin("reporting", "allow_plain_http")
            });
            set(&mut self.windows, r.windows, || {
                origin("reporting", "windows")
            });
        }
    }
}
