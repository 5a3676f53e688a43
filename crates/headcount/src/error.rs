//! Errors a command ends with, and the exit code each class maps to.

use crate::config::ConfigError;
use crate::daemon::DaemonError;

/// Exit code for an invalid configuration (EX_CONFIG from sysexits.h).
pub const EXIT_CONFIG: u8 = 78;
/// Exit code for any other failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code when a file may not be written (EX_NOPERM from sysexits.h).
pub const EXIT_NOPERM: u8 = 77;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The daemon could not start or run.
    #[error(transparent)]
    Daemon(DaemonError),
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
            Error::Daemon(e) => e.exit_code(),
            Error::Output(_) => EXIT_FAILURE,
            Error::Level(e) => e.exit_code(),
        }
    }
}

impl From<DaemonError> for Error {
    fn from(e: DaemonError) -> Self {
        match e {
            // One error type per cause, so the config error prints the same from every command.
            DaemonError::Config(c) => Error::Config(c),
            other => Error::Daemon(other),
        }
    }
}
