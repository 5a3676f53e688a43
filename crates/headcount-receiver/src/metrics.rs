//! Operational metrics for the operator's monitoring: `GET /metrics` in the Prometheus text
//! format (0.0.4), served on a listener of its own (`[metrics] listen`), never on the public one.
//!
//! What is counted is the receiver's own work: answers by outcome, commits, database errors,
//! values folded by the cardinality bound, connections. Nothing is per machine and no label
//! carries a reported value; the only labels are status codes, stable problem codes, field paths
//! of the contract (or configured cross-tabulations), windows and fixed words. Still, the counters
//! are exact, and the exact number of reports per period is what the released `reports` hides
//! behind noise: that is why they are not on the public listener.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The path of the metrics, on the metrics listener only.
pub const METRICS_PATH: &str = "/metrics";
/// Every metric's name starts with this.
pub const PREFIX: &str = "headcount_receiver";

/// Labels of an answer that refused a report.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct Refused {
    /// The HTTP status code.
    pub status: u16,
    /// The problem body's `error` code (`invalid_report`, `too_large`, ...).
    pub reason: &'static str,
}

/// Labels of a database error: which of the receiver's steps met it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DatabaseError {
    /// `commit`, `retention`, `release` or `read`.
    pub operation: &'static str,
}

/// The receiver's steps that use the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A group commit of counter increments.
    Commit,
    /// Deleting old daily counters.
    Retention,
    /// Releasing a closed period.
    Release,
    /// A public view reading released tables.
    Read,
}

impl Operation {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Commit => "commit",
            Operation::Retention => "retention",
            Operation::Release => "release",
            Operation::Read => "read",
        }
    }
}

/// Labels of a field whose values were folded into `other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct Folded {
    /// The field path, or a cross-tabulation's paths joined by `|`.
    pub field: String,
}

/// Labels of a connection the receiver cut.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct Cut {
    /// `read_deadline` (head or body too slow) or `at_cap` (closed for a new connection).
    pub reason: &'static str,
}

/// Labels of a stored release.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct Released {
    /// `daily` or `monthly`.
    pub window: &'static str,
}

/// Commit latencies: 0.5 ms to about 8 s.
const COMMIT_SECONDS_BUCKETS: (f64, f64, u16) = (0.0005, 2.0, 15);
/// Reports per commit: 1 to 8192.
const BATCH_REPORTS_BUCKETS: (f64, f64, u16) = (1.0, 2.0, 14);

/// Every metric of one receiver process. Cloning the handles shares the values.
pub struct Metrics {
    registry: Registry,
    /// 202 answers: reports counted.
    pub accepted: Counter,
    /// Reports refused for good (4xx other than 429), by status and reason; requests refused
    /// before routing (ambiguous framing) too.
    pub refused: Family<Refused, Counter>,
    /// 429 answers: the global rate limit.
    pub rate_limited: Counter,
    /// 503 answers: the report could not be stored.
    pub unavailable: Counter,
    /// Group commits attempted.
    pub commit_batches: Counter,
    /// Time of each group commit, from taking the batch to its outcome.
    pub commit_seconds: Histogram,
    /// Reports in each group commit.
    pub commit_reports: Histogram,
    /// Errors of the database, by operation.
    pub database_errors: Family<DatabaseError, Counter>,
    /// Increments counted as `other` because their field had `max_values` values already.
    pub folded: Family<Folded, Counter>,
    /// Connections open on the public listener.
    pub connections_open: Gauge,
    /// Connections the receiver closed on its clients, by reason.
    pub connections_cut: Family<Cut, Counter>,
    /// Releases this process stored, by window.
    pub releases: Family<Released, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric at zero, registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        let accepted = Counter::default();
        registry.register(
            "reports_accepted",
            "Reports answered 202: counted, durably",
            accepted.clone(),
        );
        let refused = Family::<Refused, Counter>::default();
        registry.register(
            "reports_refused",
            "Reports refused for good (4xx other than 429) by status and reason; requests \
             refused before routing count here too",
            refused.clone(),
        );
        let rate_limited = Counter::default();
        registry.register(
            "rate_limited",
            "Reports answered 429 by the global rate limit (the client sends again later)",
            rate_limited.clone(),
        );
        let unavailable = Counter::default();
        registry.register(
            "reports_unavailable",
            "Reports answered 503 because their commit failed (the client sends again later)",
            unavailable.clone(),
        );
        let commit_batches = Counter::default();
        registry.register(
            "commit_batches",
            "Group commits of counter increments attempted",
            commit_batches.clone(),
        );
        let (start, factor, n) = COMMIT_SECONDS_BUCKETS;
        let commit_seconds = Histogram::new(exponential_buckets(start, factor, n));
        registry.register(
            "commit_duration_seconds",
            "Time of each group commit, cardinality lookups included",
            commit_seconds.clone(),
        );
        let (start, factor, n) = BATCH_REPORTS_BUCKETS;
        let commit_reports = Histogram::new(exponential_buckets(start, factor, n));
        registry.register(
            "commit_batch_reports",
            "Reports in each group commit",
            commit_reports.clone(),
        );
        let database_errors = Family::<DatabaseError, Counter>::default();
        registry.register(
            "database_errors",
            "Database errors by operation (commit, retention, release, read)",
            database_errors.clone(),
        );
        let folded = Family::<Folded, Counter>::default();
        registry.register(
            "values_folded",
            "Increments counted as other because the field had max_values values in the period",
            folded.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "Connections open on the public listener",
            connections_open.clone(),
        );
        let connections_cut = Family::<Cut, Counter>::default();
        registry.register(
            "connections_cut",
            "Connections closed on their clients: read_deadline (too slow), at_cap (for a new one)",
            connections_cut.clone(),
        );
        let releases = Family::<Released, Counter>::default();
        registry.register(
            "releases",
            "Closed periods this process released and stored",
            releases.clone(),
        );
        Metrics {
            registry,
            accepted,
            refused,
            rate_limited,
            unavailable,
            commit_batches,
            commit_seconds,
            commit_reports,
            database_errors,
            folded,
            connections_open,
            connections_cut,
            releases,
        }
    }

    /// Counts a database error of `operation`.
    pub fn database_error(&self, operation: Operation) {
        self.database_errors
            .get_or_create(&DatabaseError {
                operation: operation.as_str(),
            })
            .inc();
    }

    /// Counts one answer to a report: its status and, for a problem, its `error` code.
    pub fn answered(&self, status: StatusCode, reason: Option<&'static str>) {
        let counter = match status {
            StatusCode::ACCEPTED => &self.accepted,
            StatusCode::TOO_MANY_REQUESTS => &self.rate_limited,
            StatusCode::SERVICE_UNAVAILABLE => &self.unavailable,
            _ => return self.refuse(status, reason.unwrap_or("other")),
        };
        counter.inc();
    }

    /// Counts a refusal.
    pub fn refuse(&self, status: StatusCode, reason: &'static str) {
        self.refused
            .get_or_create(&Refused {
                status: status.as_u16(),
                reason,
            })
            .inc();
    }

    /// Counts one group commit of `reports` reports that took `took`.
    pub fn commit(&self, reports: usize, took: Duration) {
        self.commit_batches.inc();
        self.commit_seconds.observe(took.as_secs_f64());
        self.commit_reports.observe(reports as f64);
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

/// The metrics listener's routes: `GET /metrics` and nothing else.
pub fn routes(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(METRICS_PATH, get(exposition))
        .with_state(metrics)
}

async fn exposition(State(m): State<Arc<Metrics>>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
        m.encode(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_named_as_documented_and_starts_at_zero() {
        let m = Metrics::new();
        m.refused
            .get_or_create(&Refused {
                status: 400,
                reason: "invalid_report",
            })
            .inc();
        m.database_error(Operation::Commit);
        m.folded
            .get_or_create(&Folded {
                field: "os.build".into(),
            })
            .inc_by(3);
        m.commit(12, Duration::from_millis(3));
        let text = m.encode();
        for line in [
            "headcount_receiver_reports_accepted_total 0",
            "headcount_receiver_reports_refused_total{status=\"400\",reason=\"invalid_report\"} 1",
            "headcount_receiver_rate_limited_total 0",
            "headcount_receiver_reports_unavailable_total 0",
            "headcount_receiver_commit_batches_total 1",
            "headcount_receiver_commit_duration_seconds_count 1",
            "headcount_receiver_commit_batch_reports_sum 12.0",
            "headcount_receiver_database_errors_total{operation=\"commit\"} 1",
            "headcount_receiver_values_folded_total{field=\"os.build\"} 3",
            "headcount_receiver_connections_open 0",
            "# TYPE headcount_receiver_commit_duration_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
}
