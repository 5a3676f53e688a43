//! headcount-receiver: validates headcount reports and keeps counts, never records.
//!
//! Data flows one way: `POST /v1/report` ([`http`]) -> validate -> counter keys ([`counters`]) ->
//! group commit ([`store`]) -> a period closes ([`periods`]) -> its public table is released
//! once, differentially private ([`release`], [`dp`]) -> the views read released tables only
//! (`/v1/counts`, `/v1/series`: [`views`]; [`publish`]; the page at `/` that charts them:
//! [`dashboard`]). The operator's [`export`] and
//! [`import`] read and write the exact counters. The protocol is written down in
//! docs/development/protocol.md, operation in docs/usage/receiver.md.
#![deny(missing_docs)]

pub mod cardinality;
pub mod config;
mod connections;
pub mod counters;
pub mod countme;
pub mod dashboard;
pub mod dp;
pub mod framing;
pub mod http;
pub mod import;
mod leaf_serializer;
pub mod limits;
pub mod metrics;
pub mod periods;
pub mod publish;
pub mod query;
pub mod ratelimit;
pub mod release;
pub mod store;
pub mod tls;
pub mod views;

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use headcount_report::{Period, Window};

pub use config::{ConfigError, Settings};
pub use store::{Database, StoreError};

/// How often daily counters past the retention age are deleted (also once at start).
const RETENTION_INTERVAL: Duration = Duration::from_secs(6 * 60 * 60);
/// Longest wait for in-flight reports to be committed after the listener closed.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections open at once on the metrics listener (a scraper or two, and a person with curl);
/// covered by `limits::RESERVED_DESCRIPTORS`.
pub const METRICS_MAX_CONNECTIONS: usize = 4;

/// What `serve` needs.
pub struct ServeOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the counters live.
    pub database: Database,
    /// The validated config.
    pub settings: Settings,
    /// The clock that decides which periods are open and which are released.
    pub clock: periods::Clock,
    /// The noise of the releases.
    pub noise: Box<dyn dp::Noise>,
    /// How often to look for closed periods without a release, besides when a period closes.
    pub look_interval: Duration,
}

impl ServeOptions {
    /// Options with the system clock and OpenDP's noise.
    pub fn new(listen: SocketAddr, database: Database, settings: Settings) -> ServeOptions {
        ServeOptions {
            listen,
            database,
            settings,
            clock: periods::system_clock(),
            noise: Box::new(dp::OpenDpNoise),
            look_interval: release::LOOK_INTERVAL,
        }
    }
}

/// Why the receiver could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The TLS certificate or key cannot be used (a config problem too).
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The privacy budget cannot be met (a config problem too).
    #[error("privacy: {0}")]
    Privacy(#[from] dp::DpError),
    /// A release failed.
    #[error(transparent)]
    Release(#[from] release::ReleaseError),
    /// The import file is not what `export` writes.
    #[error(transparent)]
    Import(#[from] import::ImportError),
    /// The database cannot be opened, migrated or used durably.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The connection cap does not fit under the open-file limit (a config problem too).
    #[error("{0}")]
    Limits(String),
    /// The listening socket cannot be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address from `--listen`.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Writing the export failed.
    #[error("writing the export: {0}")]
    Output(#[from] std::io::Error),
}

/// Runs the receiver until `shutdown` completes, then stops accepting, lets in-flight reports
/// commit, and returns.
pub async fn serve(
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let tls = options
        .settings
        .tls
        .as_ref()
        .map(tls::server_config)
        .transpose()?;
    let releaser = release::Releaser::new(
        options.database.clone(),
        options.settings.clone(),
        options.clock.clone(),
        options.noise,
    )?;
    let metrics = Arc::new(metrics::Metrics::new());
    let releaser = releaser.with_metrics(metrics.clone());
    let soft_limit = limits::open_file_limit().map_err(Error::Output)?;
    let max_connections = limits::connection_cap(options.settings.connections.max, soft_limit)
        .map_err(Error::Limits)?;
    let (writer, writer_task, durability) = store::open_measured(
        &options.database,
        options.settings.max_values,
        metrics.clone(),
    )
    .await?;
    tracing::info!("counting into {} ({})", options.database, durability.0);
    let c = releaser.calibration(Window::Daily);
    let weekly = releaser.calibration(Window::Weekly);
    tracing::info!(
        "releasing each closed period with epsilon {} delta {:e}: noise scale {:.2}, threshold {} \
         (weekly periods, with the countme tuple: noise scale {:.2}, threshold {})",
        c.epsilon,
        c.delta,
        c.noise_scale,
        c.threshold,
        weekly.noise_scale,
        weekly.threshold
    );
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: options.listen,
            source,
        })?;
    let metrics_listener = match options.settings.metrics_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Listen { addr, source })?,
        ),
        None => None,
    };
    let releasing = tokio::spawn(release::run(releaser, options.look_interval));
    let retention = tokio::spawn(retention_loop(
        writer.clone(),
        options.settings.daily_retention,
    ));
    let local = listener.local_addr().unwrap_or(options.listen);
    let views = Arc::new(views::ViewState {
        reader: store::PublicReader::new(options.database.clone()).with_metrics(metrics.clone()),
        grace: options.settings.grace,
        now: options.clock.clone(),
    });
    let state = Arc::new(http::AppState {
        writer,
        limiter: ratelimit::Limiter::new(options.settings.rate_limit, Instant::now()),
        settings: options.settings,
        now: options.clock,
        metrics: metrics.clone(),
    });
    let connection_limits = connections::Limits {
        request_timeout: state.settings.connections.request_timeout,
        idle_timeout: state.settings.connections.idle_timeout,
        max: max_connections,
    };
    let app = http::router(state, views);
    tracing::info!(
        "at most {max_connections} connections (open-file limit {soft_limit}), requests within \
         {:?}, idle connections closed after {:?}",
        connection_limits.request_timeout,
        connection_limits.idle_timeout
    );
    // One stop for both listeners.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stop_on = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let metrics_serving = metrics_listener.map(|l| {
        let local = l.local_addr().ok();
        if let Some(a) = local {
            tracing::info!("metrics on http://{a}{}", metrics::METRICS_PATH);
        }
        let limits = connections::Limits {
            max: METRICS_MAX_CONNECTIONS,
            ..connection_limits
        };
        tokio::spawn(connections::serve(
            l,
            None,
            metrics::routes(metrics.clone()),
            limits,
            None,
            stop_on(stopped.clone()),
        ))
    });
    tracing::info!("listening on {}", tls::describe(local, tls.is_some()));
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });

    connections::serve(
        listener,
        tls,
        app,
        connection_limits,
        Some(metrics),
        stop_on(stopped),
    )
    .await;
    if let Some(task) = metrics_serving {
        let _ = task.await;
    }
    retention.abort();
    let _ = retention.await;
    releasing.abort();
    let _ = releasing.await;
    // Every Writer handle is gone now, so the writer commits what is queued and stops.
    if tokio::time::timeout(DRAIN_TIMEOUT, writer_task.join())
        .await
        .is_err()
    {
        tracing::warn!("the counter writer did not finish within {DRAIN_TIMEOUT:?}");
    }
    Ok(())
}

async fn retention_loop(writer: store::Writer, age: Duration) {
    loop {
        let now = chrono::Utc::now();
        let cutoff = chrono::Duration::from_std(age)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(now);
        let oldest_kept = Period::containing(Window::Daily, cutoff);
        match writer.retain(oldest_kept).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("deleted {n} daily counters before {oldest_kept}"),
            Err(e) => tracing::warn!("deleting old daily counters failed: {e}"),
        }
        tokio::time::sleep(RETENTION_INTERVAL).await;
    }
}

/// With `settings` (the receiver's config), first releases the closed periods still owed as
/// the receiver would; then writes the released tables of `window` from `from` to `to` to `out`
/// (see [`publish`]). Without settings it only reads: a release made with another config than
/// the receiver's would stay forever.
pub async fn publish_range(
    database: &Database,
    settings: Option<Settings>,
    window: Window,
    from: Period,
    to: Period,
    format: publish::Format,
    out: &mut impl Write,
) -> Result<publish::Summary, Error> {
    if let Some(settings) = settings {
        release_owed(database, settings).await?;
    }
    publish::write(database, window, from, to, format, out).await
}

/// Releases the closed periods still owed, as the receiver with `settings` would.
async fn release_owed(database: &Database, settings: Settings) -> Result<(), Error> {
    let max_values = settings.max_values;
    let mut releaser = release::Releaser::new(
        database.clone(),
        settings,
        periods::system_clock(),
        Box::new(dp::OpenDpNoise),
    )?;
    // The release reads the database it is given; make sure it exists and is migrated.
    let (writer, task, _) = store::open(database, max_values).await?;
    drop(writer);
    task.join().await;
    releaser.release_due().await?;
    Ok(())
}

/// `publish --format countme-totals`: with `settings` (the receiver's config), first releases
/// the closed periods still owed; then writes the released countme tuples of the weeks from
/// `from` to `to` as Fedora's `totals.csv` rows (spelled with the config's `[countme]` table, or
/// the built-in one without a config).
pub async fn publish_countme(
    database: &Database,
    settings: Option<Settings>,
    from: Period,
    to: Period,
    out: &mut impl Write,
) -> Result<countme::totals::Released, Error> {
    let spelling = settings
        .as_ref()
        .map(|s| s.countme.clone())
        .unwrap_or_default();
    if let Some(settings) = settings {
        release_owed(database, settings).await?;
    }
    let released = countme::totals::released(database, from, to, &spelling).await?;
    released.totals.write(out)?;
    Ok(released)
}

/// `export --format countme-totals`: the exact countme tuples of the weeks from `from` to `to`,
/// open weeks included, as Fedora's `totals.csv` rows (the operator's view).
pub async fn export_countme(
    database: &Database,
    spelling: &countme::totals::Spelling,
    from: Period,
    to: Period,
    out: &mut impl Write,
) -> Result<countme::totals::Totals, Error> {
    let totals = countme::totals::exact(database, from, to, spelling).await?;
    totals.write(out)?;
    Ok(totals)
}

/// The CSV header of [`export`].
pub const CSV_HEADER: &str = "window,period,field,value,count";

/// Writes every raw counter of one period as CSV: exact, no noise (the operator's view).
pub async fn export(
    database: &Database,
    window: Window,
    period: Period,
    out: &mut impl Write,
) -> Result<(), Error> {
    let rows = store::Reader::new(database.clone())
        .counts(window, period)
        .await?;
    writeln!(out, "{CSV_HEADER}")?;
    for r in rows {
        writeln!(
            out,
            "{window},{period},{},{},{}",
            csv_field(&r.field),
            csv_field(&r.value),
            r.count
        )?;
    }
    out.flush()?;
    Ok(())
}

/// RFC 4180 quoting: cross-tabulation values are JSON arrays, full of commas and quotes.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_when_needed() {
        assert_eq!(csv_field("x86_64"), "x86_64");
        assert_eq!(csv_field(r#"["43",null]"#), r#""[""43"",null]""#);
    }
}
