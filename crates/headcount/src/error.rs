//! The one error a command ends with, the exit code each class maps to, and the cause-chain
//! printer. headcount(8) documents every code (a test holds it to [`EXIT_CODES`]).

use crate::config::ConfigError;

/// Exit code for any other failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for a command line clap refuses (clap's own).
pub const EXIT_USAGE: u8 = 2;
/// Exit code when the daemon cannot set up its runtime, timer or signal handlers
/// (EX_SOFTWARE from sysexits.h).
pub const EXIT_SOFTWARE: u8 = 70;
/// Exit code when a file may not be written (EX_NOPERM from sysexits.h).
pub const EXIT_NOPERM: u8 = 77;
/// Exit code for an invalid configuration (EX_CONFIG from sysexits.h).
pub const EXIT_CONFIG: u8 = 78;

/// Every exit status of the binary, success included.
pub const EXIT_CODES: [u8; 6] = [
    0,
    EXIT_FAILURE,
    EXIT_USAGE,
    EXIT_SOFTWARE,
    EXIT_NOPERM,
    EXIT_CONFIG,
];

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The daemon's runtime, timer or signal handlers could not be set up.
    #[error("cannot start: {0}")]
    Setup(std::io::Error),
    /// Writing the command's output failed (for example a closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    /// `headcount level` was refused or could not do its work.
    #[error(transparent)]
    Level(#[from] crate::level::LevelError),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) => EXIT_CONFIG,
            Error::Setup(_) => EXIT_SOFTWARE,
            Error::Output(_) => EXIT_FAILURE,
            Error::Level(e) => e.exit_code(),
        }
    }
}

/// An error and its causes on one line, each text once (a transparent wrapper repeats its
/// cause's text).
pub fn chain(e: &dyn std::error::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner(#[source] std::io::Error);

    #[test]
    fn the_chain_names_each_cause_once() {
        let e = Outer(Inner(std::io::Error::other("disk on fire")));
        assert_eq!(chain(&e), "outer: inner: disk on fire");
        let repeated = Error::Output(std::io::Error::other("broken pipe"));
        assert_eq!(chain(&repeated), "cannot write output: broken pipe");
    }
}
