//! The system age bucket, computed exactly as DNF's countme does so the counts join with the
//! distribution's existing countme data. docs/usage/countme.md writes the semantics down; the
//! tests in `tests/age_semantics.rs` compare this code with a port of DNF's and rpm-ostree's
//! arithmetic at every bucket boundary, by weekday.

use std::os::unix::fs::MetadataExt;

use chrono::{DateTime, Utc};
use headcount_report::{AgeBucket, Report};

use crate::{Context, Field, Kind};

/// Length of a countme window: one week.
pub const COUNTME_WINDOW: i64 = 604_800;
/// Start of the first countme window: Monday 1970-01-05 00:00 UTC.
pub const COUNTME_OFFSET: i64 = 345_600;
/// Bucket boundaries in weeks: bucket i+1 while the age is under `COUNTME_BUCKETS[i]`.
pub const COUNTME_BUCKETS: [i64; 3] = [2, 5, 25];
/// The file whose modification time is the install time, as for DNF.
const MACHINE_ID: &str = "etc/machine-id";
/// What systemd writes into machine-id before the ID is committed: the install time is unknown.
const UNINITIALIZED: &str = "uninitialized";

pub(crate) const FIELDS: &[Field] = &[Field {
    name: "age_bucket",
    kind: Kind::Text("integer (1 to 4)"),
    bucketing: "countme weeks (Monday 00:00 UTC) from the week of installation to the current one: 1 under 2, 2 under 5, 3 under 25, 4 from 25 on or unknown",
    description: "System age as DNF countme computes it, from the modification time of etc/machine-id (unknown when missing, empty, uninitialized or dated 1970-01-01 00:00:00).",
}];

/// Computes the countme age bucket from the modification time of `etc/machine-id`.
pub(crate) fn collect(ctx: &Context, report: &mut Report) {
    report.age_bucket = Some(age_bucket(system_epoch(ctx), ctx.now));
}

/// The install time as DNF's `get_system_epoch` reads it: the mtime of etc/machine-id, 0 when
/// unknown. Unknown is: no such file, an empty one, one whose first word is `uninitialized`,
/// or an mtime of exactly 0 (DNF tests the value for zero). A file that cannot be read still
/// gives its mtime, as DNF's failed read leaves the word empty.
fn system_epoch(ctx: &Context) -> i64 {
    let Some(meta) = ctx.root.metadata(MACHINE_ID) else {
        return 0;
    };
    if meta.len() == 0 {
        return 0;
    }
    let first_word = ctx
        .root
        .read_prefix(MACHINE_ID)
        .and_then(|(text, _)| text.split_whitespace().next().map(str::to_owned));
    if first_word.as_deref() == Some(UNINITIALIZED) {
        return 0;
    }
    meta.mtime()
}

/// The countme bucket (1..=4) of a system installed at `epoch` (Unix seconds, 0 if unknown) at
/// the instant `now`: DNF's arithmetic, weeks counted from the start of the install week to the
/// start of the current one. `%` truncates toward zero, as C's does; the arithmetic is done in
/// 128 bits, so no mtime, however absurd, can overflow it. An install time after `now` (a clock
/// set back) is bucket 1, as for DNF; an unknown one is 4, where DNF would count from its first
/// count instead (docs/usage/countme.md).
pub fn age_bucket(epoch: i64, now: DateTime<Utc>) -> AgeBucket {
    let (offset, window) = (i128::from(COUNTME_OFFSET), i128::from(COUNTME_WINDOW));
    let align = |t: i128| t - (t - offset) % window;
    let now = i128::from(now.timestamp());
    let step = if epoch == 0 {
        i128::MAX
    } else {
        (align(now) - align(i128::from(epoch))) / window
    };
    let index = COUNTME_BUCKETS
        .iter()
        .position(|&b| step < i128::from(b))
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

    /// Monday 2026-11-23 00:00 UTC starts a countme window (tests/age_semantics.rs checks one
    /// such Monday against the offset).
    const MONDAY: i64 = 1_795_392_000;

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
        // Absurd install times overflow nothing.
        assert_eq!(age_bucket(i64::MAX, now).get(), 1);
        assert_eq!(age_bucket(i64::MIN, now).get(), 4);
        assert_eq!(age_bucket(-1, now).get(), 4);
        // The window of `now` matters, not the second: Sunday 23:59:59 is a week earlier.
        assert_eq!(age_bucket(MONDAY - 2 * week, t(MONDAY - 1)).get(), 1);
        assert_eq!(age_bucket(MONDAY - 2 * week, t(MONDAY)).get(), 2);
        assert_eq!(age_bucket(MONDAY - week, t(MONDAY - 1)).get(), 1);
    }
}
