//! headcount-receiver: validates headcount reports and keeps counts, never records.
//!
//! [`serve`] runs the HTTP receiver (`POST /v1/report`, `GET /v1/counts`) over a [`Database`];
//! [`export`] prints one period's raw counters as CSV. The protocol is written down in
//! docs/development/protocol.md, operation in docs/usage/receiver.md.
#![deny(missing_docs)]

pub mod cardinality;
pub mod config;
mod connections;
pub mod counts;
pub mod fields;
pub mod framing;
pub mod http;
mod leaves;
pub mod limits;
pub mod query;
pub mod ratelimit;
pub mod store;
pub mod tls;

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

/// What `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the counters live.
    pub database: Database,
    /// The validated config.
    pub settings: Settings,
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
    let soft_limit = limits::open_file_limit().map_err(Error::Output)?;
    let max_connections = limits::connection_cap(options.settings.connections.max, soft_limit)
        .map_err(Error::Limits)?;
    let (writer, writer_task, durability) =
        store::open(&options.database, options.settings.max_values).await?;
    tracing::info!("counting into {} ({})", options.database, durability.0);

    let retention = tokio::spawn(retention_loop(
        writer.clone(),
        options.settings.daily_retention,
    ));
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| Error::Listen {
            addr: options.listen,
            source,
        })?;
    let local = listener.local_addr().unwrap_or(options.listen);
    let state = Arc::new(http::AppState {
        writer,
        reader: store::Reader::new(options.database.clone()),
        limiter: ratelimit::Limiter::new(options.settings.rate_limit, Instant::now()),
        settings: options.settings,
        now: chrono::Utc::now,
    });
    let connection_limits = connections::Limits {
        request_timeout: state.settings.connections.request_timeout,
        idle_timeout: state.settings.connections.idle_timeout,
        max: max_connections,
    };
    let app = http::router(state);
    tracing::info!(
        "at most {max_connections} connections (open-file limit {soft_limit}), requests within \
         {:?}, idle connections closed after {:?}",
        connection_limits.request_timeout,
        connection_limits.idle_timeout
    );
    tracing::info!("listening on {}", tls::describe(local, tls.is_some()));
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);

    connections::serve(listener, tls, app, connection_limits, shutdown).await;
    retention.abort();
    let _ = retention.await;
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

/// The CSV header of [`export`].
pub const CSV_HEADER: &str = "window,period,field,value,count";

/// Writes every raw counter of one period as CSV (no k-anonymity: this is the operator's view).
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
