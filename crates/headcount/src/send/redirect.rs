//! The redirect policy: which 3xx answers are followed, as a pure function over the answer.
//!
//! A report goes to the configured endpoint's origin (scheme, host and port) and nowhere else.
//! Only 307 and 308 are followed, because only they oblige a client to repeat the same POST
//! with the same body; 301, 302 and 303 let (303: make) clients turn a POST into a GET, which
//! would answer 2xx without counting anything. Within the endpoint's origin a 307/308 is
//! followed at most [`MAX_REDIRECTS`] times, and never to other credentials than the
//! endpoint's. Whatever is not followed is a failure to retry with backoff, never a settled
//! period.

use url::Url;

/// Redirects followed at most in one send.
pub const MAX_REDIRECTS: usize = 3;
/// A `Location` longer than this is not followed (it is not shown in full either).
pub const MAX_LOCATION_BYTES: usize = 2048;

/// What to do with a 3xx answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// Post the same body to this URL (same origin as the endpoint, no credentials, no fragment).
    Follow(Url),
    /// Do not follow; the send failed for the reason given (in words, for the log).
    Refuse(String),
}

/// Decides on a 3xx `status` answered by `current` to a POST, with the raw `Location` header
/// value (if any), after `followed` redirects in this send. `endpoint` is the configured URL.
pub fn decide(
    endpoint: &Url,
    current: &Url,
    status: u16,
    location: Option<&[u8]>,
    followed: usize,
) -> Redirect {
    let refuse = |why: String| Redirect::Refuse(format!("the receiver answered {status} {why}"));
    if !matches!(status, 307 | 308) {
        return refuse(match status {
            301..=303 => {
                "(a redirect that would turn the report's POST into a GET): not followed".to_owned()
            }
            _ => "(not a redirect headcount follows): not followed".to_owned(),
        });
    }
    let Some(location) = location.filter(|l| !l.is_empty()) else {
        return refuse("without a Location: not followed".to_owned());
    };
    if location.len() > MAX_LOCATION_BYTES {
        return refuse(format!(
            "with a Location over {MAX_LOCATION_BYTES} bytes: not followed"
        ));
    }
    // A header value is visible ASCII; anything else is not a URL we act on.
    let Some(text) = std::str::from_utf8(location)
        .ok()
        .filter(|t| t.bytes().all(|b| b.is_ascii_graphic()))
    else {
        return refuse("with a Location that is not a URL: not followed".to_owned());
    };
    let Ok(mut next) = current.join(text) else {
        return refuse("with a Location that is not a URL: not followed".to_owned());
    };
    next.set_fragment(None);
    if next.origin() != endpoint.origin() {
        return refuse(format!(
            "redirecting to {}, another origin than the endpoint's: not followed",
            crate::config::redact(&next)
        ));
    }
    // A relative Location keeps the endpoint's own credentials; none may be added or changed.
    if (next.username(), next.password()) != (endpoint.username(), endpoint.password()) {
        return refuse(
            "redirecting to a URL with other credentials than the endpoint's: not followed"
                .to_owned(),
        );
    }
    if followed >= MAX_REDIRECTS {
        return refuse(format!(
            "after {MAX_REDIRECTS} redirects already followed: not followed"
        ));
    }
    Redirect::Follow(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        s.parse().unwrap()
    }

    fn follows(d: &Redirect) -> Option<&str> {
        match d {
            Redirect::Follow(u) => Some(u.as_str()),
            Redirect::Refuse(_) => None,
        }
    }

    #[test]
    fn only_307_and_308_within_the_endpoints_origin_are_followed() {
        let endpoint = url("https://count.example.org/v1/report");
        let here = &endpoint;
        let cases: &[(u16, &str, Option<&str>)] = &[
            (
                307,
                "/v2/report",
                Some("https://count.example.org/v2/report"),
            ),
            (308, "v2", Some("https://count.example.org/v1/v2")),
            (
                308,
                "https://COUNT.example.org:443/x#frag",
                Some("https://count.example.org/x"),
            ),
            (
                308,
                "https://count.example.org/x?a=b",
                Some("https://count.example.org/x?a=b"),
            ),
            // Another origin: host, port or scheme.
            (307, "https://evil.example/v1/report", None),
            (307, "https://count.example.org.evil.example/", None),
            (307, "https://count.example.org:8443/v1/report", None),
            (307, "http://count.example.org/v1/report", None),
            (307, "//evil.example/v1/report", None),
            (307, "file:///etc/passwd", None),
            (307, "data:,x", None),
            // Credentials smuggled in.
            (307, "https://user:pw@count.example.org/v1/report", None),
            // Codes that turn a POST into a GET, or are not redirects to follow.
            (301, "/v2/report", None),
            (302, "/v2/report", None),
            (303, "/v2/report", None),
            (300, "/v2/report", None),
            (304, "/v2/report", None),
            (305, "/v2/report", None),
            (399, "/v2/report", None),
            // Unusable Location values.
            (307, "", None),
            (307, "/a b", None),
            (307, "/caf\u{e9}", None),
            (307, "http://[::1", None),
        ];
        for (status, location, expected) in cases {
            let d = decide(&endpoint, here, *status, Some(location.as_bytes()), 0);
            assert_eq!(follows(&d), *expected, "{status} {location:?}: {d:?}");
            if let Redirect::Refuse(why) = &d {
                assert!(why.contains(&status.to_string()) && why.contains("not followed"));
            }
        }
        assert!(follows(&decide(&endpoint, here, 307, None, 0)).is_none());
        let long = format!("/{}", "a".repeat(MAX_LOCATION_BYTES));
        assert!(follows(&decide(&endpoint, here, 307, Some(long.as_bytes()), 0)).is_none());
        assert!(follows(&decide(&endpoint, here, 307, Some(b"/\xff"), 0)).is_none());
    }

    #[test]
    fn another_origin_is_named_without_credentials() {
        let endpoint = url("https://count.example.org/v1/report");
        let d = decide(
            &endpoint,
            &endpoint,
            307,
            Some(b"https://u:secret@evil.example/"),
            0,
        );
        let Redirect::Refuse(why) = d else {
            panic!("{d:?}")
        };
        assert!(
            why.contains("evil.example") && !why.contains("secret"),
            "{why}"
        );
        assert!(why.contains("another origin"), "{why}");
    }

    #[test]
    fn the_endpoints_credentials_are_kept_never_changed() {
        let endpoint = url("https://fleet:pw@count.example.org/v1/report");
        let d = decide(&endpoint, &endpoint, 308, Some(b"/v2/report"), 0);
        assert_eq!(
            follows(&d),
            Some("https://fleet:pw@count.example.org/v2/report")
        );
        for other in [
            "https://count.example.org/v2/report",
            "https://fleet:other@count.example.org/v2/report",
            "https://x:pw@count.example.org/v2/report",
        ] {
            let d = decide(&endpoint, &endpoint, 308, Some(other.as_bytes()), 0);
            let Redirect::Refuse(why) = &d else {
                panic!("{other}: {d:?}")
            };
            assert!(!why.contains("pw") && !why.contains("other@"), "{why}");
        }
    }

    #[test]
    fn chains_are_bounded() {
        let endpoint = url("http://127.0.0.1:8080/report");
        let mut current = endpoint.clone();
        for followed in 0..MAX_REDIRECTS {
            let d = decide(&endpoint, &current, 308, Some(b"/again"), followed);
            current = match d {
                Redirect::Follow(u) => u,
                other => panic!("{other:?}"),
            };
        }
        let d = decide(&endpoint, &current, 308, Some(b"/again"), MAX_REDIRECTS);
        assert!(matches!(d, Redirect::Refuse(_)), "{d:?}");
        // A relative Location resolves against the URL that answered, not the endpoint.
        let d = decide(
            &endpoint,
            &url("http://127.0.0.1:8080/a/b"),
            307,
            Some(b"c"),
            0,
        );
        assert_eq!(follows(&d), Some("http://127.0.0.1:8080/a/c"));
    }
}
