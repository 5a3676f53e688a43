//! Differential privacy of a period's public table, with OpenDP (the `opendp` crate): its exact
//! discrete Gaussian sampler draws the noise and its privacy maps account for what a release
//! spends. docs/usage/privacy.md states the guarantee in words.
//!
//! One report adds at most 1 to each cell of its period's table, and touches at most:
//! - one **value cell** per field path it has (the report has no arrays) and one per configured
//!   cross-tabulation (its combination of values): `value_cells`;
//! - `reports`, and the `other` of each of those fields and cross-tabulations: `value_cells + 1`.
//!
//! The release is two mechanisms on the same data, composed (zero-concentrated DP adds up):
//! 1. every value cell present in the data gets discrete Gaussian noise of scale `sigma`, and only
//!    cells whose noisy count is at least `threshold` are shown (OpenDP's
//!    `make_gaussian_threshold`: the keys themselves are data, so a value only one machine has
//!    must be unlikely to appear; that chance is `delta_threshold`);
//! 2. `reports` and each field's `other` (the exact sum of the cells step 1 did not show) get the
//!    same noise (OpenDP's `make_gaussian`, L2 sensitivity `sqrt(value_cells + 1)`).
//!
//! Calibration finds the smallest `sigma` (and with it the smallest threshold) for which the
//! pair spends at most the configured (epsilon, delta), half of delta going to the threshold.
//! The threshold is then raised to `[counts] k` if that is larger (which only lowers delta).

use std::collections::BTreeMap;

use dashu::integer::IBig;
use dashu::rational::RBig;
use opendp::combinators::{CompositionMeasure, ConcentratedMeasure, FixDeltaMeasure};
use opendp::domains::{AtomDomain, MapDomain, VectorDomain};
use opendp::measurements::{make_gaussian, make_gaussian_threshold};
use opendp::measures::{Approximate, SmoothedMaxDivergence, ZeroConcentratedDivergence};
use opendp::metrics::{AbsoluteDistance, L2Distance, L02InfDistance};
use opendp::traits::InfSqrt;
use serde::{Deserialize, Serialize};

use crate::config::Privacy;

/// The share of delta spent on the threshold (a value only one report has being shown); the rest
/// goes to converting the Gaussian noise's zero-concentrated guarantee into (epsilon, delta).
pub const THRESHOLD_DELTA_SHARE: f64 = 0.5;
/// Bisection steps on the noise scale: the result is within 2^-40 of the smallest that fits.
const SCALE_STEPS: u32 = 40;
/// Largest noise scale tried: a budget that needs more is refused as unusable.
const MAX_SCALE: f64 = 1e9;

/// Why a budget cannot be met or a draw failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DpError(pub String);

impl From<opendp::error::Error> for DpError {
    fn from(e: opendp::error::Error) -> Self {
        DpError(format!("OpenDP: {e}"))
    }
}

/// The noise and threshold that make one period's release (epsilon, delta)-DP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The configured per-period epsilon.
    pub epsilon: f64,
    /// The configured per-period delta.
    pub delta: f64,
    /// Value cells one report can add 1 to (field paths plus cross-tabulations).
    pub value_cells: u32,
    /// Scale (sigma) of the discrete Gaussian noise added to every published count.
    pub noise_scale: f64,
    /// A value cell is shown only if its noisy count is at least this; never below `[counts] k`.
    pub threshold: u64,
}

impl Calibration {
    /// The smallest noise for `privacy` when one report touches `value_cells` value cells, with
    /// the threshold derived from it and raised to `k`.
    pub fn new(privacy: Privacy, k: u64, value_cells: u32) -> Result<Calibration, DpError> {
        let Privacy { epsilon, delta } = privacy;
        if !(epsilon > 0.0 && epsilon.is_finite() && delta > 0.0 && delta < 1.0) {
            return Err(DpError(format!(
                "epsilon {epsilon} and delta {delta} are not a privacy budget"
            )));
        }
        if value_cells == 0 {
            return Err(DpError("a report touches no cell".into()));
        }
        let fits = |scale: f64| -> Result<Option<u64>, DpError> {
            let threshold = smallest_threshold(scale, value_cells, delta * THRESHOLD_DELTA_SHARE)?;
            Ok(
                (spent_epsilon(scale, threshold, value_cells, delta)? <= epsilon)
                    .then_some(threshold),
            )
        };
        let mut hi = 1.0;
        while fits(hi)?.is_none() {
            hi *= 2.0;
            if hi > MAX_SCALE {
                return Err(DpError(format!(
                    "epsilon {epsilon} and delta {delta} would need noise above {MAX_SCALE}"
                )));
            }
        }
        let mut lo = 0.0;
        for _ in 0..SCALE_STEPS {
            let mid = (lo + hi) / 2.0;
            if mid > 0.0 && fits(mid)?.is_some() {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let threshold = fits(hi)?.ok_or_else(|| DpError("calibration did not converge".into()))?;
        Ok(Calibration {
            epsilon,
            delta,
            value_cells,
            noise_scale: hi,
            threshold: threshold.max(k),
        })
    }

    /// What this calibration spends, per OpenDP's privacy maps: (epsilon at the configured
    /// delta, zero-concentrated rho, delta of the threshold). A test keeps it within the budget.
    pub fn spent(&self) -> Result<(f64, f64, f64), DpError> {
        let (rho, delta_threshold) = composed(self.noise_scale, self.threshold, self.value_cells)?;
        let epsilon = spent_epsilon(
            self.noise_scale,
            self.threshold,
            self.value_cells,
            self.delta,
        )?;
        Ok((epsilon, rho, delta_threshold))
    }

    /// The epsilon at total `delta` of `releases` releases of this calibration that one machine
    /// is in (composition: a machine reporting every day is in 365 daily and 12 monthly releases
    /// a year). zero-concentrated rho and the thresholds' deltas add up.
    pub fn epsilon_over(&self, releases: u32, delta: f64) -> Result<f64, DpError> {
        Calibration::epsilon_over_all(&[(self, releases)], delta)
    }

    /// The epsilon at total `delta` of releases of several calibrations one machine is in: for
    /// each, how many (a machine reporting in all three windows is in 365 daily, 52 weekly and 12
    /// monthly releases a year, the weekly ones with one cell more).
    pub fn epsilon_over_all(parts: &[(&Calibration, u32)], delta: f64) -> Result<f64, DpError> {
        let mut each = Vec::new();
        for (c, releases) in parts {
            let one = composed(c.noise_scale, c.threshold, c.value_cells)?;
            each.extend(std::iter::repeat_n(one, *releases as usize));
        }
        let all = Approximate::<ZeroConcentratedDivergence>::default().compose(each)?;
        if all.1 >= delta {
            return Ok(f64::INFINITY);
        }
        let profile = Approximate::<ZeroConcentratedDivergence>::convert(all)?;
        let (epsilon, _) =
            Approximate::<SmoothedMaxDivergence>::default().fix_delta(&profile, delta)?;
        Ok(epsilon)
    }

    /// Cells one report can change: its value cells, their `other`s and `reports`.
    pub fn cells_per_report(&self) -> u32 {
        2 * self.value_cells + 1
    }

    /// The noise scale as the exact rational the sampler takes.
    fn scale(&self) -> Result<RBig, DpError> {
        RBig::try_from(self.noise_scale).map_err(|e| DpError(format!("noise scale: {e:?}")))
    }
}

/// (rho, delta) of both mechanisms composed, from OpenDP's privacy maps.
fn composed(scale: f64, threshold: u64, value_cells: u32) -> Result<(f64, f64), DpError> {
    let values = make_gaussian_threshold::<_, _, Approximate<ZeroConcentratedDivergence>>(
        MapDomain::<AtomDomain<String>, AtomDomain<IBig>>::new(
            AtomDomain::default(),
            AtomDomain::default(),
        ),
        L02InfDistance::<AbsoluteDistance<RBig>>::default(),
        scale,
        IBig::from(threshold),
        None,
    )?;
    // l0 cells, each changed by at most 1: the map derives the L2 distance from them.
    let (rho_values, delta_threshold) =
        values.map(&(value_cells, RBig::from(value_cells), RBig::ONE))?;
    let totals = make_gaussian::<_, _, ZeroConcentratedDivergence>(
        VectorDomain::new(AtomDomain::<IBig>::default()),
        L2Distance::<RBig>::default(),
        scale,
        None,
    )?;
    let l2 = f64::from(value_cells + 1).inf_sqrt()?;
    let l2 = RBig::try_from(l2).map_err(|e| DpError(format!("sensitivity: {e:?}")))?;
    let rho_totals = totals.map(&l2)?;
    Ok(Approximate::<ZeroConcentratedDivergence>::default()
        .compose(vec![(rho_values, delta_threshold), (rho_totals, 0.0)])?)
}

/// The epsilon the composed release spends at total `delta`; infinite when the threshold alone
/// already uses all of delta.
fn spent_epsilon(scale: f64, threshold: u64, value_cells: u32, delta: f64) -> Result<f64, DpError> {
    let (rho, delta_threshold) = composed(scale, threshold, value_cells)?;
    if delta_threshold >= delta {
        return Ok(f64::INFINITY);
    }
    let profile = Approximate::<ZeroConcentratedDivergence>::convert((rho, delta_threshold))?;
    let (epsilon, _) =
        Approximate::<SmoothedMaxDivergence>::default().fix_delta(&profile, delta)?;
    Ok(epsilon)
}

/// The smallest threshold at which the chance of showing a cell only one report has is at most
/// `delta_threshold`.
fn smallest_threshold(scale: f64, value_cells: u32, delta_threshold: f64) -> Result<u64, DpError> {
    let ok = |t: u64| -> Result<bool, DpError> {
        Ok(composed(scale, t, value_cells)?.1 <= delta_threshold)
    };
    let mut hi: u64 = 2;
    while !ok(hi)? {
        hi = hi
            .checked_mul(2)
            .ok_or_else(|| DpError("no threshold is high enough".into()))?;
    }
    // The map refuses a threshold below the per-cell sensitivity (1).
    let mut lo: u64 = 1;
    if ok(lo)? {
        return Ok(lo);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if ok(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

/// The source of noise, injected so tests can replace it. Production uses [`OpenDpNoise`].
pub trait Noise: Send {
    /// One draw from the discrete Gaussian of scale `scale` centred on 0.
    fn sample(&mut self, scale: &RBig) -> Result<i64, DpError>;
}

/// OpenDP's exact discrete Gaussian sampler (Canonne, Kamath, Steinke 2020), fed by the
/// operating system's randomness through a ChaCha generator (`rand`'s thread generator).
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenDpNoise;

impl Noise for OpenDpNoise {
    fn sample(&mut self, scale: &RBig) -> Result<i64, DpError> {
        let x = opendp::traits::samplers::sample_discrete_gaussian(scale.clone())?;
        i64::try_from(x).map_err(|_| DpError("noise draw out of range".into()))
    }
}

/// One period's exact counters, as the release reads them: per field (or cross-tabulation, its
/// paths joined by `|`) the count of each value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exact {
    /// Reports counted in the period.
    pub reports: i64,
    /// Field -> value -> count.
    pub fields: BTreeMap<String, BTreeMap<String, i64>>,
    /// Field -> reports never shown on their own, whatever the noise: always in `other` (a
    /// cross-tabulation's combinations beyond the receiver's bound on distinct values).
    pub folded: BTreeMap<String, i64>,
}

/// The published counts of one field: values at or above the threshold, and the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldTable {
    /// Value -> noisy count, for values whose noisy count reached the threshold.
    pub values: BTreeMap<String, u64>,
    /// Noisy count of the reports whose value is not shown.
    pub other: u64,
}

/// A period's public table before it is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Noisy number of reports.
    pub reports: u64,
    /// Every published field, cross-tabulations included.
    pub fields: BTreeMap<String, FieldTable>,
}

/// Applies the mechanism to `exact`, publishing exactly the fields in `published` (every known
/// field and configured cross-tabulation, whether or not the period has data for it: which
/// fields appear must not depend on the data). Draws in a fixed order.
pub fn privatize(
    exact: &Exact,
    published: &[String],
    calibration: &Calibration,
    noise: &mut dyn Noise,
) -> Result<Table, DpError> {
    let scale = calibration.scale()?;
    let threshold = i64::try_from(calibration.threshold).unwrap_or(i64::MAX);
    let empty = BTreeMap::new();
    let mut fields = BTreeMap::new();
    for field in published {
        let mut table = FieldTable::default();
        let mut hidden: i64 = exact.folded.get(field).copied().unwrap_or(0);
        for (value, &count) in exact.fields.get(field).unwrap_or(&empty) {
            let noisy = count.saturating_add(noise.sample(&scale)?);
            if noisy >= threshold {
                table.values.insert(value.clone(), clamp(noisy));
            } else {
                hidden = hidden.saturating_add(count);
            }
        }
        table.other = clamp(hidden.saturating_add(noise.sample(&scale)?));
        fields.insert(field.clone(), table);
    }
    let reports = clamp(exact.reports.saturating_add(noise.sample(&scale)?));
    Ok(Table { reports, fields })
}

/// Counts are never negative; clamping is post-processing and costs no privacy.
fn clamp(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIVACY: Privacy = Privacy {
        epsilon: 1.0,
        delta: 1e-7,
    };

    #[test]
    fn calibration_spends_at_most_the_budget_and_is_tight() {
        let c = Calibration::new(PRIVACY, 10, 51).unwrap();
        let (epsilon, rho, delta_threshold) = c.spent().unwrap();
        assert!(epsilon <= 1.0, "{epsilon}");
        assert!(epsilon > 0.99, "{epsilon}: noise larger than needed");
        assert!(delta_threshold <= 0.5e-7, "{delta_threshold}");
        assert!(rho > 0.0);
        // A slightly smaller noise no longer fits.
        let smaller = c.noise_scale * 0.99;
        let t = smallest_threshold(smaller, 51, 0.5e-7).unwrap();
        assert!(spent_epsilon(smaller, t, 51, 1e-7).unwrap() > 1.0);
        // The threshold is where a single report's cell is unlikely to show, far above k here.
        assert!(c.threshold > 5 * c.noise_scale as u64, "{c:?}");
        assert_eq!(c.cells_per_report(), 103);
        // Composition: more releases, more epsilon; one release is the budget itself.
        let one = c.epsilon_over(1, 1e-7).unwrap();
        assert!((one - epsilon).abs() < 1e-9, "{one} {epsilon}");
        let year = c.epsilon_over(377, 1e-4).unwrap();
        assert!(year > 10.0 && year < 377.0, "{year}");
    }

    #[test]
    fn more_cells_or_less_budget_mean_more_noise_and_k_is_a_floor() {
        let base = Calibration::new(PRIVACY, 1, 10).unwrap();
        let more = Calibration::new(PRIVACY, 1, 40).unwrap();
        assert!(
            more.noise_scale > 1.9 * base.noise_scale,
            "{base:?} {more:?}"
        );
        let tight = Calibration::new(
            Privacy {
                epsilon: 0.5,
                delta: 1e-7,
            },
            1,
            10,
        )
        .unwrap();
        assert!(tight.noise_scale > 1.9 * base.noise_scale);
        let floor = Calibration::new(
            Privacy {
                epsilon: 50.0,
                delta: 1e-3,
            },
            1000,
            10,
        )
        .unwrap();
        assert_eq!(floor.threshold, 1000);
        assert!(
            Calibration::new(
                Privacy {
                    epsilon: 0.0,
                    delta: 1e-7
                },
                1,
                10
            )
            .is_err()
        );
    }

    /// Noise that adds a fixed amount: the mechanism's bookkeeping, without randomness.
    struct Fixed(i64);
    impl Noise for Fixed {
        fn sample(&mut self, _: &RBig) -> Result<i64, DpError> {
            Ok(self.0)
        }
    }

    #[test]
    fn cells_below_the_threshold_fold_into_other_and_every_field_is_published() {
        let c = Calibration {
            epsilon: 1.0,
            delta: 1e-7,
            value_cells: 3,
            noise_scale: 10.0,
            threshold: 100,
        };
        let mut exact = Exact {
            reports: 500,
            ..Exact::default()
        };
        exact.fields.insert(
            "arch".into(),
            [
                ("x86_64".into(), 400),
                ("aarch64".into(), 95),
                ("s390x".into(), 5),
            ]
            .into(),
        );
        exact
            .fields
            .insert("not.published".into(), [("x".into(), 500)].into());
        let published = vec!["arch".to_owned(), "hardware.cpus".to_owned()];
        let t = privatize(&exact, &published, &c, &mut Fixed(4)).unwrap();
        assert_eq!(t.reports, 504);
        assert_eq!(t.fields.len(), 2);
        // 95 + 4 is below 100: folded with s390x into other (100 exact, plus noise).
        assert_eq!(t.fields["arch"].values, [("x86_64".to_owned(), 404)].into());
        assert_eq!(t.fields["arch"].other, 104);
        assert_eq!(
            t.fields["hardware.cpus"],
            FieldTable {
                values: [].into(),
                other: 4
            }
        );
        // Negative noisy totals are shown as 0.
        let t = privatize(&Exact::default(), &published, &c, &mut Fixed(-7)).unwrap();
        assert_eq!((t.reports, t.fields["arch"].other), (0, 0));
    }

    #[test]
    fn opendp_noise_is_centred_with_the_calibrated_spread() {
        let scale = RBig::try_from(20.0).unwrap();
        let n = 20_000;
        let draws: Vec<i64> = (0..n)
            .map(|_| OpenDpNoise.sample(&scale).unwrap())
            .collect();
        let mean = draws.iter().sum::<i64>() as f64 / n as f64;
        let var = draws
            .iter()
            .map(|x| (*x as f64 - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        // Standard error of the mean is 20/sqrt(20000) = 0.14; of the variance about 1%.
        assert!(mean.abs() < 1.0, "{mean}");
        assert!((var / 400.0 - 1.0).abs() < 0.06, "{var}");
    }
}
