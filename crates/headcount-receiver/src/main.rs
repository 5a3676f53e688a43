//! `headcount-receiver`: the command line over the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use headcount_receiver::{Database, Error, ServeOptions, Settings};
use headcount_report::{Period, Window};

/// EX_CONFIG from sysexits.h: the configuration is invalid.
const EXIT_CONFIG: u8 = 78;
/// A bad command-line value, as clap reports its own usage errors.
const EXIT_USAGE: u8 = 2;
/// EX_UNAVAILABLE: the database or the socket is not usable.
const EXIT_UNAVAILABLE: u8 = 69;

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
    /// Print the raw counters of one period as CSV (no k-anonymity).
    Export {
        /// sqlite:PATH or postgres://USER@HOST:PORT/DB.
        #[arg(long)]
        database: String,
        /// daily or monthly.
        #[arg(long)]
        window: Window,
        /// YYYY-MM-DD (daily) or YYYY-MM (monthly).
        #[arg(long)]
        period: String,
    },
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
        Error::Config(_) | Error::Tls(_) | Error::Limits(_) => EXIT_CONFIG,
        Error::Store(_) | Error::Listen { .. } => EXIT_UNAVAILABLE,
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
                let options = ServeOptions {
                    listen,
                    database,
                    settings,
                };
                headcount_receiver::serve(options, shutdown_signal()).await
            }
            Command::Export {
                database,
                window,
                period,
            } => {
                let Some(database) = parse_database(&database) else {
                    return Ok(ExitCode::from(EXIT_USAGE));
                };
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
