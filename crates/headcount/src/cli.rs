//! The command line, parsed by clap. Each subcommand's logic lives in its own module.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Counts the installed base of an image-based Linux without identifying a single machine.
///
/// Once per UTC day and once per UTC month, headcount posts one small report of coarse
/// platform and OS facts, with no unique ID. Configuration lives in
/// {/usr/lib,/run,/etc}/headcount/config.d/*.toml.
#[derive(Debug, Parser)]
#[command(name = "headcount", version, propagate_version = true)]
pub struct Cli {
    /// Root directory that configuration, facts and state are read under.
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the effective configuration and the file that set each value.
    ///
    /// Exits 0 when the configuration is valid (warnings go to stderr), 78 when it is not,
    /// after listing every error with its file and key.
    CheckConfig,
}
