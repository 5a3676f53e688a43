//! `headcount-receiver`: the command line over the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use headcount_receiver::publish::Format;
use headcount_receiver::{Database, Error, ServeOptions, Settings};
use headcount_report::{Period, Window};

/// EX_CONFIG from sysexits.h: the configuration is invalid.
const EXIT_CONFIG: u8 = 78;
/// A bad command-line value, as clap reports its own usage errors.
const EXIT_USAGE: u8 = 2;
/// EX_UNAVAILABLE: the database or the socket is not usable.
const EXIT_UNAVAILABLE: u8 = 69;
/// EX_DATAERR: the import file is not export's CSV.
const EXIT_DATAERR: u8 = 65;

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

/// `--from` and `--to` as periods of `window`, in order; `None` (after saying why) otherwise.
fn range(window: Window, from: &str, to: &str) -> Option<(Period, Period)> {
    match (
        Period::parse_for(window, from),
        Period::parse_for(window, to),
    ) {
        (Ok(f), Ok(t)) if f <= t => Some((f, t)),
        (Ok(f), Ok(t)) => {
            eprintln!("error: --from {f} is after --to {t}");
            None
        }
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: --from/--to: {e}");
            None
        }
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
fn parse_database(s: &str) -> Option<Database> {
    s.parse()
        .map_err(|e| eprintln!("error: --database: {e}"))
        .ok()
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

fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Config(_) | Error::Tls(_) | Error::Limits(_) | Error::Privacy(_) => EXIT_CONFIG,
        Error::Store(_) | Error::Listen { .. } | Error::Release(_) => EXIT_UNAVAILABLE,
        Error::Import(headcount_receiver::import::ImportError::Store(_)) => EXIT_UNAVAILABLE,
        Error::Import(_) => EXIT_DATAERR,
        Error::Output(_) => 1,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve {
                listen,
                database,
                config,
            } => {
                let Some(database) = parse_database(&database) else {
                    return Ok(ExitCode::from(EXIT_USAGE));
                };
                let settings = match config {
                    Some(path) => Settings::load(&path)?,
                    None => Settings::default(),
                };
                let options = ServeOptions::new(listen, database, settings);
                headcount_receiver::serve(options, shutdown_signal()).await
            }
            Command::Publish {
                database,
                config,
                window,
                from,
                to,
                format,
            } => {
                let Some(database) = parse_database(&database) else {
                    return Ok(ExitCode::from(EXIT_USAGE));
                };
                let window = match (format, window) {
                    (Format::CountmeTotals, None | Some(Window::Weekly)) => Window::Weekly,
                    (Format::CountmeTotals, Some(w)) => {
                        eprintln!("error: --format countme-totals is weekly, not {w}");
                        return Ok(ExitCode::from(EXIT_USAGE));
                    }
                    (_, Some(w)) => w,
                    (_, None) => {
                        eprintln!("error: --window is required (daily, weekly or monthly)");
                        return Ok(ExitCode::from(EXIT_USAGE));
                    }
                };
                let Some((from, to)) = range(window, &from, &to) else {
                    return Ok(ExitCode::from(EXIT_USAGE));
                };
                let settings = config.map(|path| Settings::load(&path)).transpose()?;
                let mut out = std::io::stdout().lock();
                if format == Format::CountmeTotals {
                    let released = headcount_receiver::publish_countme(
                        &database, settings, from, to, &mut out,
                    )
                    .await?;
                    if !released.missing.is_empty() {
                        eprintln!(
                            "note: {} weeks of the range have no release (not closed yet, or nothing counted): {}",
                            released.missing.len(),
                            released.missing.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
                        );
                    }
                    if !released.without_tuple.is_empty() {
                        eprintln!(
                            "note: {} released weeks have no countme tuple (released before this receiver counted it): {}",
                            released.without_tuple.len(),
                            released.without_tuple.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
                        );
                    }
                    for r in headcount_receiver::views::privacy_ranges(
                        released.params.iter().map(|(w, p)| (*w, p)),
                    ) {
                        eprintln!(
                            "note: weeks {} to {}: every hits is noisy (scale {:.1}); a combination is a row only if its noisy count is at least {} (never below k {}), the rest is in no row",
                            r.from, r.to, r.privacy.noise_scale, r.privacy.threshold, r.privacy.k
                        );
                    }
                    note_left_out(&released.totals);
                    return Ok(ExitCode::SUCCESS);
                }
                let summary = headcount_receiver::publish_range(
                    &database, settings, window, from, to, format, &mut out,
                )
                .await?;
                if !summary.missing.is_empty() {
                    eprintln!(
                        "note: {} {window} periods of the range have no release (not closed yet, or nothing counted): {}",
                        summary.missing.len(),
                        summary
                            .missing
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(" ")
                    );
                }
                Ok(())
            }
            Command::Import {
                database,
                replace,
                file,
            } => {
                let Some(database) = parse_database(&database) else {
                    return Ok(ExitCode::from(EXIT_USAGE));
                };
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
                if !summary.already_released.is_empty() {
                    eprintln!(
                        "warning: {} periods were already released and keep their public tables (a release is never recomputed): {}",
                        summary.already_released.len(),
                        summary
                            .already_released
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(" ")
                    );
                }
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
                let Some(database) = parse_database(&database) else {
                    return Ok(ExitCode::from(EXIT_USAGE));
                };
                match (format, window, period, from, to) {
                    (ExportFormat::Counters, Some(window), Some(period), None, None)
                        if config.is_none() =>
                    {
                        let period = match Period::parse_for(window, &period) {
                            Ok(p) => p,
                            Err(e) => {
                                eprintln!("error: --period: {e}");
                                return Ok(ExitCode::from(EXIT_USAGE));
                            }
                        };
                        let mut out = std::io::stdout().lock();
                        headcount_receiver::export(&database, window, period, &mut out).await
                    }
                    (ExportFormat::Counters, ..) => {
                        eprintln!(
                            "error: export --format counters takes --window and --period (and no --from, --to or --config)"
                        );
                        return Ok(ExitCode::from(EXIT_USAGE));
                    }
                    (ExportFormat::CountmeTotals, None, None, Some(from), Some(to)) => {
                        let Some((from, to)) = range(Window::Weekly, &from, &to) else {
                            return Ok(ExitCode::from(EXIT_USAGE));
                        };
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
                    (ExportFormat::CountmeTotals, ..) => {
                        eprintln!(
                            "error: export --format countme-totals takes --from and --to (weeks, YYYY-Www), no --window or --period"
                        );
                        return Ok(ExitCode::from(EXIT_USAGE));
                    }
                }
            }
        }
        .map(|()| ExitCode::SUCCESS)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            // Config errors are one line per problem, already naming file and key.
            for line in e.to_string().lines() {
                eprintln!("error: {line}");
            }
            ExitCode::from(exit_code(&e))
        }
    }
}
