//! The bound on distinct values kept per field and period: a field's first `max_values` distinct
//! values of a period keep a counter each; any further value is counted as [`OTHER`]. Valid
//! reports with ever-new open values (versions, builds, instance types) would otherwise add
//! counters without end: 40,000 such reports made 240,000 counters, and every read of the period
//! grew with them. The same bound applies to each cross-tabulation's combinations.
//!
//! The writer applies it to each batch before the commit. What the store already counts decides:
//! values seen before are looked up once and then remembered, so a steady stream of known values
//! costs no query. With several receivers sharing one PostgreSQL database, each checks the
//! database before admitting a new value, so they overshoot the bound together by at most the
//! values they admit in the same instant.

use std::collections::{HashMap, HashSet};

use headcount_report::{Period, Window};

use crate::fields::Key;

/// The value counted in place of values beyond the bound. It is also what the daemon sends for
/// a value that fails its shape rule: in both cases a value not shown on its own. It never takes
/// a place under the bound.
pub const OTHER: &str = "other";

/// A question to the store about one field of one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The window.
    pub window: Window,
    /// The period.
    pub period: Period,
    /// The field path (or cross-tabulation) as stored.
    pub field: String,
    /// Values this bound has not seen counted yet.
    pub values: Vec<String>,
}

/// The store's answer to an [`Ask`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Existing {
    /// Distinct values the field has in that period, [`OTHER`] not included.
    pub distinct: u64,
    /// Those of the asked values that already have a counter.
    pub present: Vec<String>,
}

/// Increments of one batch, sorted by key (as the writer commits them).
pub type Sums = Vec<(Key, i64)>;

/// Values known to have (or to be given) a counter, per (window, period), then per field.
type Kept = HashMap<(Window, Period), HashMap<String, HashSet<String>>>;

/// Applies the bound to batches, remembering which values are kept.
#[derive(Debug)]
pub struct Bound {
    max: u64,
    kept: Kept,
    /// Increments of the last applied batch counted as [`OTHER`], per field.
    folded: HashMap<String, u64>,
}

impl Bound {
    /// A bound of `max` distinct values per field and period.
    pub fn new(max: u32) -> Bound {
        Bound {
            max: u64::from(max),
            kept: HashMap::new(),
            folded: HashMap::new(),
        }
    }

    fn is_kept(&self, k: &Key) -> bool {
        k.value == OTHER
            || self
                .kept
                .get(&(k.window, k.period))
                .and_then(|fields| fields.get(&*k.field))
                .is_some_and(|values| values.contains(&k.value))
    }

    /// What the store must be asked before `sums` can be counted: per field, the values this
    /// bound does not know yet. Empty in the steady state.
    pub fn asks(&self, sums: &[(Key, i64)]) -> Vec<Ask> {
        let mut asks: Vec<Ask> = Vec::new();
        for (k, _) in sums.iter().filter(|(k, _)| !self.is_kept(k)) {
            match asks.last_mut() {
                Some(a) if a.window == k.window && a.period == k.period && a.field == k.field => {
                    a.values.push(k.value.clone());
                }
                _ => asks.push(Ask {
                    window: k.window,
                    period: k.period,
                    field: k.field.to_string(),
                    values: vec![k.value.clone()],
                }),
            }
        }
        asks
    }

    /// Takes the store's `answers` to `asks`, admits new values while there is room, and
    /// counts every other new value as [`OTHER`]. Returns the batch to commit, sorted.
    pub fn apply(&mut self, sums: Sums, asks: Vec<Ask>, answers: Vec<Existing>) -> Sums {
        self.forget_old_periods(&sums);
        for (ask, answer) in asks.into_iter().zip(answers) {
            let kept = self
                .kept
                .entry((ask.window, ask.period))
                .or_default()
                .entry(ask.field)
                .or_default();
            kept.extend(answer.present);
            let mut room = self.max.saturating_sub(answer.distinct);
            for value in ask.values {
                if room > 0 && !kept.contains(&value) {
                    room -= 1;
                    kept.insert(value);
                }
            }
        }
        let mut folded = false;
        self.folded.clear();
        let mut out: Sums = Vec::with_capacity(sums.len());
        for (mut k, n) in sums {
            if !self.is_kept(&k) {
                k.value = OTHER.to_owned();
                folded = true;
                *self.folded.entry(k.field.to_string()).or_default() +=
                    u64::try_from(n).unwrap_or(0);
            }
            out.push((k, n));
        }
        if folded {
            // Values folded into OTHER now share its key, maybe with a literal "other".
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out.dedup_by(|later, first| {
                let same = later.0 == first.0;
                if same {
                    first.1 += later.1;
                }
                same
            });
        }
        out
    }

    /// Forgets what is kept, after a commit failed: what was admitted may not be stored.
    pub fn forget(&mut self) {
        self.kept.clear();
        self.folded.clear();
    }

    /// Per field, the increments of the last applied batch that were counted as [`OTHER`]
    /// (for the metrics, once that batch is committed).
    pub fn take_folded(&mut self) -> HashMap<String, u64> {
        std::mem::take(&mut self.folded)
    }

    /// Reports only ever arrive for the receiver's previous, current or next period, so a
    /// window's periods two before the newest in a batch will not be asked about again.
    fn forget_old_periods(&mut self, sums: &[(Key, i64)]) {
        let mut newest: HashMap<Window, Period> = HashMap::new();
        for (k, _) in sums {
            let n = newest.entry(k.window).or_insert(k.period);
            if k.period > *n {
                *n = k.period;
            }
        }
        self.kept.retain(|(window, period), _| {
            newest
                .get(window)
                .is_none_or(|n| *period >= n.prev().prev())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(period: &str, field: &str, value: &str) -> Key {
        let period: Period = period.parse().unwrap();
        Key {
            window: period.window(),
            period,
            field: field.to_owned().into(),
            value: value.into(),
        }
    }

    fn batch(keys: &[(&str, &str, &str, i64)]) -> Sums {
        let mut s: Sums = keys.iter().map(|(p, f, v, n)| (key(p, f, v), *n)).collect();
        s.sort_by(|a, b| a.0.cmp(&b.0));
        s
    }

    /// A store of counters in memory, answering asks as the SQL does.
    #[derive(Default)]
    struct Store(HashMap<Key, i64>);

    impl Store {
        fn answer(&self, asks: &[Ask]) -> Vec<Existing> {
            asks.iter()
                .map(|a| {
                    let group: Vec<&Key> = self
                        .0
                        .keys()
                        .filter(|k| {
                            k.window == a.window && k.period == a.period && k.field == a.field
                        })
                        .collect();
                    Existing {
                        distinct: group.iter().filter(|k| k.value != OTHER).count() as u64,
                        present: a
                            .values
                            .iter()
                            .filter(|v| group.iter().any(|k| &&k.value == v))
                            .cloned()
                            .collect(),
                    }
                })
                .collect()
        }

        /// One writer round: ask, apply, commit. Returns the asks made.
        fn count(&mut self, bound: &mut Bound, sums: Sums) -> usize {
            let asks = bound.asks(&sums);
            let n = asks.len();
            let answers = self.answer(&asks);
            for (k, c) in bound.apply(sums, asks, answers) {
                *self.0.entry(k).or_default() += c;
            }
            n
        }

        fn values(&self, field: &str) -> Vec<(String, i64)> {
            let mut v: Vec<_> = self
                .0
                .iter()
                .filter(|(k, _)| k.field == field)
                .map(|(k, n)| (k.value.clone(), *n))
                .collect();
            v.sort();
            v
        }
    }

    #[test]
    fn values_beyond_the_bound_are_other_and_kept_ones_stay() {
        let mut store = Store::default();
        let mut bound = Bound::new(3);
        // Five new values in one batch: the first three (in key order) keep a counter.
        store.count(
            &mut bound,
            batch(&[
                ("2026-11-23", "os.build", "a", 1),
                ("2026-11-23", "os.build", "b", 2),
                ("2026-11-23", "os.build", "c", 1),
                ("2026-11-23", "os.build", "d", 1),
                ("2026-11-23", "os.build", "e", 4),
                ("2026-11-23", "arch", "x86_64", 9),
            ]),
        );
        assert_eq!(
            store.values("os.build"),
            [
                ("a".into(), 1),
                ("b".into(), 2),
                ("c".into(), 1),
                ("other".into(), 5)
            ]
        );
        assert_eq!(bound.take_folded(), HashMap::from([("os.build".into(), 5)]));
        assert!(bound.take_folded().is_empty());
        // A kept value is still counted as itself; a literal "other" joins the folded ones and
        // takes no place; another field has its own room.
        store.count(
            &mut bound,
            batch(&[
                ("2026-11-23", "os.build", "b", 1),
                ("2026-11-23", "os.build", "f", 1),
                ("2026-11-23", "os.build", "other", 1),
                ("2026-11-23", "arch", "aarch64", 1),
            ]),
        );
        assert_eq!(
            store.values("os.build"),
            [
                ("a".into(), 1),
                ("b".into(), 3),
                ("c".into(), 1),
                ("other".into(), 7)
            ]
        );
        assert_eq!(store.values("arch").len(), 2);
        // Another period starts empty.
        store.count(&mut bound, batch(&[("2026-11-24", "os.build", "z", 1)]));
        assert!(store.0.contains_key(&key("2026-11-24", "os.build", "z")));
    }

    #[test]
    fn known_values_cost_no_query_and_a_restart_asks_the_store() {
        let mut store = Store::default();
        let mut bound = Bound::new(2);
        let b = || {
            batch(&[
                ("2026-11", "os.build", "a", 1),
                ("2026-11", "os.build", "b", 1),
            ])
        };
        assert_eq!(store.count(&mut bound, b()), 1);
        assert_eq!(
            store.count(&mut bound, b()),
            0,
            "known values were asked again"
        );
        // A new receiver (or one restarted) knows nothing, but the store does: "a" and "b" stay,
        // a third value is other.
        let mut fresh = Bound::new(2);
        store.count(
            &mut fresh,
            batch(&[
                ("2026-11", "os.build", "a", 1),
                ("2026-11", "os.build", "c", 1),
            ]),
        );
        assert_eq!(
            store.values("os.build"),
            [("a".into(), 3), ("b".into(), 2), ("other".into(), 1)]
        );
        // After a failed commit nothing is assumed.
        bound.forget();
        assert_eq!(store.count(&mut bound, b()), 1);
    }

    #[test]
    fn many_distinct_values_stop_growing_the_counters() {
        let mut store = Store::default();
        let mut bound = Bound::new(50);
        for round in 0..40 {
            let keys: Vec<(String, i64)> = (0..25).map(|i| (format!("v{round}-{i}"), 1)).collect();
            let sums = batch(
                &keys
                    .iter()
                    .map(|(v, n)| ("2026-11-23", "platform.instance_type", v.as_str(), *n))
                    .collect::<Vec<_>>(),
            );
            store.count(&mut bound, sums);
        }
        let values = store.values("platform.instance_type");
        assert_eq!(values.len(), 51, "50 values and other");
        assert_eq!(values.iter().map(|(_, n)| n).sum::<i64>(), 1000);
        assert_eq!(values.iter().find(|(v, _)| v == OTHER).unwrap().1, 950);
    }

    #[test]
    fn old_periods_are_forgotten() {
        let mut bound = Bound::new(5);
        for day in ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"] {
            let sums = batch(&[(day, "arch", "x86_64", 1), ("2026-11", "arch", "x86_64", 1)]);
            let asks = bound.asks(&sums);
            let answers = vec![Existing::default(); asks.len()];
            bound.apply(sums, asks, answers);
        }
        let mut periods: Vec<String> = bound.kept.keys().map(|(_, p)| p.to_string()).collect();
        periods.sort();
        assert_eq!(
            periods,
            ["2026-11", "2026-11-21", "2026-11-22", "2026-11-23"]
        );
    }
}
