//! A period closes, and its public table is released **once**: the exact counters are read, the
//! differentially private table is drawn ([`crate::dp`]) and stored; it is never recomputed
//! (drawing the noise again per request would let an average remove it). Views read only what
//! this step stored.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use headcount_report::{Period, Window};

use crate::config::Settings;
use crate::counters::{self, CROSSTAB_SEPARATOR};
use crate::dp::{Calibration, DpError, Exact, Noise};
use crate::metrics::{Metrics, Operation, Released};
use crate::periods::{self, Clock};
use crate::store::{self, Database, Release, ReleaseParams, ReleasedField, StoreError};

/// Wait after a period closes before releasing it, so a report accepted in the last instant of
/// the grace is committed first (a request's whole life is shorter than this).
pub const SETTLE: Duration = Duration::from_secs(60);
/// How often the receiver looks for closed periods without a release (periods imported after
/// they closed), besides waking when a period closes.
pub const LOOK_INTERVAL: Duration = Duration::from_secs(60);
/// The `level` counters sum to the reports: every report has a level.
const TOTAL_FIELD: &str = "level";

/// Why a release failed.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The noise could not be drawn.
    #[error("drawing the noise: {0}")]
    Noise(#[from] DpError),
}

/// Releases closed periods: the one place that reads exact counters for the public side.
pub struct Releaser {
    database: Database,
    settings: Settings,
    /// Per window (in the order of [`Window::ALL`]): its calibration and published fields. The
    /// weekly window publishes one more cell per report, the countme tuple.
    calibrations: Vec<(Window, Calibration, Vec<String>)>,
    clock: Clock,
    noise: Box<dyn Noise>,
    /// Releases stored and database errors are counted here.
    metrics: Option<std::sync::Arc<Metrics>>,
}

impl Releaser {
    /// A releaser for `database` with the config's privacy budget, the injected clock and noise.
    pub fn new(
        database: Database,
        settings: Settings,
        clock: Clock,
        noise: Box<dyn Noise>,
    ) -> Result<Releaser, DpError> {
        let calibrations = Window::ALL
            .into_iter()
            .map(|w| Ok((w, calibrate(&settings, w)?, published_fields(&settings, w))))
            .collect::<Result<_, DpError>>()?;
        Ok(Releaser {
            database,
            settings,
            calibrations,
            clock,
            noise,
            metrics: None,
        })
    }

    /// The same releaser, counting its releases and database errors into `metrics`.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<Metrics>) -> Releaser {
        self.metrics = Some(metrics);
        self
    }

    /// The calibration in use for `window`.
    pub fn calibration(&self, window: Window) -> &Calibration {
        let (_, calibration, _) = self.of(window);
        calibration
    }

    fn of(&self, window: Window) -> &(Window, Calibration, Vec<String>) {
        // Built from Window::ALL, so every window has its entry.
        self.calibrations
            .iter()
            .find(|(w, _, _)| *w == window)
            .unwrap_or(&self.calibrations[0])
    }

    /// Releases every period that is closed (and settled) and has no release yet: each from
    /// the day before the receiver first looked on, and any older one that has counters.
    /// Returns the periods this call released.
    pub async fn release_due(&mut self) -> Result<Vec<Period>, ReleaseError> {
        let now = (self.clock)();
        let mut done = Vec::new();
        for window in Window::ALL {
            let state = store::release_state(&self.database, window, now.date_naive()).await?;
            let first = state
                .first_look
                .and_hms_opt(0, 0, 0)
                .map(|t| Period::containing(window, t.and_utc()).prev());
            let mut due: Vec<Period> = state
                .counted
                .iter()
                .copied()
                .filter(|p| self.is_due(*p, now))
                .collect();
            if let Some(mut p) = first {
                while self.is_due(p, now) {
                    due.push(p);
                    p = p.next();
                }
            }
            due.sort();
            due.dedup();
            for period in due {
                if state.released.contains(&period) {
                    continue;
                }
                let t0 = Instant::now();
                if self.release(period).await? {
                    tracing::info!(
                        "released {window} period {period} in {} ms",
                        t0.elapsed().as_millis()
                    );
                    if let Some(m) = &self.metrics {
                        m.releases
                            .get_or_create(&Released {
                                window: window.as_str(),
                            })
                            .inc();
                    }
                    done.push(period);
                }
            }
        }
        Ok(done)
    }

    fn is_due(&self, period: Period, now: DateTime<Utc>) -> bool {
        periods::is_closed(period, self.settings.grace + SETTLE, now)
    }

    /// Releases one period now (whether closed or not: the caller decides); false when it
    /// already had a release, which then stays.
    pub async fn release(&mut self, period: Period) -> Result<bool, ReleaseError> {
        let window = period.window();
        let rows = store::Reader::new(self.database.clone())
            .counts(window, period)
            .await?;
        let exact = exact(rows);
        let (_, calibration, published) = self.of(window).clone();
        let table = crate::dp::privatize(&exact, &published, &calibration, &mut *self.noise)?;
        let release = Release {
            window,
            period,
            reports: table.reports,
            params: params(&calibration, &self.settings),
            fields: table
                .fields
                .into_iter()
                .map(|(field, t)| ReleasedField {
                    field,
                    other: t.other,
                    values: serde_json::to_string(&t.values).unwrap_or_else(|_| "{}".into()),
                })
                .collect(),
        };
        Ok(store::store_release(&self.database, &release).await?)
    }

    /// The next instant a period of any window becomes due.
    pub fn next_due(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        Window::ALL
            .into_iter()
            .map(|w| {
                let current = Period::containing(w, now);
                let delay = self.settings.grace + SETTLE;
                [current.prev(), current]
                    .into_iter()
                    .map(|p| periods::closes_at(p, delay))
                    .find(|t| *t > now)
                    .unwrap_or(now)
            })
            .min()
            .unwrap_or(now)
    }
}

/// The calibration of `window`'s releases under a config: every known field, configured
/// cross-tabulation and built-in one of the window is a cell.
pub fn calibrate(settings: &Settings, window: Window) -> Result<Calibration, DpError> {
    let cells = published_fields(settings, window).len();
    Calibration::new(
        settings.privacy,
        settings.k,
        u32::try_from(cells).unwrap_or(u32::MAX),
    )
}

/// The fields every release of `window` publishes: the contract's field paths, the configured
/// cross-tabulations and the window's built-in ones (the countme tuple of weekly releases),
/// whether or not a period has data for them.
pub fn published_fields(settings: &Settings, window: Window) -> Vec<String> {
    let mut out: Vec<String> = counters::known_fields().into_iter().collect();
    out.extend(
        settings
            .crosstabs
            .iter()
            .map(|t| counters::crosstab_field(t)),
    );
    out.extend(
        crate::countme::builtin_crosstabs(window)
            .iter()
            .map(|(field, _)| (*field).to_owned()),
    );
    out.sort();
    out
}

/// The parameters stored with a release.
pub fn params(calibration: &Calibration, settings: &Settings) -> ReleaseParams {
    ReleaseParams {
        epsilon: calibration.epsilon,
        delta: calibration.delta,
        threshold: calibration.threshold,
        noise_scale: calibration.noise_scale,
        k: settings.k,
        grace_secs: settings.grace.as_secs(),
        cells_per_report: calibration.cells_per_report(),
    }
}

/// The exact counters of one period, with cross-tabulation values written as their values
/// joined by `|` (an absent value empty), as every view shows them.
fn exact(rows: Vec<store::Count>) -> Exact {
    let mut fields: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut folded: BTreeMap<String, i64> = BTreeMap::new();
    for row in rows {
        let value = if row.field.contains(CROSSTAB_SEPARATOR) {
            match crosstab_value(&row.value) {
                Some(v) => v,
                // Combinations beyond the bound on distinct values (stored as `other`): never
                // shown on their own, counted in the cross-tabulation's other.
                None => {
                    *folded.entry(row.field).or_insert(0) += row.count;
                    continue;
                }
            }
        } else {
            row.value
        };
        *fields
            .entry(row.field)
            .or_default()
            .entry(value)
            .or_insert(0) += row.count;
    }
    let reports = fields
        .get(TOTAL_FIELD)
        .map_or(0, |f| f.values().sum::<i64>());
    Exact {
        reports,
        fields,
        folded,
    }
}

/// `["43",null]` -> `43|`.
pub fn crosstab_value(stored: &str) -> Option<String> {
    let values: Vec<Option<String>> = serde_json::from_str(stored).ok()?;
    Some(
        values
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect::<Vec<_>>()
            .join(&CROSSTAB_SEPARATOR.to_string()),
    )
}

/// Releases due periods now, then whenever a period becomes due or every `look_interval`.
pub async fn run(mut releaser: Releaser, look_interval: Duration) {
    loop {
        if let Err(e) = releaser.release_due().await {
            tracing::warn!("releasing closed periods failed, retrying: {e}");
            if let (ReleaseError::Store(_), Some(m)) = (&e, &releaser.metrics) {
                m.database_error(Operation::Release);
            }
        }
        let now = (releaser.clock)();
        let until_due = (releaser.next_due(now) - now)
            .to_std()
            .unwrap_or(Duration::ZERO);
        tokio::time::sleep(until_due.min(look_interval)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The noise is calibrated to one report adding at most 1 to each cell and touching one value
    /// per field: an array field (several values under one path) would break both.
    #[test]
    fn the_contract_has_no_array_so_one_value_per_field() {
        fn arrays(v: &serde_json::Value, found: &mut Vec<String>, at: &str) {
            match v {
                serde_json::Value::Object(m) => {
                    if m.get("type").and_then(|t| t.as_str()) == Some("array")
                        || m.contains_key("items")
                    {
                        found.push(at.to_owned());
                    }
                    for (k, c) in m {
                        arrays(c, found, &format!("{at}/{k}"));
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|c| arrays(c, found, at)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        arrays(&headcount_report::schema(), &mut found, "");
        assert!(
            found.is_empty(),
            "arrays in the report ({found:?}): dp's sensitivity must count their elements"
        );
        let s = Settings::default();
        assert_eq!(
            calibrate(&s, Window::Daily).unwrap().value_cells as usize,
            counters::known_fields().len()
        );
        assert_eq!(
            calibrate(&s, Window::Weekly).unwrap().value_cells as usize,
            counters::known_fields().len() + 1,
            "the countme tuple"
        );
    }

    #[test]
    fn crosstab_values_are_joined() {
        assert_eq!(
            crosstab_value(r#"["43","x86_64"]"#).as_deref(),
            Some("43|x86_64")
        );
        assert_eq!(crosstab_value(r#"["43",null]"#).as_deref(), Some("43|"));
        assert_eq!(crosstab_value("garbage"), None);
    }

    #[test]
    fn exact_table_sums_levels_into_reports() {
        let c = |f: &str, v: &str, n| store::Count {
            field: f.into(),
            value: v.into(),
            count: n,
        };
        let e = exact(vec![
            c("level", "minimal", 7),
            c("level", "full", 2),
            c("os.version_id|arch", r#"["43","x86_64"]"#, 9),
            c("os.version_id|arch", "other", 2),
            c("os.build", "other", 4),
        ]);
        assert_eq!(e.reports, 9);
        assert_eq!(e.fields["os.version_id|arch"]["43|x86_64"], 9);
        // A cross-tabulation's combinations beyond the bound go to its other; a field's value
        // `other` is a value like any.
        assert_eq!(e.folded["os.version_id|arch"], 2);
        assert_eq!(e.fields["os.build"]["other"], 4);
    }
}
