//! The system age bucket, computed exactly as DNF's countme does so the counts join with the
//! distribution's existing countme data.

use chrono::{DateTime, Utc};
use headcount_report::{AgeBucket, Level, Report};

use crate::{Collector, Context, Field};

/// Computes the countme age bucket from the modification time of `etc/machine-id`.
pub struct AgeCollector;

/// Length of a countme window: one week.
pub const COUNTME_WINDOW: i64 = 604_800;
/// Start of the first countme window: Monday 1970-01-05 00:00 UTC.
pub const COUNTME_OFFSET: i64 = 345_600;
/// Bucket boundaries in weeks: bucket i+1 while the age is under `COUNTME_BUCKETS[i]`.
pub const COUNTME_BUCKETS: [i64; 3] = [2, 5, 25];

const FIELDS: &[Field] = &[Field {
    name: "age_bucket",
    kind: "integer (1 to 4)",
    bucketing: "countme weeks (Monday 00:00 UTC) since installation: 1 under 2, 2 under 5, 3 under 25, 4 from 25 on or unknown",
    description: "System age as DNF countme computes it, from the modification time of etc/machine-id (unknown when missing, empty or uninitialized).",
}];

impl Collector for AgeCollector {
    fn name(&self) -> &'static str {
        "age"
    }

    fn level(&self) -> Level {
        Level::Minimal
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn collect(&self, ctx: &Context, report: &mut Report) {
        report.age_bucket = Some(age_bucket(system_epoch(ctx), ctx.now));
    }
}

/// The install time as countme sees it: mtime of etc/machine-id, 0 when unknown.
/// Beyond this (year ~36800), an install time is a broken clock, not a date.
const MAX_PLAUSIBLE_EPOCH: i64 = 1 << 40;

fn system_epoch(ctx: &Context) -> i64 {
    let Some(content) = ctx.root.read("etc/machine-id") else {
        return 0;
    };
    let content = content.trim();
    if content.is_empty() || content == "uninitialized" {
        return 0;
    }
    ctx.root
        .metadata("etc/machine-id")
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        // An mtime before 1970 or absurdly far ahead (a bad clock at install) is "unknown",
        // and keeps the window arithmetic below far from overflow.
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .filter(|secs| *secs < MAX_PLAUSIBLE_EPOCH)
        .unwrap_or(0)
}

/// The countme bucket (1..=4) of a system installed at `epoch` (Unix seconds, 0 if unknown)
/// at the instant `now`. `%` truncates toward zero here as in C, as countme's does.
pub fn age_bucket(epoch: i64, now: DateTime<Utc>) -> AgeBucket {
    let now = now.timestamp();
    let window_now = now - (now - COUNTME_OFFSET) % COUNTME_WINDOW;
    let window_epoch = epoch - (epoch - COUNTME_OFFSET) % COUNTME_WINDOW;
    let step = (window_now - window_epoch) / COUNTME_WINDOW;
    let index = COUNTME_BUCKETS
        .iter()
        .position(|&b| step < b)
        .unwrap_or(COUNTME_BUCKETS.len());
    AgeBucket::saturating(u8::try_from(index + 1).unwrap_or(AgeBucket::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(s, 0).unwrap()
    }

    /// Monday 2026-11-23 00:00 UTC starts a countme window.
    const MONDAY: i64 = 1_795_392_000;

    #[test]
    fn a_monday_starts_a_window() {
        assert_eq!((MONDAY - COUNTME_OFFSET) % COUNTME_WINDOW, 0);
        assert_eq!(t(MONDAY).to_rfc3339(), "2026-11-23T00:00:00+00:00");
    }

    #[test]
    fn buckets_change_exactly_at_window_boundaries() {
        let now = t(MONDAY + 3600);
        let week = COUNTME_WINDOW;
        // Installed in the current window or the previous one: 1.
        assert_eq!(age_bucket(MONDAY, now).get(), 1);
        assert_eq!(age_bucket(MONDAY - week, now).get(), 1);
        // The last second of the window two weeks back still counts as that window: 2.
        assert_eq!(age_bucket(MONDAY - week - 1, now).get(), 2);
        assert_eq!(age_bucket(MONDAY - 4 * week, now).get(), 2);
        assert_eq!(age_bucket(MONDAY - 4 * week - 1, now).get(), 3);
        assert_eq!(age_bucket(MONDAY - 24 * week, now).get(), 3);
        assert_eq!(age_bucket(MONDAY - 24 * week - 1, now).get(), 4);
        // Unknown install time and a clock before the install.
        assert_eq!(age_bucket(0, now).get(), 4);
        assert_eq!(age_bucket(MONDAY + 10 * week, now).get(), 1);
        // The window of `now` matters, not the second: Sunday 23:59:59 is a week earlier.
        assert_eq!(age_bucket(MONDAY - 2 * week, t(MONDAY - 1)).get(), 1);
        assert_eq!(age_bucket(MONDAY - 2 * week, t(MONDAY)).get(), 2);
        assert_eq!(age_bucket(MONDAY - week, t(MONDAY - 1)).get(), 1);
    }
}
