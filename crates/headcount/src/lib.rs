//! headcount: counts the installed base of an image-based Linux without identifying a machine.
//!
//! The binary is a thin shell over [`run`]; everything testable lives here.
#![deny(missing_docs)]

pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
mod error;
mod file_read;
pub mod logging;
pub mod metadata;
pub mod motd;
pub mod notify;
pub mod report_source;
pub mod schedule;
pub mod send;
pub mod state;
pub mod systemctl;
pub mod timer;
pub mod windows;

// The commands keep their short paths (`headcount::level`, `crate::daemon`).
pub use commands::{check_config, daemon, level, preview, status};
pub use error::{
    EXIT_CODES, EXIT_CONFIG, EXIT_FAILURE, EXIT_NOPERM, EXIT_SOFTWARE, EXIT_USAGE, Error,
    chain as error_chain,
};

use cli::{Cli, Command};

/// Collector names that `[collecting] exclude` accepts: the collectors' registry.
pub fn known_collectors() -> Vec<&'static str> {
    headcount_collect::collector_names().collect()
}

/// Runs one command.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::CheckConfig => check_config::run(&cli.root),
        Command::Daemon => {
            logging::init();
            daemon::run(&cli.root, &report_source::Collectors::for_root(&cli.root))
        }
        Command::Status { json } => status::run(&cli.root, json),
        Command::Preview(args) => preview::run(&cli.root, &args, clock::now()),
        Command::Schema => preview::schema(&cli.root),
        Command::Level { level } => level::run(&cli.root, level),
    }
}
