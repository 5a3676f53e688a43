use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A reporting window: each machine reports at most once per period of each window.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    /// UTC calendar days, written `YYYY-MM-DD`.
    Daily,
    /// UTC calendar months, written `YYYY-MM`.
    Monthly,
}

impl Window {
    /// Every window, in order.
    pub const ALL: [Window; 2] = [Window::Daily, Window::Monthly];

    /// The name used on the wire, in the state file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Daily => "daily",
            Window::Monthly => "monthly",
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A window name that is not `daily` or `monthly`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown window {0:?}: allowed values are \"daily\", \"monthly\"")]
pub struct ParseWindowError(pub String);

impl FromStr for Window {
    type Err = ParseWindowError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Window::ALL
            .into_iter()
            .find(|w| w.as_str() == s)
            .ok_or_else(|| ParseWindowError(s.to_owned()))
    }
}

/// One period of a window: a UTC day or a UTC month.
///
/// Periods of the same window are ordered in time. The textual form (`2026-11-23`, `2026-11`)
/// tells the window, so a period parses on its own; [`Period::parse_for`] also checks it
/// against an expected window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    window: Window,
    /// First day of the period (the day itself, or the 1st of the month).
    first_day: NaiveDate,
}

/// A period that is not `YYYY-MM-DD` or `YYYY-MM`, or not of the expected window.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParsePeriodError {
    /// Neither a valid `YYYY-MM-DD` date nor a valid `YYYY-MM` month.
    #[error("invalid period {0:?}: expected YYYY-MM-DD (daily) or YYYY-MM (monthly)")]
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
            Window::Monthly => day.with_day(1).unwrap_or(day),
        };
        Period { window, first_day }
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
        let first_day = match self.window {
            Window::Daily => self.first_day.succ_opt(),
            Window::Monthly => self.first_day.checked_add_months(Months::new(1)),
        };
        Period {
            window: self.window,
            first_day: first_day.unwrap_or(NaiveDate::MAX),
        }
    }

    /// The period right before this one.
    pub fn prev(self) -> Period {
        let first_day = match self.window {
            Window::Daily => self.first_day.pred_opt(),
            Window::Monthly => self.first_day.checked_sub_months(Months::new(1)),
        };
        Period {
            window: self.window,
            first_day: first_day.unwrap_or(NaiveDate::MIN),
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

/// A day `YYYY-MM-DD` or a month `YYYY-MM`; which one must match the report's window.
const PERIOD_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}(-[0-9]{2})?$";

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
        assert_eq!(
            "2026-02-28".parse::<Period>().unwrap().window(),
            Window::Daily
        );
        assert_eq!(
            "2026-02".parse::<Period>().unwrap().window(),
            Window::Monthly
        );
        for bad in [
            "2026-02-30",
            "2026-13",
            "26-02",
            "2026-2",
            "2026-02-01T00",
            "",
            "+2026-02",
            "2026-02-0a",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
        assert!(Period::parse_for(Window::Daily, "2026-02").is_err());
        assert!(Period::parse_for(Window::Monthly, "2026-02").is_ok());
    }

    #[test]
    fn orders_in_time() {
        let a: Period = "2026-11-23".parse().unwrap();
        let b: Period = "2026-12-01".parse().unwrap();
        assert!(a < b && a.next() < b);
        assert_eq!(a.next().prev(), a);
    }
}
