use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use headcount_report::{Period, Window};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::state::State;

pub(super) fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn p(s: &str) -> Period {
    s.parse().unwrap()
}

fn send(window: Window, period: &str) -> Action {
    Action::Send {
        window,
        period: p(period),
    }
}

fn failed(reason: &str, retry_after: Option<Duration>) -> Outcome {
    Outcome::Failed {
        reason: reason.into(),
        retry_after,
    }
}

fn sleep_until(time: &str) -> Action {
    Action::Sleep { until: at(time) }
}

const ZERO: Timing = Timing {
    windows: Windows::DEFAULT,
    max_startup_delay: Duration::ZERO,
    max_rollover_delay: Duration::ZERO,
};

pub(super) const TYPICAL: Timing = Timing {
    windows: Windows::DEFAULT,
    max_startup_delay: Duration::from_secs(300),
    max_rollover_delay: Duration::from_secs(6 * 3600),
};

fn floor() -> DateTime<Utc> {
    at("2026-01-01T00:00:00Z")
}

#[test]
fn zero_delays_send_both_windows_at_once_then_sleep_to_the_next_day() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut s = Schedule::new(floor());
    let mut state = State::default();
    let now = at("2026-11-23T10:00:00Z");
    let mut sent = vec![];
    loop {
        match s.decide(&state, now, &ZERO, &mut rng) {
            Action::Send { window, period } => {
                let r = s.record(window, period, &Outcome::Accepted, now, &mut rng);
                assert!(r.settle);
                state.set(window, period);
                sent.push(period.to_string());
            }
            Action::Sleep { until } => {
                assert_eq!(until, at("2026-11-24T00:00:00Z"));
                break;
            }
        }
    }
    assert_eq!(sent, ["2026-11-23", "2026-11"]);
    // Asking again (a clock change, a reload) sends nothing new.
    assert!(matches!(
        s.decide(&state, now, &ZERO, &mut rng),
        Action::Sleep { .. }
    ));
}

#[test]
fn startup_delay_is_uniform_and_bounded() {
    let now = at("2026-11-23T10:00:00Z");
    let mut rng = StdRng::seed_from_u64(2);
    let mut dues = vec![];
    for _ in 0..2000 {
        let mut s = Schedule::new(floor());
        match s.decide(&State::default(), now, &TYPICAL, &mut rng) {
            Action::Sleep { until } => dues.push((until - now).num_seconds()),
            Action::Send { .. } => dues.push(0),
        }
    }
    assert!(dues.iter().all(|d| (0..=300).contains(d)));
    // Roughly uniform: the earlier of two independent draws averages a third of the range.
    let mean = dues.iter().sum::<i64>() as f64 / dues.len() as f64;
    assert!((80.0..120.0).contains(&mean), "mean {mean}");
}

#[test]
fn nothing_is_sent_while_the_clock_is_before_the_build_date() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut s = Schedule::new(at("2026-11-01T00:00:00Z"));
    let a = s.decide(
        &State::default(),
        at("1970-01-01T00:00:10Z"),
        &ZERO,
        &mut rng,
    );
    assert_eq!(a, sleep_until("2026-11-01T00:00:00Z"));
    // Once NTP fixes the clock, the startup delay counts from then.
    let fixed = at("2026-11-23T08:00:00Z");
    assert!(matches!(
        s.decide(&State::default(), fixed, &ZERO, &mut rng),
        Action::Send { .. }
    ));
}

#[test]
fn a_recorded_later_period_is_never_sent_again() {
    let mut rng = StdRng::seed_from_u64(4);
    let mut s = Schedule::new(floor());
    let mut state = State::default();
    state.set(Window::Daily, p("2026-11-25"));
    state.set(Window::Monthly, p("2026-11"));
    // The clock went back two days: nothing is due until 2026-11-26.
    let a = s.decide(&state, at("2026-11-23T12:00:00Z"), &ZERO, &mut rng);
    assert_eq!(a, sleep_until("2026-11-24T00:00:00Z"));
    for day in ["2026-11-24T12:00:00Z", "2026-11-25T23:59:59Z"] {
        assert!(matches!(
            s.decide(&state, at(day), &ZERO, &mut rng),
            Action::Sleep { .. }
        ));
    }
    assert_eq!(
        s.decide(&state, at("2026-11-26T00:00:00Z"), &ZERO, &mut rng),
        send(Window::Daily, "2026-11-26")
    );
}

#[test]
fn a_refused_period_is_settled() {
    let mut rng = StdRng::seed_from_u64(5);
    let mut s = Schedule::new(floor());
    let r = s.record(
        Window::Daily,
        p("2026-11-23"),
        &Outcome::Refused,
        at("2026-11-23T10:00:00Z"),
        &mut rng,
    );
    assert_eq!(
        r,
        Recorded {
            settle: true,
            warn: false
        }
    );
}

#[test]
fn failures_back_off_warn_once_and_give_up_at_the_period_end() {
    let mut rng = StdRng::seed_from_u64(6);
    let mut s = Schedule::new(floor());
    let state = State::default();
    let mut now = at("2026-11-23T20:00:00Z");
    let mut warnings = 0;
    let mut attempts = 0;
    let failed = failed("connection refused", None);
    loop {
        match s.decide(&state, now, &ZERO, &mut rng) {
            Action::Send { window, period } => {
                if window == Window::Daily {
                    assert_eq!(period, p("2026-11-23"), "sent after the period ended");
                    attempts += 1;
                }
                let r = s.record(window, period, &failed, now, &mut rng);
                warnings += usize::from(r.warn);
            }
            Action::Sleep { until } => {
                assert!(until > now, "busy loop at {now}");
                now = until;
                if now >= at("2026-11-24T00:00:00Z") {
                    break;
                }
            }
        }
    }
    // One warning per window for the period; 4 hours of capped exponential backoff is a
    // handful of attempts, not hundreds.
    assert_eq!(warnings, 2);
    assert!((4..=30).contains(&attempts), "{attempts} attempts");
    assert!(
        s.last_failures()
            .next()
            .is_some_and(|(w, f)| w == Window::Daily && f.contains("refused"))
    );
    // The next day is a new period: a new target, a new warning allowed.
    match s.decide(&state, now, &ZERO, &mut rng) {
        Action::Send { window, period } => {
            assert_eq!((window, period), (Window::Daily, p("2026-11-24")));
            assert!(s.record(window, period, &failed, now, &mut rng).warn);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn retry_after_is_honoured() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut s = Schedule::new(floor());
    let now = at("2026-11-23T10:00:00Z");
    let outcome = failed("503", Some(Duration::from_secs(7200)));
    s.record(Window::Daily, p("2026-11-23"), &outcome, now, &mut rng);
    let mut state = State::default();
    state.set(Window::Monthly, p("2026-11"));
    match s.decide(&state, now, &ZERO, &mut rng) {
        Action::Sleep { until } => assert!(until >= now + TimeDelta::hours(2)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rollover_delay_is_drawn_once_and_stays_inside_the_period() {
    let mut rng = StdRng::seed_from_u64(8);
    let mut state = State::default();
    state.set(Window::Daily, p("2026-11-23"));
    state.set(Window::Monthly, p("2026-11"));
    let long = Timing {
        windows: Windows::DEFAULT,
        max_startup_delay: Duration::ZERO,
        max_rollover_delay: Duration::from_secs(40 * 3600),
    };
    for _ in 0..200 {
        let mut s = Schedule::new(floor());
        let now = at("2026-11-23T12:00:00Z");
        let Action::Sleep { until } = s.decide(&state, now, &long, &mut rng) else {
            panic!("sent a settled period")
        };
        // Asking again gives the same instant: no redraw on clock changes or reloads.
        assert_eq!(
            s.decide(&state, now, &long, &mut rng),
            Action::Sleep { until }
        );
        let day = p("2026-11-24");
        assert!(day.start() <= until && until <= day.start() + TimeDelta::hours(12));
    }
}

#[test]
fn the_weekly_window_is_sent_only_when_configured_and_then_once_per_countme_week() {
    let mut rng = StdRng::seed_from_u64(10);
    let all = Timing {
        windows: Windows::ALL,
        ..ZERO
    };
    // Wednesday: the week started Monday 2026-11-23 00:00 UTC.
    let now = at("2026-11-25T10:00:00Z");
    let mut state = State::default();
    let mut s = Schedule::new(floor());
    let mut sent = vec![];
    while let Action::Send { window, period } = s.decide(&state, now, &all, &mut rng) {
        assert!(
            s.record(window, period, &Outcome::Accepted, now, &mut rng)
                .settle
        );
        state.set(window, period);
        sent.push((window, period.to_string()));
    }
    assert_eq!(
        sent,
        [
            (Window::Daily, "2026-11-25".to_owned()),
            (Window::Weekly, "2026-W48".to_owned()),
            (Window::Monthly, "2026-11".to_owned()),
        ]
    );
    // A restart in the same periods sends nothing; the next day only the daily report is due.
    let mut restarted = Schedule::new(floor());
    assert!(matches!(
        restarted.decide(&state, now, &all, &mut rng),
        Action::Sleep { .. }
    ));
    assert_eq!(
        restarted.decide(&state, at("2026-11-26T00:00:00Z"), &all, &mut rng),
        send(Window::Daily, "2026-11-26")
    );
    // Monday 00:00 UTC starts the next week.
    state.set(Window::Daily, p("2026-11-29"));
    assert_eq!(
        restarted.decide(&state, at("2026-11-30T00:00:00Z"), &all, &mut rng),
        send(Window::Daily, "2026-11-30")
    );
    // Without weekly in the configuration, no weekly report ever goes out.
    let mut s = Schedule::new(floor());
    let mut state = State::default();
    while let Action::Send { window, period } = s.decide(&state, now, &ZERO, &mut rng) {
        assert_ne!(window, Window::Weekly);
        s.record(window, period, &Outcome::Accepted, now, &mut rng);
        state.set(window, period);
    }
    assert_eq!(state.get(Window::Weekly), None);
}

#[test]
fn the_weekly_rollover_delay_is_capped_below_half_a_week() {
    let mut rng = StdRng::seed_from_u64(11);
    let mut state = State::default();
    state.set(Window::Weekly, p("2026-W48"));
    let only_weekly = [Window::Weekly].into_iter().collect();
    let now = at("2026-11-29T12:00:00Z");
    let next = p("2026-W49");
    for (max_rollover_hours, cap_hours) in [(6, 6), (100, 84)] {
        let timing = Timing {
            windows: only_weekly,
            max_startup_delay: Duration::ZERO,
            max_rollover_delay: Duration::from_secs(max_rollover_hours * 3600),
        };
        let mut latest = next.start();
        for _ in 0..300 {
            let Action::Sleep { until } =
                Schedule::new(floor()).decide(&state, now, &timing, &mut rng)
            else {
                panic!("sent a settled week")
            };
            assert!(next.start() <= until, "{until}");
            assert!(
                until <= next.start() + TimeDelta::hours(cap_hours as i64),
                "{until}"
            );
            latest = latest.max(until);
        }
        // The draws fill the allowed range.
        assert!(latest > next.start() + TimeDelta::hours(cap_hours as i64 * 9 / 10));
    }
}

#[test]
fn future_state_rule() {
    let now = at("2026-11-23T12:00:00Z");
    let mut near = State::default();
    near.set(Window::Daily, p("2026-12-20"));
    near.set(Window::Monthly, p("2026-12"));
    assert_eq!(
        reconcile_future(&near, now),
        None,
        "near future is honoured"
    );
    let mut far = near.clone();
    far.set(Window::Daily, p("2036-11-23"));
    far.set(Window::Monthly, p("2036-11"));
    let fixed = reconcile_future(&far, now).unwrap();
    assert_eq!(fixed.get(Window::Daily), Some(p("2026-11-23")));
    assert_eq!(fixed.get(Window::Monthly), Some(p("2026-11")));
    // After the reset the next period is reported as usual.
    let mut rng = StdRng::seed_from_u64(9);
    let mut s = Schedule::new(floor());
    let next_day = at("2026-11-24T00:00:00Z");
    assert_eq!(
        s.decide(&fixed, next_day, &ZERO, &mut rng),
        send(Window::Daily, "2026-11-24")
    );
}

#[test]
fn plausible_floor_is_a_date() {
    assert!(plausible_from() >= at(PLAUSIBLE_FLOOR));
}

#[test]
fn an_absurd_retry_after_gives_up_the_period_instead_of_overflowing() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut s = Schedule::new(floor());
    let now = at("2026-11-23T10:00:00Z");
    let outcome = failed("429", Some(Duration::MAX));
    s.record(Window::Daily, p("2026-11-23"), &outcome, now, &mut rng);
    let mut state = State::default();
    state.set(Window::Monthly, p("2026-11"));
    match s.decide(&state, now, &ZERO, &mut rng) {
        Action::Sleep { until } => assert_eq!(until, at("2026-11-24T00:00:00Z")),
        other => panic!("{other:?}"),
    }
}
