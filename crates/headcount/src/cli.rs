//! The command line, parsed by clap. Each subcommand's logic lives in its own module.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use headcount_report::{Level, Window};

/// Counts the installed base of an image-based Linux without identifying a single machine.
///
/// Once per UTC day and once per UTC month (and once per countme week where the vendor adds the
/// weekly window), headcount posts one small report of coarse platform and OS facts, with no
/// unique ID. Configuration lives in {/usr/lib,/run,/etc}/headcount/config.d/*.toml;
/// `headcount level off` turns it off.
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

    /// Run the reporting daemon (what headcount.service starts).
    ///
    /// Sends one report per period of each configured window (UTC day and month by default,
    /// countme week when added) to the configured endpoint, logs each sent report to the
    /// journal, and sleeps in between. Exits 0 at once, sending
    /// nothing, when the level is off or no endpoint is configured; exits 78 on an invalid
    /// configuration.
    Daemon,

    /// Show the level, endpoint, proxy, the last settled period per window and the next due
    /// time, from the configuration and the state file (no network).
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },

    /// Show or change the collection level.
    ///
    /// Without LEVEL: the effective level, the source that set it (a file, or the kernel command
    /// line) and what that level sends. With LEVEL: writes it to
    /// /etc/headcount/config.d/90-level.toml under the root (atomically, mode 0644, keeping the
    /// file's other keys and comments), then, with --root / under systemd, makes
    /// headcount.service take it. off is never refused; once `level off` returns the service has
    /// stopped and no report leaves. minimal and full are refused with exit 78, naming the
    /// source, when a source of higher precedence would override them (an off anywhere, a later
    /// fragment, the kernel command line); they start an enabled service that is not running.
    /// Exits 77 when the file may not be written.
    Level {
        /// The level to set: off (nothing is collected or sent), minimal or full.
        #[arg(value_name = "off|minimal|full")]
        level: Option<Level>,
    },

    /// Show exactly what would be sent, without sending anything.
    ///
    /// Collects a report for the current UTC period at the configured level (or --level) and
    /// prints it with a description of every field. Needs no endpoint, never sends, never
    /// writes state, and works as an unprivileged user. On AWS, Azure or Google Cloud, when no
    /// file holds the instance type, it asks the provider's metadata service for it only as the
    /// daemon would (an endpoint configured, level not off, --root /), and says where the
    /// instance type came from.
    Preview(PreviewArgs),
    /// Print the JSON Schema of the report.
    Schema,
}

/// Options of `headcount preview`.
#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// Collection level to preview instead of the configured one.
    #[arg(long, value_name = "off|minimal|full")]
    pub level: Option<Level>,
    /// Window whose current period is previewed (weekly: the countme week, as an ISO week).
    #[arg(long, value_name = "daily|weekly|monthly", default_value = "daily")]
    pub window: Window,
    /// Print the exact JSON body that would be posted (plus a newline), nothing else.
    #[arg(long)]
    pub json: bool,
}
