//! When to send what: a pure decision function over (state, now, timing, random source).
//!
//! Nothing here touches the world. The daemon loop asks [`Schedule::decide`] what to do, does
//! it (send, or sleep on a wall-clock timer), reports the answer back with
//! [`Schedule::record`], and asks again. A year of simulated time runs in milliseconds in the
//! tests below.
//!
//! Rules (docs/usage/daemon.md explains them to operators):
//! - Periods are absolute UTC days, countme weeks and months, of the configured windows only. A
//!   period is sent only if it is later than the period recorded as settled in the state, so a
//!   clock set backwards never sends twice.
//! - Nothing is sent while the clock is implausible, i.e. earlier than [`plausible_from`]
//!   (the build date).
//! - After start, each window that has an unsettled period waits a uniform random delay up to
//!   `max_startup_delay`; when a period rolls over while the daemon runs, a uniform random delay
//!   up to `max_rollover_delay` after the period start (capped below the period length).
//! - A failed attempt is retried after a full-jitter exponential backoff (about a minute,
//!   doubling, capped at an hour), never earlier than the receiver's `Retry-After`, until the
//!   period ends. Then the next period takes over.
//! - A state recorded in the future (see [`reconcile_future`]) is honoured up to
//!   [`FUTURE_STATE_HORIZON`] ahead of the clock; further ahead it is reset to the current
//!   period, so a clock that once jumped years ahead cannot silence the daemon for years.

mod backoff;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use headcount_report::{Period, Window};
use rand::Rng;

pub use backoff::{BACKOFF_BASE, BACKOFF_CAP, MIN_RETRY_DELAY, backoff_delay};

use crate::state::State;
use crate::windows::Windows;

/// The earliest wall-clock time the daemon believes: the build date.
///
/// A compile-time `SOURCE_DATE_EPOCH` (set by reproducible package builds) raises it; without
/// one it is [`PLAUSIBLE_FLOOR`], a date bumped with each release.
pub fn plausible_from() -> DateTime<Utc> {
    let floor = DateTime::parse_from_rfc3339(PLAUSIBLE_FLOOR)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(DateTime::UNIX_EPOCH);
    let built = option_env!("SOURCE_DATE_EPOCH")
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|secs| DateTime::from_timestamp(secs, 0));
    built.map_or(floor, |b| b.max(floor))
}

/// The release date of this source: a clock earlier than this is wrong (a machine without an
/// RTC before NTP answers), and nothing is sent until it is corrected.
pub const PLAUSIBLE_FLOOR: &str = "2026-11-01T00:00:00Z";

/// How far ahead of the clock a recorded period is still believed (see [`reconcile_future`]).
///
/// Longer than a month, so that a short forward jump of the clock (days, weeks) followed by
/// a correction never sends a period twice; short enough that a clock that once jumped years
/// ahead does not silence the machine for years.
pub const FUTURE_STATE_HORIZON: TimeDelta = TimeDelta::days(40);

/// How long to sleep when no window is configured: long, and finite for the timer.
const NOTHING_DUE_SLEEP: TimeDelta = TimeDelta::days(1);

/// What the configuration says about when to report: the windows, and the two delays that
/// spread a fleet's reports over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The windows reported in.
    pub windows: Windows,
    /// Upper bound of the uniform random delay after the daemon starts.
    pub max_startup_delay: Duration,
    /// Upper bound of the uniform random delay after a period rolls over while running.
    pub max_rollover_delay: Duration,
}

impl From<&crate::config::Settings> for Timing {
    fn from(settings: &crate::config::Settings) -> Timing {
        Timing {
            windows: settings.windows,
            max_startup_delay: settings.max_startup_delay,
            max_rollover_delay: settings.max_rollover_delay,
        }
    }
}

/// What the daemon should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send the report of `window` for `period` now, then call [`Schedule::record`].
    Send {
        /// The window to report.
        window: Window,
        /// The period to report (the one containing now).
        period: Period,
    },
    /// Nothing is due before this wall-clock instant; sleep until then (or a clock change).
    Sleep {
        /// The wall-clock instant to wake at.
        until: DateTime<Utc>,
    },
}

/// How a send ended, as far as the schedule cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered 2xx: the period is settled.
    Accepted,
    /// The receiver refused the report for good (a 4xx that is not retried): settled too.
    Refused,
    /// Anything else: try again later in the same period.
    Failed {
        /// What went wrong, in words, for the status line.
        reason: String,
        /// The receiver's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
}

/// The plan for one window: which period is targeted and when it is due. In memory only.
#[derive(Debug, Clone, Default)]
struct Plan {
    target: Option<Period>,
    due: Option<DateTime<Utc>>,
    attempts: u32,
    last_failure: Option<String>,
    warned_for: Option<Period>,
}

/// The schedule's memory between decisions (random draws, retry counts). Lost on restart, by
/// design: a restart draws a new startup delay.
#[derive(Debug, Clone)]
pub struct Schedule {
    plausible_from: DateTime<Utc>,
    /// The first plausible instant the daemon saw: the startup delay counts from here.
    anchor: Option<DateTime<Utc>>,
    plans: [Plan; Window::ALL.len()],
}

/// What [`Schedule::record`] tells the caller to do besides updating the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The period is settled: write it to the state file.
    pub settle: bool,
    /// First failure of this window in this period: log one warning (later ones at debug).
    pub warn: bool,
}

fn index(window: Window) -> usize {
    match window {
        Window::Daily => 0,
        Window::Weekly => 1,
        Window::Monthly => 2,
    }
}

/// A uniformly random duration in `[0, max]`, at millisecond resolution.
pub(crate) fn uniform<R: Rng + ?Sized>(rng: &mut R, max: Duration) -> TimeDelta {
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    let ms = if max_ms == 0 {
        0
    } else {
        rng.random_range(0..=max_ms)
    };
    TimeDelta::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// The random delay after `period` starts, capped below half the period so that a retry fits.
fn rollover_due<R: Rng + ?Sized>(rng: &mut R, timing: &Timing, period: Period) -> DateTime<Utc> {
    let half = (period.end() - period.start()) / 2;
    let max = timing
        .max_rollover_delay
        .min(half.to_std().unwrap_or(Duration::ZERO));
    period.start() + uniform(rng, max)
}

/// Applies the future-state rule. Returns a corrected state when some window's recorded
/// period starts more than [`FUTURE_STATE_HORIZON`] after `now`: that record is replaced by
/// the current period (treated as settled, since it may have been sent before the jump), so
/// reports resume with the next period. Closer future records are honoured as they are: the
/// clock will reach them, and sending before then could count the machine twice.
pub fn reconcile_future(state: &State, now: DateTime<Utc>) -> Option<State> {
    let mut fixed = state.clone();
    let mut changed = false;
    for window in Window::ALL {
        if let Some(recorded) = state.get(window)
            && recorded.start() > now + FUTURE_STATE_HORIZON
        {
            fixed.set(window, Period::containing(window, now));
            changed = true;
        }
    }
    changed.then_some(fixed)
}

/// Whether the period of `window` containing `now` is settled in `state`.
fn settled(state: &State, window: Window, now: DateTime<Utc>) -> bool {
    state
        .get(window)
        .is_some_and(|last| last >= Period::containing(window, now))
}

/// The next report of one window, as far as it is known before the random draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    /// The period reported next.
    pub period: Period,
    /// The earliest instant it may be sent.
    pub earliest: DateTime<Utc>,
    /// The upper bound of the random delay added to `earliest`.
    pub max_delay: Duration,
}

/// What a daemon starting at `now` with the settled `state` would report next in `window`,
/// after the future-state rule; for `headcount status`. A state a little ahead of the clock is
/// honoured: nothing is sent until the clock passes it.
pub fn next(state: &State, window: Window, now: DateTime<Utc>, timing: &Timing) -> Next {
    let reconciled = reconcile_future(state, now);
    let state = reconciled.as_ref().unwrap_or(state);
    let current = Period::containing(window, now);
    if !settled(state, window, now) {
        return Next {
            period: current,
            earliest: now,
            max_delay: timing.max_startup_delay,
        };
    }
    let period = state
        .get(window)
        .map_or(current.next(), |last| last.next().max(current.next()));
    Next {
        period,
        earliest: period.start(),
        max_delay: timing.max_rollover_delay,
    }
}

impl Schedule {
    /// A fresh schedule, as at daemon start. `plausible_from` is usually [`plausible_from()`].
    pub fn new(plausible_from: DateTime<Utc>) -> Schedule {
        Schedule {
            plausible_from,
            anchor: None,
            plans: Default::default(),
        }
    }

    /// The earliest wall-clock time this schedule believes.
    pub fn plausible_from(&self) -> DateTime<Utc> {
        self.plausible_from
    }

    /// Whether the clock reading `now` is believed: nothing is sent, and no state is judged
    /// against it, while it is not.
    pub fn plausible(&self, now: DateTime<Utc>) -> bool {
        now >= self.plausible_from
    }

    /// The next thing to do, given the settled `state` and the wall clock `now`.
    ///
    /// Pure apart from `self` (the random draws are remembered so that asking again gives the
    /// same answer). Sends come one at a time; after each, call [`Schedule::record`].
    pub fn decide<R: Rng + ?Sized>(
        &mut self,
        state: &State,
        now: DateTime<Utc>,
        timing: &Timing,
        rng: &mut R,
    ) -> Action {
        if !self.plausible(now) {
            return Action::Sleep {
                until: self.plausible_from,
            };
        }
        let anchor = *self.anchor.get_or_insert(now);
        let mut wake: Option<DateTime<Utc>> = None;
        for window in timing.windows.iter() {
            let plan = &mut self.plans[index(window)];
            let current = Period::containing(window, now);
            let settled = settled(state, window, now);
            let target = if settled { current.next() } else { current };
            if plan.target != Some(target) {
                let due = if plan.target.is_none() && !settled {
                    anchor + uniform(rng, timing.max_startup_delay)
                } else {
                    rollover_due(rng, timing, target)
                };
                *plan = Plan {
                    target: Some(target),
                    due: Some(due),
                    attempts: 0,
                    last_failure: None,
                    warned_for: plan.warned_for,
                };
            }
            let due = plan.due.unwrap_or(now);
            if !settled && due <= now {
                return Action::Send {
                    window,
                    period: target,
                };
            }
            // A due time past the period's end means this period is given up: wake at its end,
            // when the next period becomes the target.
            let at = if settled { due } else { due.min(target.end()) };
            wake = Some(wake.map_or(at, |w| w.min(at)));
        }
        // No window at all (the configuration refuses that): nothing is ever due.
        Action::Sleep {
            until: wake.unwrap_or(now + NOTHING_DUE_SLEEP),
        }
    }

    /// Takes note of how sending `period` of `window` ended at `now`.
    pub fn record<R: Rng + ?Sized>(
        &mut self,
        window: Window,
        period: Period,
        outcome: &Outcome,
        now: DateTime<Utc>,
        rng: &mut R,
    ) -> Recorded {
        let plan = &mut self.plans[index(window)];
        match outcome {
            Outcome::Accepted | Outcome::Refused => {
                plan.attempts = 0;
                plan.last_failure = None;
                Recorded {
                    settle: true,
                    warn: false,
                }
            }
            Outcome::Failed {
                reason,
                retry_after,
            } => {
                plan.attempts = plan.attempts.saturating_add(1);
                let delay = backoff_delay(rng, plan.attempts, *retry_after);
                plan.target = Some(period);
                plan.due = Some(
                    TimeDelta::from_std(delay)
                        .ok()
                        .and_then(|d| now.checked_add_signed(d))
                        .unwrap_or_else(|| period.end()),
                );
                plan.last_failure = Some(reason.clone());
                let warn = plan.warned_for != Some(period);
                plan.warned_for = Some(period);
                Recorded {
                    settle: false,
                    warn,
                }
            }
        }
    }

    /// Each window's last failure in the period it targets, for the `STATUS=` line.
    pub fn last_failures(&self) -> impl Iterator<Item = (Window, &str)> {
        Window::ALL.into_iter().filter_map(|window| {
            let failure = self.plans[index(window)].last_failure.as_deref()?;
            Some((window, failure))
        })
    }
}

#[cfg(test)]
mod simulation;
#[cfg(test)]
mod tests;
