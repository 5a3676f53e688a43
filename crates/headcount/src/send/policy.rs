//! The answer policy: what an HTTP status means for this period's report.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// What the receiver's answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: counted. Record the period.
    Accepted,
    /// A final 4xx: the receiver will never take this report. Record the period, do not retry.
    Refused,
    /// Worth another try later in the period (408, 429, 407, 5xx, anything unexpected).
    Retry,
}

/// Classifies an HTTP status code.
///
/// 407 is retried: the operator may fix the proxy's credentials. 408 and 429 say "later".
/// 1xx and 3xx should never reach here (redirects are followed or fail); they are retried.
pub fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Accepted,
        407 | 408 | 429 => Verdict::Retry,
        400..=499 => Verdict::Refused,
        _ => Verdict::Retry,
    }
}

/// Parses a `Retry-After` value: delay seconds, or an HTTP date in any of the three forms
/// RFC 9110 requires a recipient to accept (IMF-fixdate, RFC 850, asctime), relative to `now`.
/// A date in the past means no wait; anything else is ignored (`None`).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Digits only: delay-seconds, however many (an absurd number is capped, not ignored).
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let at: DateTime<Utc> = httpdate::parse_http_date(value).ok()?.into();
    Some(
        (at - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// A receiver cannot push a retry further out than this: past it the period is over anyway
/// (a month at most), and an absurd value must not overflow the due-time arithmetic.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(32 * 24 * 3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_retry_after_is_capped() {
        let now = Utc::now();
        for v in [
            "18446744073709551615",
            "99999999999999999999999999",
            "99999999999999",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            assert_eq!(parse_retry_after(v, now), Some(MAX_RETRY_AFTER), "{v}");
        }
    }

    #[test]
    fn statuses() {
        for (s, v) in [
            (200, Verdict::Accepted),
            (204, Verdict::Accepted),
            (400, Verdict::Refused),
            (404, Verdict::Refused),
            (410, Verdict::Refused),
            (407, Verdict::Retry),
            (408, Verdict::Retry),
            (429, Verdict::Retry),
            (500, Verdict::Retry),
            (503, Verdict::Retry),
            (302, Verdict::Retry),
        ] {
            assert_eq!(verdict(s), v, "{s}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in [
            "soon",
            "",
            "-5",
            "1.5",
            "Wed, 21 Oct 2015 07:30:00 +0000",
            "2015-10-21",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_accepts_all_three_http_date_forms() {
        // RFC 9110 section 5.6.7: the same instant as IMF-fixdate, RFC 850 and asctime.
        let now = DateTime::parse_from_rfc3339("1994-11-06T08:47:37Z")
            .unwrap()
            .with_timezone(&Utc);
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                parse_retry_after(form, now),
                Some(Duration::from_secs(120)),
                "{form}"
            );
        }
    }
}
