//! The HTTP protocol: `POST /v1/report`, beside the public views of [`crate::views`]
//! (docs/development/protocol.md).
//!
//! Nothing here sees the client's address, and nothing logs a body.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use headcount_report::{MAX_REPORT_BYTES, ValidationError, validate_with};
use serde::Serialize;

use crate::config::Settings;
use crate::fields;
use crate::metrics::Metrics;
use crate::periods::{self, Clock, NotOpen};
use crate::ratelimit::Limiter;
use crate::store::Writer;
use crate::views;

/// The path reports are posted to.
pub const REPORT_PATH: &str = "/v1/report";
/// The body of a 202: the same bytes every time.
const ACCEPTED_BODY: &str = r#"{"status":"accepted"}"#;
/// What a 503 (counters could not be stored) asks the client to wait, in seconds.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 60;

/// What every request handler shares.
pub struct AppState {
    /// The group-commit writer.
    pub writer: Writer,
    /// The validated config.
    pub settings: Settings,
    /// The global rate limit.
    pub limiter: Limiter,
    /// The receiver's clock (injected so tests can stand at a period boundary).
    pub now: Clock,
    /// Every answer is counted here by its outcome.
    pub metrics: Arc<Metrics>,
}

/// The routes, ready for `axum::serve`: reports in, and the public views and the dashboard beside.
pub fn router(state: Arc<AppState>, views: Arc<views::ViewState>) -> Router {
    Router::new()
        .route(REPORT_PATH, post(report))
        .with_state(state)
        .merge(views::routes(views))
        .merge(crate::dashboard::routes())
}

/// The body of every answer that is not a success: a stable code and a short reason.
#[derive(Debug, Serialize)]
struct Problem<'a> {
    error: &'a str,
    message: String,
}

/// The stable code of a problem answer, kept in the response's extensions for the metrics.
#[derive(Debug, Clone, Copy)]
struct ProblemCode(&'static str);

fn problem(status: StatusCode, error: &'static str, message: impl Into<String>) -> Response {
    let body = Problem {
        error,
        message: message.into(),
    };
    let mut r = (status, axum::Json(body)).into_response();
    r.extensions_mut().insert(ProblemCode(error));
    r
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

async fn report(State(s): State<Arc<AppState>>, request: axum::extract::Request) -> Response {
    // The whole request, not the `HeaderMap` extractor: that one clones the headers.
    let (parts, body) = request.into_parts();
    let r = answer(&s, &parts.headers, body).await;
    let code = r.extensions().get::<ProblemCode>().map(|c| c.0);
    s.metrics.answered(r.status(), code);
    r
}

async fn answer(s: &AppState, headers: &HeaderMap, body: Body) -> Response {
    if !is_json(headers) {
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
    // An open value that breaks its rule is counted as other, never a reason to refuse.
    let report = match validate_with(&bytes, &s.settings.rules) {
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
    if let Err(e) = periods::accepts(report.period, s.settings.grace, (s.now)()) {
        let message = match e {
            NotOpen::Closed { current } => format!(
                "period {} is closed: the receiver's current {} period is {current}, and the \
                 previous one is accepted only until {} s after it ends",
                report.period,
                report.window,
                s.settings.grace.as_secs()
            ),
            NotOpen::OutOfRange { current } => format!(
                "period {} is ahead of the receiver's current ({current}) and next {} period",
                report.period, report.window
            ),
        };
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "period_out_of_range",
            message,
        );
    }
    match s
        .writer
        .count_report(&fields::Counters::of(&report, &s.settings.crosstabs))
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

/// Rounds a wait up to whole seconds for `Retry-After`.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

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
