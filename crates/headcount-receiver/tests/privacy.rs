//! The release mechanism under attack, with its real calibration and OpenDP's real noise.
//!
//! Each attack tried against the old k-anonymous view is replayed as a hypothesis test: two
//! worlds differ by one hidden machine, the attacker's rule guesses from one release which world
//! it sees, thousands of times each. Differential privacy bounds the accuracy of any such guess by
//! e^epsilon / (1 + e^epsilon) + delta (73 % at the default epsilon 1); each rule is also run on
//! exact counts, where it wins every time, so the test can tell a broken mechanism from a sound
//! one. Polling the open period is the fifth attack; tests/releases.rs plays it with a clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use headcount_receiver::Settings;
use headcount_receiver::dp::{Calibration, DpError, Exact, Noise, OpenDpNoise, Table, privatize};
use headcount_receiver::release::{calibrate, published_fields};
use headcount_report::Window;

/// Releases per world: the accuracy is then known to about ±2 % (4 standard errors).
const TRIALS: usize = 3000;

struct Fixed(i64);
impl Noise for Fixed {
    fn sample(&mut self, _: &dashu::rational::RBig) -> Result<i64, DpError> {
        Ok(self.0)
    }
}

fn settings() -> Settings {
    Settings {
        k: 3,
        crosstabs: vec![vec!["os.version_id".into(), "arch".into()]],
        ..Settings::default()
    }
}

fn exact(reports: i64, cells: &[(&str, &str, i64)]) -> Exact {
    let mut fields: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for (f, v, n) in cells {
        fields
            .entry((*f).to_owned())
            .or_default()
            .insert((*v).to_owned(), *n);
    }
    Exact {
        reports,
        fields,
        ..Exact::default()
    }
}

fn shown(t: &Table, field: &str, value: &str) -> i64 {
    t.fields[field].values.get(value).map_or(0, |n| *n as i64)
}

/// The attacker's accuracy over both worlds (half its guesses in each), with `noise`.
fn accuracy(
    c: &Calibration,
    with: &Exact,
    without: &Exact,
    published: &[&str],
    guess_present: impl Fn(&Table) -> bool,
    noise: &mut dyn Noise,
    trials: usize,
) -> f64 {
    let published: Vec<String> = published.iter().map(|s| (*s).to_owned()).collect();
    let mut right = 0;
    for _ in 0..trials {
        if guess_present(&privatize(with, &published, c, noise).unwrap()) {
            right += 1;
        }
        if !guess_present(&privatize(without, &published, c, noise).unwrap()) {
            right += 1;
        }
    }
    right as f64 / (2 * trials) as f64
}

/// Runs one attack: perfect on exact counts, within the DP bound on released ones.
fn attack(
    name: &str,
    with: Exact,
    without: Exact,
    changed: usize,
    published: &[&str],
    guess_present: impl Fn(&Table) -> bool + Copy,
) {
    attack_worlds(
        name,
        (&with, &without),
        (&with, &without),
        changed,
        published,
        guess_present,
    );
}

/// [`attack`] where the attacker's worlds differ between the exact view and the released one.
fn attack_worlds(
    name: &str,
    (exact_with, exact_without): (&Exact, &Exact),
    (with, without): (&Exact, &Exact),
    changed: usize,
    published: &[&str],
    guess_present: impl Fn(&Table) -> bool + Copy,
) {
    let s = settings();
    let c = calibrate(&s, Window::Daily).unwrap();
    // Exact counts (no noise, values shown from k): the attack recovers the machine every time.
    let exact_view = Calibration {
        threshold: s.k,
        ..c.clone()
    };
    let control = accuracy(
        &exact_view,
        exact_with,
        exact_without,
        published,
        guess_present,
        &mut Fixed(0),
        1,
    );
    assert_eq!(
        control, 1.0,
        "{name}: the attack does not work on exact counts"
    );
    let e = c.epsilon.exp();
    let bound = e / (1.0 + e) + c.delta;
    let got = accuracy(
        &c,
        with,
        without,
        published,
        guess_present,
        &mut OpenDpNoise,
        TRIALS,
    );
    // The standard error of the measured accuracy is 0.65 % at 3000 trials per world.
    const SLACK: f64 = 0.03;
    assert!(
        got <= bound + SLACK,
        "{name}: accuracy {got} above the bound {bound}"
    );
    // Sharper, for this attack: the worlds differ by 1 in `changed` cells, and Gaussian noise of
    // scale sigma shifted by a vector of length d lets a guess be right at most
    // 1/2 + d / (2 sigma sqrt(2 pi)) of the time (plus delta for a threshold crossed).
    let d = (changed as f64).sqrt();
    let sharp = 0.5 + d / (2.0 * c.noise_scale * (2.0 * std::f64::consts::PI).sqrt()) + c.delta;
    assert!(
        got <= sharp + SLACK,
        "{name}: accuracy {got} above {sharp} for a shift in {changed} cells"
    );
    eprintln!(
        "{name}: accuracy {got:.3} (exact counts 1.0, DP bound {bound:.3}, noise {sharp:.3})"
    );
}

/// `os.version_id` 43 = 1000 and (43, x86_64) = 999 revealed (43, aarch64) = 1.
#[test]
fn a_field_total_minus_a_crosstab_row() {
    attack(
        "total minus row",
        exact(
            1000,
            &[
                ("os.version_id", "43", 1000),
                ("arch", "x86_64", 999),
                ("arch", "aarch64", 1),
                ("os.version_id|arch", "43|x86_64", 999),
                ("os.version_id|arch", "43|aarch64", 1),
            ],
        ),
        exact(
            999,
            &[
                ("os.version_id", "43", 999),
                ("arch", "x86_64", 999),
                ("os.version_id|arch", "43|x86_64", 999),
            ],
        ),
        3,
        &["os.version_id", "os.version_id|arch"],
        |t| shown(t, "os.version_id", "43") - shown(t, "os.version_id|arch", "43|x86_64") >= 1,
    );
}

/// `other` = 1 said that exactly one machine is rare.
#[test]
fn other_of_one() {
    attack(
        "other of one",
        exact(1001, &[("arch", "x86_64", 1000), ("arch", "s390x", 1)]),
        exact(1000, &[("arch", "x86_64", 1000)]),
        2,
        &["arch"],
        |t| t.fields["arch"].other >= 1,
    );
}

/// `reports` minus a field's total revealed the machines that lack the field.
#[test]
fn reports_minus_a_field_total() {
    attack(
        "reports minus field",
        exact(1001, &[("platform.instance_type", "m5.large", 1000)]),
        exact(1000, &[("platform.instance_type", "m5.large", 1000)]),
        1,
        &["platform.instance_type"],
        |t| t.reports as i64 - shown(t, "platform.instance_type", "m5.large") >= 1,
    );
}

/// Anyone may post: threshold - 1 fake reports of a guessed value make it visible exactly when
/// one real machine has it too.
#[test]
fn fake_reports_for_a_guessed_value() {
    let c = calibrate(&settings(), Window::Daily).unwrap();
    let fakes = c.threshold as i64 - 1;
    // On exact counts the old rule showed values from k on, so the attacker posted k - 1.
    let k = settings().k as i64;
    attack_worlds(
        "fake reports",
        (
            &exact(k, &[("arch", "riscv64", k)]),
            &exact(k - 1, &[("arch", "riscv64", k - 1)]),
        ),
        (
            &exact(fakes + 1, &[("arch", "riscv64", fakes + 1)]),
            &exact(fakes, &[("arch", "riscv64", fakes)]),
        ),
        1,
        &["arch"],
        |t| t.fields["arch"].values.contains_key("riscv64"),
    );
}

/// OpenDP's draws at the calibrated scale have the discrete Gaussian's mean, spread and shape,
/// and differ from one draw to the next.
#[test]
fn the_noise_is_the_calibrated_gaussian() {
    let c = calibrate(&settings(), Window::Daily).unwrap();
    let sigma = c.noise_scale;
    let scale = dashu::rational::RBig::try_from(sigma).unwrap();
    let n = 40_000;
    let draws: Vec<i64> = (0..n)
        .map(|_| OpenDpNoise.sample(&scale).unwrap())
        .collect();
    let mean = draws.iter().sum::<i64>() as f64 / n as f64;
    let var = draws
        .iter()
        .map(|x| (*x as f64 - mean).powi(2))
        .sum::<f64>()
        / n as f64;
    let within = |k: f64| {
        draws
            .iter()
            .filter(|x| (**x as f64).abs() <= k * sigma)
            .count() as f64
            / n as f64
    };
    let positive = draws.iter().filter(|x| **x > 0).count() as f64 / n as f64;
    let negative = draws.iter().filter(|x| **x < 0).count() as f64 / n as f64;
    // Standard errors at 40,000 draws: mean sigma/200, variance 0.7 %, proportions 0.25 %.
    assert!(mean.abs() < 5.0 * sigma / 200.0, "mean {mean}");
    assert!(
        (var / (sigma * sigma) - 1.0).abs() < 0.04,
        "variance {var} for sigma {sigma}"
    );
    assert!((within(1.0) - 0.6827).abs() < 0.012, "{}", within(1.0));
    assert!((within(2.0) - 0.9545).abs() < 0.007, "{}", within(2.0));
    assert!((within(3.0) - 0.9973).abs() < 0.002, "{}", within(3.0));
    assert!((positive - negative).abs() < 0.02, "{positive} {negative}");
    let distinct: std::collections::BTreeSet<i64> = draws.iter().copied().collect();
    assert!(distinct.len() > 100);
}

/// A year of a million machines: version 44 rolls out from nothing to 60 %. Every released count
/// is within 6 noise scales of the exact one (privacy.md's stated error), and the daily share
/// read from the releases is within 0.1 percentage point of the truth.
#[test]
fn a_year_of_a_million_machines_reads_right() {
    let s = settings();
    let c = calibrate(&s, Window::Daily).unwrap();
    let published = published_fields(&s, Window::Daily);
    let mut worst: f64 = 0.0;
    for day in 0..365i64 {
        let reports = 1_000_000 + (day % 7) * 10_000;
        let v44 = reports * 6 * day / 10 / 364;
        let aarch64 = reports / 5;
        let e = exact(
            reports,
            &[
                ("level", "minimal", reports),
                ("os.version_id", "43", reports - v44),
                ("os.version_id", "44", v44),
                ("arch", "x86_64", reports - aarch64),
                ("arch", "aarch64", aarch64),
            ],
        );
        let t = privatize(&e, &published, &c, &mut OpenDpNoise).unwrap();
        let mut check = |got: u64, exact: i64| {
            let err = (got as f64 - exact as f64).abs() / c.noise_scale;
            worst = worst.max(err);
            assert!(err <= 6.0, "day {day}: {got} for {exact}");
        };
        check(t.reports, reports);
        check(shown(&t, "level", "minimal") as u64, reports);
        check(shown(&t, "arch", "x86_64") as u64, reports - aarch64);
        check(shown(&t, "arch", "aarch64") as u64, aarch64);
        check(shown(&t, "os.version_id", "43") as u64, reports - v44);
        if v44 >= c.threshold as i64 * 2 {
            check(shown(&t, "os.version_id", "44") as u64, v44);
            let share = shown(&t, "os.version_id", "44") as f64 / t.reports as f64;
            let truth = v44 as f64 / reports as f64;
            assert!(
                (share - truth).abs() < 0.001,
                "day {day}: {share} for {truth}"
            );
        }
    }
    eprintln!(
        "largest error {worst:.2} noise scales (sigma {})",
        c.noise_scale
    );
}
