//! The public views: `GET /v1/counts` and `GET /v1/series` (docs/development/protocol.md), and
//! the JSON `publish` writes. They read released tables only, through [`PublicReader`], which
//! cannot read an exact counter; every byte they serve was stored once by the release step.

use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use headcount_report::{Period, Window};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::fields::{self, CROSSTAB_SEPARATOR};
use crate::periods::{self, Clock};
use crate::store::{PublicReader, Release, ReleaseParams, SeriesPoint};

/// The path of one period's counts.
pub const COUNTS_PATH: &str = "/v1/counts";
/// The path of a field's counts over a range of periods.
pub const SERIES_PATH: &str = "/v1/series";
/// Most periods one series answer covers (over two and a half years of days).
pub const MAX_SERIES_PERIODS: usize = 1000;
/// Released tables never change, but the latest one and a series' last periods do, daily.
const CACHE_CONTROL: &str = "public, max-age=300";
/// What a 503 asks the client to wait, in seconds.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 60;

/// What the view handlers share.
pub struct ViewState {
    /// Reads released tables.
    pub reader: PublicReader,
    /// The grace, to say when an unreleased period closes.
    pub grace: std::time::Duration,
    /// The receiver's clock.
    pub now: Clock,
}

/// The view routes, ready to merge into the receiver's router.
pub fn routes(state: Arc<ViewState>) -> Router {
    Router::new()
        .route(COUNTS_PATH, get(counts))
        .route(SERIES_PATH, get(series))
        .with_state(state)
}

/// The privacy parameters of a release, as every view shows them.
#[derive(Debug, Serialize, PartialEq)]
pub struct PrivacyView {
    /// Per-period epsilon.
    pub epsilon: f64,
    /// Per-period delta.
    pub delta: f64,
    /// Values whose noisy count is below this are folded into `other`.
    pub threshold: u64,
    /// Scale (sigma) of the discrete Gaussian noise on every count.
    pub noise_scale: f64,
    /// The configured k, a floor of the threshold.
    pub k: u64,
    /// Reports for a period were accepted until this long after its end.
    pub grace_secs: u64,
    /// Cells one report could change.
    pub cells_per_report: u32,
}

impl From<&ReleaseParams> for PrivacyView {
    fn from(p: &ReleaseParams) -> Self {
        PrivacyView {
            epsilon: p.epsilon,
            delta: p.delta,
            threshold: p.threshold,
            noise_scale: p.noise_scale,
            k: p.k,
            grace_secs: p.grace_secs,
            cells_per_report: p.cells_per_report,
        }
    }
}

/// One field of a released table.
#[derive(Debug, Serialize)]
pub struct FieldView<'a> {
    /// Value -> noisy count, as stored.
    pub values: &'a RawValue,
    /// Noisy count of the rest.
    pub other: u64,
}

/// The body of `GET /v1/counts`: one released table.
#[derive(Debug, Serialize)]
pub struct CountsView<'a> {
    /// The window.
    pub window: Window,
    /// The period.
    pub period: Period,
    /// Noisy number of reports.
    pub reports: u64,
    /// Every published field and cross-tabulation.
    pub fields: std::collections::BTreeMap<&'a str, FieldView<'a>>,
    /// How the table was released.
    pub privacy: PrivacyView,
}

/// Builds the view of a stored release; `None` if a stored field is not JSON (never written by
/// this receiver).
pub fn counts_view(r: &Release) -> Option<CountsView<'_>> {
    let mut fields = std::collections::BTreeMap::new();
    for f in &r.fields {
        let values: &RawValue = serde_json::from_str(&f.values).ok()?;
        fields.insert(
            f.field.as_str(),
            FieldView {
                values,
                other: f.other,
            },
        );
    }
    Some(CountsView {
        window: r.window,
        period: r.period,
        reports: r.reports,
        fields,
        privacy: PrivacyView::from(&r.params),
    })
}

/// One period of a series.
#[derive(Debug, Serialize)]
pub struct SeriesPointView<'a> {
    /// The period.
    pub period: Period,
    /// Noisy number of reports.
    pub reports: u64,
    /// The field's shown values (`null` if the field was not part of this release).
    pub values: Option<&'a RawValue>,
    /// The field's `other` (`null` likewise).
    pub other: Option<u64>,
}

/// The parameters of a run of consecutive released periods.
#[derive(Debug, Serialize, PartialEq)]
pub struct PrivacyRange {
    /// First period of the run.
    pub from: Period,
    /// Last period of the run.
    pub to: Period,
    /// Their parameters.
    #[serde(flatten)]
    pub privacy: PrivacyView,
}

/// Groups consecutive periods with the same parameters.
pub fn privacy_ranges<'a>(
    points: impl IntoIterator<Item = (Period, &'a ReleaseParams)>,
) -> Vec<PrivacyRange> {
    let mut out: Vec<(PrivacyRange, ReleaseParams)> = Vec::new();
    for (period, params) in points {
        match out.last_mut() {
            Some((range, last)) if last == params => range.to = period,
            _ => out.push((
                PrivacyRange {
                    from: period,
                    to: period,
                    privacy: PrivacyView::from(params),
                },
                *params,
            )),
        }
    }
    out.into_iter().map(|(r, _)| r).collect()
}

/// The body of `GET /v1/series`.
#[derive(Debug, Serialize)]
pub struct SeriesView<'a> {
    /// The window.
    pub window: Window,
    /// The field (cross-tabulation paths joined by `|`).
    pub field: &'a str,
    /// First period asked for.
    pub from: Period,
    /// Last period asked for.
    pub to: Period,
    /// Every released period in the range, in order.
    pub periods: Vec<SeriesPointView<'a>>,
    /// The privacy parameters of those periods, one entry per run of equal parameters.
    pub privacy: Vec<PrivacyRange>,
}

/// Builds a series from stored points; `None` if a stored field is not JSON.
pub fn series_view<'a>(
    window: Window,
    field: &'a str,
    from: Period,
    to: Period,
    points: &'a [SeriesPoint],
) -> Option<SeriesView<'a>> {
    let mut periods = Vec::with_capacity(points.len());
    for p in points {
        let (values, other) = match &p.field {
            Some((other, values)) => (Some(serde_json::from_str(values).ok()?), Some(*other)),
            None => (None, None),
        };
        periods.push(SeriesPointView {
            period: p.period,
            reports: p.reports,
            values,
            other,
        });
    }
    Some(SeriesView {
        window,
        field,
        from,
        to,
        periods,
        privacy: privacy_ranges(points.iter().map(|p| (p.period, &p.params))),
    })
}

/// Whether `field` names something a release can hold: a field path of the contract, 2 to 4 of
/// them joined by `|` (a cross-tabulation), or the built-in countme tuple of weekly releases.
pub fn is_publishable_field(field: &str) -> bool {
    if crate::countme::is_builtin(field) {
        return true;
    }
    let parts: Vec<&str> = field.split(CROSSTAB_SEPARATOR).collect();
    let mut unique = parts.clone();
    unique.sort_unstable();
    unique.dedup();
    (parts.len() == 1 || (2..=crate::config::MAX_CROSSTAB_FIELDS).contains(&parts.len()))
        && unique.len() == parts.len()
        && parts.iter().all(|p| fields::is_known_field(p))
}

#[derive(Serialize)]
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

fn bad(message: impl Into<String>) -> Response {
    problem(StatusCode::BAD_REQUEST, "invalid_query", message)
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::error!("reading released counts failed: {e}");
    let mut r = problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the counts could not be read, retry later",
    );
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
    );
    r
}

fn json(body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, CACHE_CONTROL),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => unavailable(e),
    }
}

fn window_param(q: &std::collections::BTreeMap<String, String>) -> Result<Window, String> {
    match q.get("window").map(|w| w.parse::<Window>()) {
        Some(Ok(w)) => Ok(w),
        Some(Err(e)) => Err(format!("window: {e}")),
        None => Err("window: missing (daily, weekly or monthly)".into()),
    }
}

fn period_param(
    q: &std::collections::BTreeMap<String, String>,
    name: &str,
    window: Window,
) -> Result<Option<Period>, String> {
    q.get(name)
        .map(|p| Period::parse_for(window, p).map_err(|e| format!("{name}: {e}")))
        .transpose()
}

async fn counts(State(s): State<Arc<ViewState>>, RawQuery(raw): RawQuery) -> Response {
    let q = match crate::query::parse(raw.as_deref(), &["window", "period"]) {
        Ok(q) => q,
        Err(m) => return bad(m),
    };
    let window = match window_param(&q) {
        Ok(w) => w,
        Err(m) => return bad(m),
    };
    let period = match period_param(&q, "period", window) {
        Ok(Some(p)) => p,
        Ok(None) => match s.reader.latest(window).await {
            Ok(Some(p)) => p,
            Ok(None) => {
                return problem(
                    StatusCode::NOT_FOUND,
                    "not_released",
                    format!("no {window} period has been released yet"),
                );
            }
            Err(e) => return unavailable(e),
        },
        Err(m) => return bad(m),
    };
    match s.reader.release(window, period).await {
        Ok(Some(release)) => match counts_view(&release) {
            Some(view) => json(&view),
            None => unavailable("a stored release is not JSON"),
        },
        Ok(None) => not_released(&s, period),
        Err(e) => unavailable(e),
    }
}

fn not_released(s: &ViewState, period: Period) -> Response {
    let closes = periods::closes_at(period, s.grace);
    let now = (s.now)();
    let released_by = periods::closes_at(
        period,
        s.grace + crate::release::SETTLE + crate::release::LOOK_INTERVAL,
    );
    let when = if now < closes {
        format!(
            "it is open until {}, then released",
            closes.format("%Y-%m-%dT%H:%M:%SZ")
        )
    } else if now < released_by {
        format!(
            "it closed at {} and is released within minutes",
            closes.format("%Y-%m-%dT%H:%M:%SZ")
        )
    } else {
        "it has no release (nothing was counted then)".to_owned()
    };
    problem(
        StatusCode::NOT_FOUND,
        "not_released",
        format!(
            "{} period {period} is not released: {when}",
            period.window()
        ),
    )
}

async fn series(State(s): State<Arc<ViewState>>, RawQuery(raw): RawQuery) -> Response {
    let q = match crate::query::parse(raw.as_deref(), &["window", "field", "from", "to"]) {
        Ok(q) => q,
        Err(m) => return bad(m),
    };
    let window = match window_param(&q) {
        Ok(w) => w,
        Err(m) => return bad(m),
    };
    let Some(field) = q.get("field") else {
        return bad("field: missing (a field path, or cross-tabulated paths joined by |)");
    };
    if !is_publishable_field(field) {
        return bad(format!(
            "field: {field:?} is not a report field, a cross-tabulation of 2 to {} of them, or \
             the countme tuple {}",
            crate::config::MAX_CROSSTAB_FIELDS,
            crate::countme::FIELD
        ));
    }
    let (from, to) = match (
        period_param(&q, "from", window),
        period_param(&q, "to", window),
    ) {
        (Ok(Some(from)), Ok(Some(to))) => (from, to),
        (Err(m), _) | (_, Err(m)) => return bad(m),
        (Ok(None), _) => return bad("from: missing (the first period)"),
        (_, Ok(None)) => return bad("to: missing (the last period)"),
    };
    if from > to {
        return bad(format!("from ({from}) is after to ({to})"));
    }
    let mut p = from;
    for _ in 0..MAX_SERIES_PERIODS {
        p = p.next();
    }
    if p <= to {
        return bad(format!(
            "the range has more than {MAX_SERIES_PERIODS} periods; ask for a shorter one"
        ));
    }
    match s.reader.series(window, field, from, to).await {
        Ok(points) => match series_view(window, field, from, to, &points) {
            Some(view) => json(&view),
            None => unavailable("a stored release is not JSON"),
        },
        Err(e) => unavailable(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_crosstabs_are_publishable_anything_else_is_not() {
        for ok in [
            "arch",
            "os.version_id|arch",
            "os.version_id|platform.id|arch",
            crate::countme::FIELD,
        ] {
            assert!(is_publishable_field(ok), "{ok}");
        }
        for bad in [
            "hostname",
            "arch|arch",
            "",
            "os",
            "arch|",
            "a|b|c|d|e",
            "os.version_id|os.id|os.variant_id|arch|age_bucket",
            "os.id|os.version_id|os.variant_id|arch|age_bucket|level",
        ] {
            assert!(!is_publishable_field(bad), "{bad}");
        }
    }

    #[test]
    fn privacy_ranges_group_equal_parameters() {
        let a = ReleaseParams {
            epsilon: 1.0,
            delta: 1e-7,
            threshold: 300,
            noise_scale: 50.0,
            k: 10,
            grace_secs: 7200,
            cells_per_report: 103,
        };
        let b = ReleaseParams { epsilon: 0.5, ..a };
        let p = |s: &str| s.parse::<Period>().unwrap();
        let r = privacy_ranges([
            (p("2026-11-01"), &a),
            (p("2026-11-02"), &a),
            (p("2026-11-03"), &b),
        ]);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].from, r[0].to), (p("2026-11-01"), p("2026-11-02")));
        assert_eq!(r[1].privacy.epsilon, 0.5);
    }
}
