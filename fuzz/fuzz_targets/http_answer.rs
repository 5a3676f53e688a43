//! What the daemon makes of a receiver's answer: a 3xx with any `Location`, any `Retry-After`.
//! A followed redirect never leaves the endpoint's origin, never changes its credentials and
//! never exceeds the bound; a wait is never longer than the cap.
//!
//! Input: endpoint (byte), status (`u16`), redirects already followed (byte), the `Location`
//! (a record; none for length 0xFFFF), then the `Retry-After` value.
#![no_main]

use headcount::send::redirect::{MAX_REDIRECTS, Redirect, decide};
use headcount::send::{MAX_RETRY_AFTER, parse_retry_after};
use headcount_fuzz::Input;
use libfuzzer_sys::fuzz_target;
use url::Url;

const ENDPOINTS: &[&str] = &[
    "https://count.example.org/v1/report",
    "https://fleet:Pw-0f-the-fleet@count.example.org:8443/a/b/report?x=1",
    "http://127.0.0.1:8080/v1/report",
    "http://[::1]/report",
];

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let endpoint: Url = ENDPOINTS[usize::from(input.byte()) % ENDPOINTS.len()]
        .parse()
        .expect("endpoint");
    let status = input.u16();
    let followed = usize::from(input.byte() % 8);
    let location = input.record();
    let retry_after = String::from_utf8_lossy(input.rest());

    match decide(&endpoint, &endpoint, status, location, followed) {
        Redirect::Follow(next) => {
            assert!(matches!(status, 307 | 308), "{status}");
            assert!(followed < MAX_REDIRECTS);
            assert_eq!(next.origin(), endpoint.origin(), "{next}");
            assert_eq!(
                (next.username(), next.password()),
                (endpoint.username(), endpoint.password())
            );
            assert!(next.fragment().is_none());
        }
        Redirect::Refuse(why) => {
            assert!(why.contains("not followed"), "{why}");
            if let Some(pw) = endpoint.password() {
                assert!(!why.contains(pw), "{why}");
            }
        }
    }
    if let Some(wait) = parse_retry_after(&retry_after, headcount_fuzz::now()) {
        assert!(wait <= MAX_RETRY_AFTER, "{wait:?}");
    }
});
