//! Stage two: parsed fragments merged in order (see [`super::keys`]), each value remembering which
//! file set it.

use std::path::PathBuf;

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
