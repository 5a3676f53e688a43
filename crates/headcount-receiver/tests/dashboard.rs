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
const SPEC: &str = include_str!("../../../dist/headcount.spec");

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
    // The package declares the library it compiles in, at the vendored version (Fedora's
    // guidelines for bundled JavaScript); tests/system/test_dist.py reads the built RPM.
    let provides = format!("bundled(js-uplot) = {version}");
    assert!(RECEIVER.contains(&format!("`Provides: {provides}`")));
    assert!(
        SPEC.lines()
            .any(|l| l.starts_with("Provides:") && l.ends_with(&provides))
    );
    let top = app_constant("TOP");
    assert!(RECEIVER.contains(&format!("the top {top} values of the range")));
    let max = app_constant("MAX_PERIODS");
    assert_eq!(max, headcount_receiver::views::MAX_SERIES_PERIODS);
    assert!(RECEIVER.contains(&format!("up to {max} periods")));
    assert!(RECEIVER.contains("](images/dashboard.png)"));
    // Every window's presets, as the page offers them: `per week (the last 12 weeks to 2 years)`.
    let presets = &APP[APP.find("const PRESETS = {").unwrap()..];
    let presets = &presets[..presets.find("};").unwrap()];
    for (window, noun) in [("daily", "day"), ("weekly", "week"), ("monthly", "month")] {
        let line = presets
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{window}: ")))
            .unwrap_or_else(|| panic!("app.js has no presets for {window}"));
        let labels: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
        let (first, last) = (labels[0], labels[labels.len() - 1]);
        let described = format!(
            "per {noun} (the {first} to {})",
            last.trim_start_matches("last ")
        );
        assert!(
            RECEIVER.replace("\n  ", " ").contains(&described),
            "receiver.md does not say {described:?}"
        );
    }
    assert!(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/usage/images/dashboard.png")
            .exists()
    );
}

/// Runs `import` on the rows `csv` (export's format, without its header).
fn import(db: &str, csv: &str) {
    let csv = format!("window,period,field,value,count\n{csv}");
    use std::io::Write;
    let mut child = std::process::Command::new(common::BIN)
        .args(["import", "--database", db])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(csv.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until `path` answers 200 (the receiver releases closed periods at start).
fn wait_for(r: &Receiver, path: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let answer = r.get(path);
        if answer.status == 200 {
            return answer.json();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path}: {}",
            answer.status
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// What the page asks to learn whether this receiver counts weeks (app.js, `newestRelease`):
/// `level` per week over the 1000 weeks up to the one a year from today. True when a released
/// week shows a value of it; the answer's periods besides.
fn weeks_offered(r: &Receiver) -> (bool, Vec<String>) {
    use chrono::{Duration, Utc};
    let to = Utc::now().date_naive() + Duration::days(366);
    let from = to - Duration::weeks(999);
    let answer = r.get(&format!(
        "/v1/series?window=weekly&field=level&from={}&to={}",
        from.format("%G-W%V"),
        to.format("%G-W%V")
    ));
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let series = answer.json();
    let periods = series["periods"].as_array().unwrap();
    let offered = periods
        .iter()
        .any(|p| p["values"].as_object().is_some_and(|v| !v.is_empty()));
    let names = periods
        .iter()
        .map(|p| p["period"].as_str().unwrap().to_owned())
        .collect();
    (offered, names)
}

/// The page offers the weekly window by what the receiver releases: not for the empty weeks it
/// releases from its first start on (nor for weekly counters of the open week), but once a
/// closed week with weekly reports is released.
#[test]
fn the_weekly_window_is_offered_only_once_a_week_with_reports_is_released() {
    use chrono::{Datelike, Duration, Utc};
    let b = Backend::sqlite();
    let now = Utc::now();
    let today = now.date_naive();
    let week = |d: chrono::NaiveDate| d.format("%G-W%V").to_string();
    // Days and months counted; weeks only in this week's open period.
    let closed_day = (today - Duration::days(3)).format("%Y-%m-%d");
    import(
        &b.url,
        &format!(
            "daily,{closed_day},level,minimal,5000\nweekly,{},level,minimal,5000\n",
            week(today)
        ),
    );
    let r = Receiver::start(&b.url, None);
    wait_for(&r, &format!("/v1/counts?window=daily&period={closed_day}"));
    // Last week closes this Monday at 02:00 UTC (the default grace of 2 h), and is released,
    // empty, a minute later.
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let last_week = week(monday - Duration::days(7));
    let closed = monday.and_hms_opt(2, 5, 0).unwrap().and_utc();
    if now > closed {
        let empty = wait_for(&r, &format!("/v1/counts?window=weekly&period={last_week}"));
        assert!(
            empty["fields"]
                .as_object()
                .unwrap()
                .values()
                .all(|f| f["values"] == serde_json::json!({})),
            "{empty}"
        );
    }
    let (offered, periods) = weeks_offered(&r);
    assert!(!offered, "{periods:?}");
    assert!(!periods.contains(&week(today)), "{periods:?}");
    if now > closed {
        assert!(periods.contains(&last_week), "{periods:?}");
    }
    drop(r);

    // A closed week with weekly reports: released at the next start, and the page offers weeks.
    let counted = week(monday - Duration::days(21));
    import(&b.url, &format!("weekly,{counted},level,minimal,5000\n"));
    let r = Receiver::start(&b.url, None);
    wait_for(&r, &format!("/v1/counts?window=weekly&period={counted}"));
    let (offered, periods) = weeks_offered(&r);
    assert!(offered, "{periods:?}");
    assert!(periods.contains(&counted) && !periods.contains(&week(today)));
}
