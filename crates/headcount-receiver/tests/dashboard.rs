//! The dashboard as the real binary serves it: the page and every file it loads, beside the
//! views it reads (what the page does with them is tested in a real Chromium,
//! tests/system/test_dashboard.py).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, Client, Receiver};
use headcount_receiver::dashboard::{ASSETS, ASSETS_PREFIX, CONTENT_SECURITY_POLICY, INDEX_PATH};

#[test]
fn the_receiver_serves_the_dashboard_beside_the_views() {
    let b = Backend::sqlite();
    let r = Receiver::start(&b.url, None);
    let mut client = Client::connect(r.addr);
    for asset in ASSETS {
        let answer = client.request("GET", asset.path, &[], b"");
        assert_eq!(answer.status, 200, "{}", asset.path);
        assert_eq!(answer.body, asset.body, "{}", asset.path);
        assert_eq!(answer.header("content-type"), Some(asset.content_type));
        assert_eq!(
            answer.header("content-security-policy"),
            Some(CONTENT_SECURITY_POLICY)
        );
        let tag = answer.header("etag").unwrap().to_owned();
        let again = client.request("GET", asset.path, &[("If-None-Match", &tag)], b"");
        assert_eq!((again.status, again.body.len()), (304, 0), "{}", asset.path);
    }
    let page = String::from_utf8(client.request("GET", INDEX_PATH, &[], b"").body).unwrap();
    assert!(page.contains("<script src=\"dashboard/app.js\" defer></script>"));
    // What the page reads first, on the same connection: released (yesterday, once it closed)
    // or not yet, as JSON either way.
    let counts = client.request("GET", "/v1/counts?window=daily", &[], b"");
    assert!([200, 404].contains(&counts.status), "{}", counts.status);
    assert!(counts.json().is_object());
}

const RECEIVER: &str = include_str!("../../../docs/usage/receiver.md");
const APP: &str = include_str!("../src/dashboard/app.js");
const SOURCE: &str = include_str!("../src/dashboard/vendor/SOURCE");

/// The number a `const NAME = N;` line of app.js sets.
fn app_constant(name: &str) -> usize {
    let line = APP
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("const {name} = ")))
        .unwrap_or_else(|| panic!("app.js has no const {name}"));
    line.trim_end_matches(';').parse().unwrap()
}

#[test]
fn the_receiver_page_describes_the_dashboard_as_built() {
    for asset in &ASSETS[1..] {
        let name = asset.path.strip_prefix(ASSETS_PREFIX).unwrap();
        assert!(
            RECEIVER.contains(&format!("`{name}`"))
                || RECEIVER.contains(&format!("`dashboard/{name}`")),
            "receiver.md does not name {name}"
        );
    }
    let version = SOURCE
        .lines()
        .find_map(|l| l.strip_prefix("version "))
        .unwrap();
    assert!(RECEIVER.contains(&format!("uPlot {version} (MIT licence")));
    let top = app_constant("TOP");
    assert!(RECEIVER.contains(&format!("the top {top} values of the range")));
    let max = app_constant("MAX_PERIODS");
    assert_eq!(max, headcount_receiver::views::MAX_SERIES_PERIODS);
    assert!(RECEIVER.contains(&format!("up to {max} periods")));
    assert!(RECEIVER.contains("](images/dashboard.png)"));
    assert!(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/usage/images/dashboard.png")
            .exists()
    );
}
