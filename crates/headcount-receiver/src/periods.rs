//! When a period is open for reports and when it closes. A period closes when the receiver no
//! longer accepts reports for it: its end plus the grace (`[counts] grace_secs`, for clocks
//! drifting across midnight). Only closed periods are released, so what is published about a
//! period can no longer change once anyone can see it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use headcount_report::{Period, Window};

/// The receiver's clock, injected so tests can stand anywhere in time.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system's UTC clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// Why a report's period is not accepted now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotOpen {
    /// The period closed (its end plus the grace has passed).
    Closed {
        /// The receiver's current period of that window.
        current: Period,
    },
    /// The period is further ahead than the receiver's next one, or behind its previous one.
    OutOfRange {
        /// The receiver's current period of that window.
        current: Period,
    },
}

/// The instant `period` closes: its end plus `grace`.
pub fn closes_at(period: Period, grace: Duration) -> DateTime<Utc> {
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    period
        .end()
        .checked_add_signed(grace)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Whether `period` has closed at `now`.
pub fn is_closed(period: Period, grace: Duration, now: DateTime<Utc>) -> bool {
    now >= closes_at(period, grace)
}

/// Whether a report for `period` is accepted at `now`: the current and the next period of its
/// window (a clock slightly ahead), and the previous one only until it closes.
pub fn accepts(period: Period, grace: Duration, now: DateTime<Utc>) -> Result<(), NotOpen> {
    let current = Period::containing(period.window(), now);
    if period == current || period == current.next() {
        Ok(())
    } else if period == current.prev() {
        if is_closed(period, grace, now) {
            Err(NotOpen::Closed { current })
        } else {
            Ok(())
        }
    } else if period < current {
        Err(NotOpen::Closed { current })
    } else {
        Err(NotOpen::OutOfRange { current })
    }
}

/// The latest period of `window` that is closed at `now`.
pub fn latest_closed(window: Window, grace: Duration, now: DateTime<Utc>) -> Period {
    let mut p = Period::containing(window, now).prev();
    while !is_closed(p, grace, now) {
        p = p.prev();
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const GRACE: Duration = Duration::from_secs(7200);

    #[test]
    fn the_previous_period_is_open_only_within_the_grace() {
        let yesterday: Period = "2026-11-30".parse().unwrap();
        let month: Period = "2026-11".parse().unwrap();
        for (now, open) in [
            ("2026-12-01T00:00:05Z", true),
            ("2026-12-01T01:59:59Z", true),
            ("2026-12-01T02:00:00Z", false),
            ("2026-12-01T23:00:00Z", false),
        ] {
            assert_eq!(accepts(yesterday, GRACE, at(now)).is_ok(), open, "{now}");
            assert_eq!(accepts(month, GRACE, at(now)).is_ok(), open, "{now}");
            assert_eq!(is_closed(yesterday, GRACE, at(now)), !open, "{now}");
        }
        assert_eq!(
            closes_at(yesterday, GRACE),
            at("2026-12-01T02:00:00Z"),
            "end plus grace"
        );
        // No grace: closed the instant it ends.
        assert!(accepts(yesterday, Duration::ZERO, at("2026-12-01T00:00:00Z")).is_err());
    }

    #[test]
    fn current_and_next_are_open_anything_else_is_not() {
        let now = at("2026-12-01T00:00:05Z");
        for ok in ["2026-12-01", "2026-12-02", "2026-12", "2027-01"] {
            assert_eq!(accepts(ok.parse().unwrap(), GRACE, now), Ok(()), "{ok}");
        }
        let current: Period = "2026-12-01".parse().unwrap();
        assert_eq!(
            accepts("2026-11-29".parse().unwrap(), GRACE, now),
            Err(NotOpen::Closed { current })
        );
        assert_eq!(
            accepts("2026-12-03".parse().unwrap(), GRACE, now),
            Err(NotOpen::OutOfRange { current })
        );
        assert!(accepts("2027-02".parse().unwrap(), GRACE, now).is_err());
    }

    #[test]
    fn a_week_closes_two_hours_after_monday_midnight() {
        let last_week: Period = "2026-W48".parse().unwrap();
        assert_eq!(closes_at(last_week, GRACE), at("2026-11-30T02:00:00Z"));
        assert_eq!(
            accepts(last_week, GRACE, at("2026-11-30T01:59:59Z")),
            Ok(())
        );
        let current: Period = "2026-W49".parse().unwrap();
        assert_eq!(
            accepts(last_week, GRACE, at("2026-11-30T02:00:00Z")),
            Err(NotOpen::Closed { current })
        );
        assert_eq!(
            accepts(current.next(), GRACE, at("2026-11-30T12:00:00Z")),
            Ok(())
        );
        assert_eq!(
            latest_closed(Window::Weekly, GRACE, at("2026-11-30T01:00:00Z")).to_string(),
            "2026-W47"
        );
        assert_eq!(
            latest_closed(Window::Weekly, GRACE, at("2026-12-02T00:00:00Z")).to_string(),
            "2026-W48"
        );
    }

    #[test]
    fn latest_closed_waits_for_the_grace() {
        assert_eq!(
            latest_closed(Window::Daily, GRACE, at("2026-12-01T01:00:00Z")).to_string(),
            "2026-11-29"
        );
        assert_eq!(
            latest_closed(Window::Daily, GRACE, at("2026-12-01T02:00:00Z")).to_string(),
            "2026-11-30"
        );
        assert_eq!(
            latest_closed(Window::Monthly, GRACE, at("2026-12-01T03:00:00Z")).to_string(),
            "2026-11"
        );
    }
}
