//! The HTTP protocol: `POST /v1/report` and `GET /v1/counts` (docs/development/protocol.md).
//!
//! Nothing here sees the client's address, and nothing logs a body.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use headcount_report::{MAX_REPORT_BYTES, Period, ValidationError, Window, validate};
use serde::Serialize;

use crate::config::Settings;
use crate::counts;
use crate::fields;
use crate::query;
use crate::ratelimit::Limiter;
use crate::store::{Reader, Writer};

/// The path reports are posted to.
pub const REPORT_PATH: &str = "/v1/report";
/// The path counts are read from.
pub const COUNTS_PATH: &str = "/v1/counts";
/// The body of a 202: the same bytes every time.
const ACCEPTED_BODY: &str = r#"{"status":"accepted"}"#;
/// What a 503 (counters could not be stored) asks the client to wait, in seconds.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 60;

/// What every request handler shares.
pub struct AppState {
    /// The group-commit writer.
    pub writer: Writer,
    /// Reads counters for `/v1/counts`.
    pub reader: Reader,
    /// The validated config.
    pub settings: Settings,
    /// The global rate limit.
    pub limiter: Limiter,
    /// The receiver's clock (injected so tests can stand at a period boundary).
    pub now: fn() -> DateTime<Utc>,
}

/// The routes, ready for `axum::serve`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(REPORT_PATH, post(report))
        .route(COUNTS_PATH, get(get_counts))
        .with_state(state)
}

/// The body of every answer that is not a success: a stable code and a short reason.
#[derive(Debug, Serialize)]
struct Problem<'a> {
    error: &'a str,
    message: String,
}

fn problem(status: StatusCode, error: &str, message: impl Into<String>) -> Response {
    let body = Problem {
        error,
        message: message.into(),
    };
    (status, axum::Json(body)).into_response()
}

/// A refusal written straight to the connection, for a request refused before it reached the
/// routes (see `connections`): the body of [`problem`], then the connection closes.
pub(crate) fn problem_bytes(status: StatusCode, error: &str, message: &str) -> Vec<u8> {
    let body = serde_json::to_string(&Problem {
        error,
        message: message.to_owned(),
    })
    .unwrap_or_default();
    let mut answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default(),
        body.len()
    );
    answer.push_str(&body);
    answer.into_bytes()
}

fn with_retry_after(mut r: Response, secs: u64) -> Response {
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    r
}

fn too_large(size: Option<u64>) -> Response {
    let size = size.map_or_else(|| "more than".to_owned(), |s| format!("{s} bytes,"));
    problem(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the report is {size} the limit is {MAX_REPORT_BYTES} bytes"),
    )
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Whether `period` is the receiver's previous, current or next period of its window: clocks
/// drift across midnight, so a neighbour is accepted; anything else is a wrong clock or a replay.
pub fn period_is_timely(period: Period, now: DateTime<Utc>) -> Result<(), Period> {
    let current = Period::containing(period.window(), now);
    if period == current || period == current.prev() || period == current.next() {
        Ok(())
    } else {
        Err(current)
    }
}

async fn report(State(s): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    if !is_json(&headers) {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type must be application/json",
        );
    }
    // Refuse a declared oversize body before reading any of it.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REPORT_BYTES as u64) {
        return too_large(declared);
    }
    if let Err(wait) = s.limiter.take(Instant::now()) {
        let r = problem(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "the receiver is busy, retry after the time in Retry-After",
        );
        return with_retry_after(r, retry_after_secs(wait));
    }
    // Chunked bodies: read at most the limit, never buffer beyond it.
    let bytes = match axum::body::to_bytes(body, MAX_REPORT_BYTES).await {
        Ok(b) => b,
        Err(e) if is_length_limit(&e) => return too_large(None),
        Err(_) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_report",
                "the request body could not be read",
            );
        }
    };
    let report = match validate(&bytes) {
        Ok(r) => r,
        Err(ValidationError::TooLarge { size, .. }) => return too_large(Some(size as u64)),
        Err(e @ ValidationError::UnsupportedSchema(_)) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_schema",
                e.to_string(),
            );
        }
        Err(ValidationError::Invalid(reason)) => {
            return problem(StatusCode::BAD_REQUEST, "invalid_report", reason);
        }
    };
    if let Err(current) = period_is_timely(report.period, (s.now)()) {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "period_out_of_range",
            format!(
                "period {} is not the receiver's previous, current ({current}) or next {} period",
                report.period, report.window
            ),
        );
    }
    match s
        .writer
        .count(fields::keys(&report, &s.settings.crosstabs))
        .await
    {
        Ok(()) => (
            StatusCode::ACCEPTED,
            [(header::CONTENT_TYPE, "application/json")],
            ACCEPTED_BODY,
        )
            .into_response(),
        Err(_) => with_retry_after(
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the report could not be stored, retry later",
            ),
            UNAVAILABLE_RETRY_AFTER_SECS,
        ),
    }
}

async fn get_counts(State(s): State<Arc<AppState>>, RawQuery(raw): RawQuery) -> Response {
    let bad = |m: String| problem(StatusCode::BAD_REQUEST, "invalid_query", m);
    let q = match query::parse(raw.as_deref(), &["window", "period"]) {
        Ok(q) => q,
        Err(m) => return bad(m),
    };
    let window: Window = match q.get("window").map(|w| w.parse()) {
        Some(Ok(w)) => w,
        Some(Err(e)) => return bad(format!("window: {e}")),
        None => return bad("window: missing (daily or monthly)".into()),
    };
    let period = match q.get("period") {
        Some(p) => match Period::parse_for(window, p) {
            Ok(p) => p,
            Err(e) => return bad(format!("period: {e}")),
        },
        None => Period::containing(window, (s.now)()),
    };
    match s.reader.counts(window, period).await {
        Ok(rows) => {
            let view = counts::view(window, period, s.settings.k, rows);
            let mut r = axum::Json(view).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => {
            tracing::error!("reading counts failed: {e}");
            with_retry_after(
                problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the counts could not be read, retry later",
                ),
                UNAVAILABLE_RETRY_AFTER_SECS,
            )
        }
    }
}

/// Rounds a wait up to whole seconds for `Retry-After`.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn neighbours_of_the_current_period_are_timely() {
        let now = at("2026-12-01T00:00:05Z");
        for ok in [
            "2026-11-30",
            "2026-12-01",
            "2026-12-02",
            "2026-11",
            "2026-12",
            "2027-01",
        ] {
            assert_eq!(period_is_timely(ok.parse().unwrap(), now), Ok(()), "{ok}");
        }
        for late in [
            "2026-11-29",
            "2026-12-03",
            "2026-10",
            "2027-02",
            "2025-12-01",
        ] {
            assert!(
                period_is_timely(late.parse().unwrap(), now).is_err(),
                "{late}"
            );
        }
    }

    #[test]
    fn content_type_parameters_are_allowed() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        for (v, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("text/plain", false),
            ("application/json-seq", false),
        ] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(v));
            assert_eq!(is_json(&h), ok, "{v}");
        }
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
