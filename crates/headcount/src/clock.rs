//! The wall clock, read without a panic.
//!
//! `chrono::Utc::now()` panics when the system time reads before 1970. Linux refuses to set
//! such a time, but a clock is outside input all the same (a preloaded time library, a broken
//! virtual RTC): before 1970 is only an implausible clock, which the schedule already handles by
//! sending nothing.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

/// The wall clock now.
pub fn now() -> DateTime<Utc> {
    from_system(SystemTime::now())
}

/// `t` as a UTC instant, before 1970 included.
pub fn from_system(t: SystemTime) -> DateTime<Utc> {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(after) => (
            i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            after.subsec_nanos(),
        ),
        Err(e) => {
            let before = e.duration();
            let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            match before.subsec_nanos() {
                0 => (-secs, 0),
                n => (-secs - 1, 1_000_000_000 - n),
            }
        }
    };
    DateTime::from_timestamp(secs, nanos).unwrap_or(DateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn reads_before_and_after_1970_without_a_panic() {
        let before = UNIX_EPOCH - Duration::from_micros(36);
        assert_eq!(
            from_system(before).to_rfc3339(),
            "1969-12-31T23:59:59.999964+00:00"
        );
        assert_eq!(
            from_system(UNIX_EPOCH - Duration::from_secs(86_400)).to_rfc3339(),
            "1969-12-31T00:00:00+00:00"
        );
        assert_eq!(from_system(UNIX_EPOCH), DateTime::UNIX_EPOCH);
        let later = UNIX_EPOCH + Duration::new(1_795_435_200, 5);
        assert_eq!(from_system(later).timestamp_subsec_nanos(), 5);
        assert_eq!(
            from_system(later).to_rfc3339(),
            "2026-11-23T12:00:00.000000005+00:00"
        );
        let drift = (now() - Utc::now()).num_seconds().abs();
        assert!(drift <= 1, "{drift}");
    }
}
