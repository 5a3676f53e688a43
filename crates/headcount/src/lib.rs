//! headcount: counts the installed base of an image-based Linux without identifying a machine.
//!
//! The binary is a thin shell over [`run`]; everything testable lives here.
#![deny(missing_docs)]

pub mod check_config;
pub mod cli;
pub mod config;
mod error;
pub mod preview;

pub use error::{EXIT_CONFIG, EXIT_FAILURE, Error};

use cli::{Cli, Command};

/// Collector names that `[collecting] exclude` accepts: the collectors' registry.
pub fn known_collectors() -> Vec<&'static str> {
    headcount_collect::collector_names().collect()
}

/// Runs one command.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::CheckConfig => check_config::run(&cli.root),
        Command::Preview(args) => preview::run(&cli.root, &args, chrono::Utc::now()),
        Command::Schema => preview::schema(),
    }
}
