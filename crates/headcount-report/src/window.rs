use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc, Weekday};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

crate::labels::labels! {
    /// A reporting window: each machine reports at most once per period of each window.
    Window: ParseWindowError("window") {
        /// UTC calendar days, written `YYYY-MM-DD`.
        Daily = "daily",
        /// Countme weeks: Monday 00:00 UTC to the next Monday, written as the ISO week `YYYY-Www`.
        Weekly = "weekly",
        /// UTC calendar months, written `YYYY-MM`.
        Monthly = "monthly",
    }
}

/// One period of a window: a UTC day, a countme week or a UTC month.
///
/// Periods of the same window are ordered in time. The textual form (`2026-11-23`, `2026-W48`,
/// `2026-11`) tells the window, so a period parses on its own; [`Period::parse_for`] also checks
/// it against an expected window.
///
/// A weekly period is the countme week of DNF and Fedora's published countme totals: it starts
/// Monday 00:00 UTC, 345600 s (1970-01-05) plus a multiple of 604800 s after the Unix epoch. ISO
/// 8601 weeks also start on Monday, so the week is written as its ISO week (`%G-W%V`); near New
/// Year the ISO year can differ from the calendar year of some of its days (2026-12-31 is in
/// `2026-W53`, 2027-01-01 too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    window: Window,
    /// First day of the period (the day itself, the Monday of the week, or the 1st of the month).
    first_day: NaiveDate,
}

/// A period that is not `YYYY-MM-DD`, `YYYY-Www` or `YYYY-MM`, or not of the expected window.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParsePeriodError {
    /// Not a valid `YYYY-MM-DD` date, `YYYY-Www` ISO week or `YYYY-MM` month.
    #[error(
        "invalid period {0:?}: expected YYYY-MM-DD (daily), YYYY-Www (weekly, an ISO week) or \
         YYYY-MM (monthly)"
    )]
    Syntax(String),
    /// A valid period of another window.
    #[error("period {period:?} is not a {expected} period")]
    WrongWindow {
        /// The text that was parsed.
        period: String,
        /// The window the period had to belong to.
        expected: Window,
    },
}

impl Period {
    /// The period of `window` that contains the instant `now`.
    pub fn containing(window: Window, now: DateTime<Utc>) -> Period {
        let day = now.date_naive();
        let first_day = match window {
            Window::Daily => day,
            Window::Weekly => day
                .checked_sub_days(Days::new(u64::from(day.weekday().num_days_from_monday())))
                .unwrap_or(day),
            Window::Monthly => day.with_day(1).unwrap_or(day),
        };
        Period { window, first_day }
    }

    /// The first day of the period: the day itself, the Monday of the week, the 1st of the month.
    pub fn first_day(self) -> NaiveDate {
        self.first_day
    }

    /// The last day of the period (the Sunday of a week).
    pub fn last_day(self) -> NaiveDate {
        self.next().first_day.pred_opt().unwrap_or(self.first_day)
    }

    /// The window this period belongs to.
    pub fn window(self) -> Window {
        self.window
    }

    /// The instant the period starts (00:00 UTC of its first day).
    pub fn start(self) -> DateTime<Utc> {
        Utc.from_utc_datetime(&self.first_day.and_time(chrono::NaiveTime::MIN))
    }

    /// The period right after this one.
    pub fn next(self) -> Period {
        self.step(true)
    }

    /// The period right before this one.
    pub fn prev(self) -> Period {
        self.step(false)
    }

    /// The period one step later (`forward`) or earlier, held at the ends of the calendar.
    fn step(self, forward: bool) -> Period {
        let d = self.first_day;
        let (first_day, end) = match (self.window, forward) {
            (Window::Daily, true) => (d.succ_opt(), NaiveDate::MAX),
            (Window::Daily, false) => (d.pred_opt(), NaiveDate::MIN),
            (Window::Weekly, true) => (d.checked_add_days(Days::new(7)), NaiveDate::MAX),
            (Window::Weekly, false) => (d.checked_sub_days(Days::new(7)), NaiveDate::MIN),
            (Window::Monthly, true) => (d.checked_add_months(Months::new(1)), NaiveDate::MAX),
            (Window::Monthly, false) => (d.checked_sub_months(Months::new(1)), NaiveDate::MIN),
        };
        Period {
            window: self.window,
            first_day: first_day.unwrap_or(end),
        }
    }

    /// The instant the period ends (exclusive): the start of the next one.
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    /// Whether the instant `t` falls inside this period.
    pub fn contains(self, t: DateTime<Utc>) -> bool {
        self.start() <= t && t < self.end()
    }

    /// Parses `s` and requires it to be a period of `window`.
    pub fn parse_for(window: Window, s: &str) -> Result<Period, ParsePeriodError> {
        let p: Period = s.parse()?;
        if p.window != window {
            return Err(ParsePeriodError::WrongWindow {
                period: s.to_owned(),
                expected: window,
            });
        }
        Ok(p)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.window {
            Window::Daily => write!(f, "{}", self.first_day.format("%Y-%m-%d")),
            Window::Weekly => {
                let week = self.first_day.iso_week();
                write!(f, "{:04}-W{:02}", week.year(), week.week())
            }
            Window::Monthly => write!(f, "{}", self.first_day.format("%Y-%m")),
        }
    }
}

impl FromStr for Period {
    type Err = ParsePeriodError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParsePeriodError::Syntax(s.to_owned());
        let digits =
            |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
        let parts: Vec<&str> = s.split('-').collect();
        match parts.as_slice() {
            [y, m, d] if digits(y, 4) && digits(m, 2) && digits(d, 2) => {
                let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| err())?;
                Ok(Period {
                    window: Window::Daily,
                    first_day: date,
                })
            }
            [y, w] if digits(y, 4) && w.len() == 3 && w.starts_with('W') && digits(&w[1..], 2) => {
                let year: i32 = y.parse().map_err(|_| err())?;
                let week: u32 = w[1..].parse().map_err(|_| err())?;
                // None for week 0, and for week 53 of a year with 52 ISO weeks.
                let first_day =
                    NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).ok_or_else(err)?;
                Ok(Period {
                    window: Window::Weekly,
                    first_day,
                })
            }
            [y, m] if digits(y, 4) && digits(m, 2) => {
                let year: i32 = y.parse().map_err(|_| err())?;
                let month: u32 = m.parse().map_err(|_| err())?;
                let first_day = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(err)?;
                Ok(Period {
                    window: Window::Monthly,
                    first_day,
                })
            }
            _ => Err(err()),
        }
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A day `YYYY-MM-DD`, an ISO week `YYYY-Www` or a month `YYYY-MM`; which one must match the
/// report's window.
const PERIOD_PATTERN: &str = r"^[0-9]{4}-([0-9]{2}(-[0-9]{2})?|W[0-9]{2})$";

impl JsonSchema for Period {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Period".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": PERIOD_PATTERN, "maxLength": 10 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn containing_and_bounds() {
        let now = at("2026-11-23T23:59:59Z");
        let d = Period::containing(Window::Daily, now);
        assert_eq!(d.to_string(), "2026-11-23");
        assert_eq!(d.end(), at("2026-11-24T00:00:00Z"));
        assert!(d.contains(now) && !d.contains(d.end()));
        let m = Period::containing(Window::Monthly, now);
        assert_eq!(m.to_string(), "2026-11");
        assert_eq!(m.start(), at("2026-11-01T00:00:00Z"));
        assert_eq!(m.next().to_string(), "2026-12");
        assert_eq!(m.next().next().to_string(), "2027-01");
        assert_eq!(m.prev().to_string(), "2026-10");
    }

    #[test]
    fn parses_strictly() {
        for (good, window) in [
            ("2026-02-28", Window::Daily),
            ("2026-W01", Window::Weekly),
            ("2026-02", Window::Monthly),
        ] {
            assert_eq!(good.parse::<Period>().unwrap().window(), window);
        }
        for bad in [
            "2026-02-30",
            "2026-13",
            "26-02",
            "2026-2",
            "2026-02-01T00",
            "",
            "+2026-02",
            "2026-02-0a",
            "2026-W00",
            "2026-W54",
            "2026-W1",
            "2026-W001",
            "2026-w48",
            "2026W48",
            "2026-W4a",
            "2026-48",
            "2026-W48-1",
            "+026-W48",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
        assert!(Period::parse_for(Window::Daily, "2026-02").is_err());
        assert!(Period::parse_for(Window::Monthly, "2026-02").is_ok());
        assert!(Period::parse_for(Window::Weekly, "2026-11").is_err());
        assert!(Period::parse_for(Window::Monthly, "2026-W48").is_err());
        let e = "x".parse::<Period>().unwrap_err().to_string();
        assert!(e.contains("YYYY-Www (weekly"), "{e}");
        let e = "weekly ".parse::<Window>().unwrap_err().to_string();
        assert!(e.contains(r#""daily", "weekly", "monthly""#), "{e}");
    }

    #[test]
    fn a_week_is_the_countme_week_written_as_its_iso_week() {
        // Wednesday 2026-11-25 is in the week of Monday 2026-11-23, ISO week 48.
        let w = Period::containing(Window::Weekly, at("2026-11-25T13:00:00Z"));
        assert_eq!(w.to_string(), "2026-W48");
        assert_eq!(w.start(), at("2026-11-23T00:00:00Z"));
        assert_eq!(w.end(), at("2026-11-30T00:00:00Z"));
        assert_eq!(w.last_day().to_string(), "2026-11-29");
        assert!(w.contains(at("2026-11-29T23:59:59Z")) && !w.contains(w.end()));
        assert_eq!(w.next().to_string(), "2026-W49");
        assert_eq!(w.prev().to_string(), "2026-W47");
        // mirrors-countme numbers weeks (t - 345600) div 604800 from Monday 1970-01-05; every
        // week starts on such a boundary, for instants all over the calendar.
        const COUNTME_OFFSET: i64 = 345_600;
        const COUNTME_WINDOW: i64 = 604_800;
        let mut t = at("1970-01-05T00:00:00Z").timestamp();
        while t < at("2100-01-01T00:00:00Z").timestamp() {
            let now = Utc.timestamp_opt(t, 0).unwrap();
            let week = Period::containing(Window::Weekly, now);
            let start = t - (t - COUNTME_OFFSET).rem_euclid(COUNTME_WINDOW);
            assert_eq!(week.start().timestamp(), start, "{now}");
            assert_eq!(week.to_string().parse::<Period>().unwrap(), week);
            t += 86_400 * 3 + 3_607;
        }
    }

    #[test]
    fn iso_weeks_cross_new_year() {
        // 2026 has 53 ISO weeks (it starts on a Thursday); 2027-01-01 belongs to its last one.
        let last = Period::containing(Window::Weekly, at("2027-01-01T12:00:00Z"));
        assert_eq!(last.to_string(), "2026-W53");
        assert_eq!(last.start(), at("2026-12-28T00:00:00Z"));
        assert_eq!(last.next().to_string(), "2027-W01");
        assert_eq!(last.next().start(), at("2027-01-04T00:00:00Z"));
        // 2025 has 52: its Monday 2025-12-29 starts 2026-W01.
        let first = Period::containing(Window::Weekly, at("2025-12-31T00:00:00Z"));
        assert_eq!(first.to_string(), "2026-W01");
        assert_eq!(first.prev().to_string(), "2025-W52");
        assert_eq!("2026-W53".parse::<Period>().unwrap(), last);
        assert!("2025-W53".parse::<Period>().is_err(), "2025 has 52 weeks");
        assert!(first < last && last < last.next());
    }

    #[test]
    fn orders_in_time() {
        let a: Period = "2026-11-23".parse().unwrap();
        let b: Period = "2026-12-01".parse().unwrap();
        assert!(a < b && a.next() < b);
        assert_eq!(a.next().prev(), a);
    }
}
