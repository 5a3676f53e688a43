//! `headcount-receiver`: the command line over the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use headcount_receiver::publish::Format;
use headcount_receiver::{Database, Error, ServeOptions, Settings};
use headcount_report::{Period, Window};

/// Why a command failed. Every exit status comes from [`Failure::code`], and each is listed
/// under "Exit status" in docs/usage/receiver.md (0 is success).
enum Failure {
    /// A bad command-line value: 2, as clap reports its own usage errors.
    Usage(String),
    /// What the library refused: 78, 69, 65 or 1 by [`Failure::code`].
    Receiver(Error),
    /// The async runtime cannot start: 1.
    Runtime(std::io::Error),
}

/// EX_DATAERR from sysexits.h: the import file is not export's CSV.
const EXIT_DATAERR: u8 = 65;
/// EX_UNAVAILABLE: the database or the socket is not usable.
const EXIT_UNAVAILABLE: u8 = 69;
/// EX_CONFIG: the configuration is invalid.
const EXIT_CONFIG: u8 = 78;

impl Failure {
    fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Receiver(
                Error::Config(_) | Error::Tls(_) | Error::Limits(_) | Error::Privacy(_),
            ) => EXIT_CONFIG,
            Failure::Receiver(
                Error::Store(_)
                | Error::Listen { .. }
                | Error::Release(_)
                | Error::Import(headcount_receiver::import::ImportError::Store(_)),
            ) => EXIT_UNAVAILABLE,
            Failure::Receiver(Error::Import(_)) => EXIT_DATAERR,
            Failure::Receiver(Error::Output(_)) | Failure::Runtime(_) => 1,
        }
    }

    /// Prints the error and its causes, one `error:` line per line of text (a config error is
    /// one line per problem, already naming file and key); a cause whose text the message
    /// already holds is not repeated.
    fn print(&self) {
        let (mut text, mut cause) = match self {
            Failure::Usage(message) => (message.clone(), None),
            Failure::Receiver(e) => (e.to_string(), std::error::Error::source(e)),
            Failure::Runtime(e) => (
                format!("cannot start the async runtime: {e}"),
                std::error::Error::source(e),
            ),
        };
        while let Some(c) = cause {
            let more = c.to_string();
            if !text.contains(&more) {
                text = format!("{text}: {more}");
            }
            cause = c.source();
        }
        for line in text.lines() {
            eprintln!("error: {line}");
        }
    }
}

impl<E: Into<Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Receiver(e.into())
    }
}

/// A usage error.
fn usage<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Usage(message.into()))
}

/// Says `{label}: {n} {what}: {the periods}` on standard error, unless there are none.
fn say_periods(label: &str, what: &str, periods: &[Period]) {
    if !periods.is_empty() {
        let list: Vec<String> = periods.iter().map(ToString::to_string).collect();
        eprintln!("{label}: {} {what}: {}", periods.len(), list.join(" "));
    }
}

/// Receives headcount reports and keeps counts, never records.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Receive reports over HTTP(S) and count them.
    Serve {
        /// Address and port to listen on, for example 127.0.0.1:8080 or [::]:443.
        #[arg(long)]
        listen: SocketAddr,
        /// sqlite:PATH (created if missing) or postgres://USER@HOST:PORT/DB.
        #[arg(long)]
        database: String,
        /// TOML config file (k, cross-tabulations, rate limit, retention, TLS).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print the released (differentially private) tables of a range of periods, as open data.
    Publish {
        /// sqlite:PATH or postgres://USER@HOST:PORT/DB.
        #[arg(long)]
        database: String,
        /// The receiver's TOML config file: with it, closed periods still owed are released first
        /// (with its budget and cross-tabulations); without it, publish only reads.
        #[arg(long)]
        config: Option<PathBuf>,
        /// daily, weekly or monthly (not needed with --format countme-totals, which is weekly).
        #[arg(long)]
        window: Option<Window>,
        /// First period, YYYY-MM-DD (daily), YYYY-Www (weekly) or YYYY-MM (monthly).
        #[arg(long)]
        from: String,
        /// Last period.
        #[arg(long)]
        to: String,
        /// csv (default), json, or countme-totals (the weekly countme tuples as Fedora's
        /// totals.csv).
        #[arg(long, default_value = "csv")]
        format: Format,
    },
    /// Add the counters of export's CSV (FILE, or standard input) to a database.
    Import {
        /// sqlite:PATH (created if missing) or postgres://USER@HOST:PORT/DB.
        #[arg(long)]
        database: String,
        /// First delete the counters of every period the file has (a re-import then changes
        /// nothing); without it the counts are added.
        #[arg(long)]
        replace: bool,
        /// The CSV file; standard input when absent.
        file: Option<PathBuf>,
    },
    /// Print the raw counters of one period as CSV (exact: the operator's view), or the exact
    /// countme tuples of a range of weeks as Fedora's totals.csv.
    Export {
        /// sqlite:PATH or postgres://USER@HOST:PORT/DB.
        #[arg(long)]
        database: String,
        /// daily, weekly or monthly (with --format counters).
        #[arg(long)]
        window: Option<Window>,
        /// YYYY-MM-DD (daily), YYYY-Www (weekly) or YYYY-MM (monthly) (with --format counters).
        #[arg(long)]
        period: Option<String>,
        /// counters (default: every counter of one period) or countme-totals (the weekly countme
        /// tuples from --from to --to as Fedora's totals.csv).
        #[arg(long, default_value = "counters")]
        format: ExportFormat,
        /// First week, YYYY-Www (with --format countme-totals).
        #[arg(long)]
        from: Option<String>,
        /// Last week, YYYY-Www (with --format countme-totals).
        #[arg(long)]
        to: Option<String>,
        /// The receiver's TOML config file, for its [countme] spellings (with --format
        /// countme-totals).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExportFormat {
    /// `window,period,field,value,count`: every raw counter of one period.
    Counters,
    /// Fedora's totals.csv rows of the weekly countme tuples.
    CountmeTotals,
}

impl std::str::FromStr for ExportFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "counters" => Ok(ExportFormat::Counters),
            "countme-totals" => Ok(ExportFormat::CountmeTotals),
            _ => Err(format!(
                "unknown format {s:?}: allowed values are \"counters\", \"countme-totals\""
            )),
        }
    }
}

/// `--from` and `--to` as periods of `window`, in order.
fn range(window: Window, from: &str, to: &str) -> Result<(Period, Period), Failure> {
    match (
        Period::parse_for(window, from),
        Period::parse_for(window, to),
    ) {
        (Ok(f), Ok(t)) if f <= t => Ok((f, t)),
        (Ok(f), Ok(t)) => usage(format!("--from {f} is after --to {t}")),
        (Err(e), _) | (_, Err(e)) => usage(format!("--from/--to: {e}")),
    }
}

/// Says on standard error which weeks' reports are in no row of countme totals, and why.
fn note_left_out(totals: &headcount_receiver::countme::totals::Totals) {
    for (week, l) in &totals.left_out {
        if l.incomplete > 0 {
            eprintln!(
                "note: week {week}: {} reports lack an OS ID, version, architecture or age and are in no row",
                l.incomplete
            );
        }
        if l.other > 0 {
            eprintln!(
                "note: week {week}: {} reports are in combinations not counted on their own (other) and are in no row",
                l.other
            );
        }
    }
}

/// Parses `--database` here rather than in clap, which would echo the value: it may hold a
/// password.
fn parse_database(s: &str) -> Result<Database, Failure> {
    s.parse()
        .map_err(|e| Failure::Usage(format!("--database: {e}")))
}

fn init_logging() {
    // Under systemd the journal stamps every line; elsewhere a time helps.
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO);
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().init();
    } else {
        builder.init();
    }
}

/// Registers for SIGTERM and SIGINT at once (a stop right after `READY=1` must not find the
/// default action, which kills without committing), and completes on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let signals = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = signals else {
            tracing::error!("cannot listen for SIGTERM; stop with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("stopping: no new connections, committing reports in flight");
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run(cli.command)),
        Err(e) => Err(Failure::Runtime(e)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.print();
            ExitCode::from(failure.code())
        }
    }
}

/// Runs one command.
async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Serve {
            listen,
            database,
            config,
        } => {
            let database = parse_database(&database)?;
            let settings = match config {
                Some(path) => Settings::load(&path)?,
                None => Settings::default(),
            };
            let options = ServeOptions::new(listen, database, settings);
            Ok(headcount_receiver::serve(options, shutdown_signal()).await?)
        }
        Command::Publish {
            database,
            config,
            window,
            from,
            to,
            format,
        } => {
            let database = parse_database(&database)?;
            let window = match (format, window) {
                (Format::CountmeTotals, None | Some(Window::Weekly)) => Window::Weekly,
                (Format::CountmeTotals, Some(w)) => {
                    return usage(format!("--format countme-totals is weekly, not {w}"));
                }
                (_, Some(w)) => w,
                (_, None) => return usage("--window is required (daily, weekly or monthly)"),
            };
            let (from, to) = range(window, &from, &to)?;
            let settings = config.map(|path| Settings::load(&path)).transpose()?;
            let mut out = std::io::stdout().lock();
            if format == Format::CountmeTotals {
                let released =
                    headcount_receiver::publish_countme(&database, settings, from, to, &mut out)
                        .await?;
                say_periods(
                    "note",
                    "weeks of the range have no release (not closed yet, or nothing counted)",
                    &released.missing,
                );
                say_periods(
                    "note",
                    "released weeks have no countme tuple (released before this receiver counted it)",
                    &released.without_tuple,
                );
                for r in headcount_receiver::views::privacy_ranges(
                    released.params.iter().map(|(w, p)| (*w, p)),
                ) {
                    eprintln!(
                        "note: weeks {} to {}: every hits is noisy (scale {:.1}); a combination is a row only if its noisy count is at least {} (never below k {}), the rest is in no row",
                        r.from, r.to, r.privacy.noise_scale, r.privacy.threshold, r.privacy.k
                    );
                }
                note_left_out(&released.totals);
                return Ok(());
            }
            let summary = headcount_receiver::publish_range(
                &database, settings, window, from, to, format, &mut out,
            )
            .await?;
            say_periods(
                "note",
                &format!(
                    "{window} periods of the range have no release (not closed yet, or nothing counted)"
                ),
                &summary.missing,
            );
            Ok(())
        }
        Command::Import {
            database,
            replace,
            file,
        } => {
            let database = parse_database(&database)?;
            let summary = match &file {
                Some(path) => {
                    let f = std::fs::File::open(path).map_err(|e| {
                        Error::Output(std::io::Error::new(
                            e.kind(),
                            format!("{}: {e}", path.display()),
                        ))
                    })?;
                    headcount_receiver::import::import(&database, f, replace).await?
                }
                None => {
                    headcount_receiver::import::import(&database, std::io::stdin().lock(), replace)
                        .await?
                }
            };
            if summary.rows > 0 || summary.releases_stored.is_empty() {
                eprintln!(
                    "imported {} counters of {} periods into {database}{}",
                    summary.rows,
                    summary.periods.len(),
                    if replace {
                        format!(" ({} counters replaced)", summary.replaced)
                    } else {
                        String::new()
                    }
                );
            }
            if !summary.releases_stored.is_empty() {
                eprintln!(
                    "stored {} released tables into {database}",
                    summary.releases_stored.len()
                );
            }
            say_periods(
                "warning",
                "periods were already released and keep their public tables (a release is never recomputed)",
                &summary.already_released,
            );
            Ok(())
        }
        Command::Export {
            database,
            window,
            period,
            format,
            from,
            to,
            config,
        } => {
            let database = parse_database(&database)?;
            match (format, window, period, from, to) {
                (ExportFormat::Counters, Some(window), Some(period), None, None)
                    if config.is_none() =>
                {
                    let period = Period::parse_for(window, &period)
                        .map_err(|e| Failure::Usage(format!("--period: {e}")))?;
                    let mut out = std::io::stdout().lock();
                    Ok(headcount_receiver::export(&database, window, period, &mut out).await?)
                }
                (ExportFormat::Counters, ..) => usage(
                    "export --format counters takes --window and --period (and no --from, --to or --config)",
                ),
                (ExportFormat::CountmeTotals, None, None, Some(from), Some(to)) => {
                    let (from, to) = range(Window::Weekly, &from, &to)?;
                    let spelling = match config {
                        Some(path) => Settings::load(&path)?.countme,
                        None => Default::default(),
                    };
                    let mut out = std::io::stdout().lock();
                    let totals = headcount_receiver::export_countme(
                        &database, &spelling, from, to, &mut out,
                    )
                    .await?;
                    note_left_out(&totals);
                    Ok(())
                }
                (ExportFormat::CountmeTotals, ..) => usage(
                    "export --format countme-totals takes --from and --to (weeks, YYYY-Www), no --window or --period",
                ),
            }
        }
    }
}
