//! The real `headcount daemon` answered with redirects by TLS receivers on loopback.
//!
//! A report goes to the configured endpoint's origin (scheme, host, port) and nowhere else; a
//! 307 or 308 within that origin is followed with the same POST and body; anything else (another
//! origin, a 301/302/303 that would turn the POST into a GET) is a retryable failure, never a
//! settlement. The journal names the URL that really took the report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{Ca, Receiver, Reply, Root};

const CA_PATH: &str = "/etc/headcount/test-ca.pem";

/// A root whose config posts to `endpoint`, trusting `ca`.
fn root(endpoint: &str, ca: &Ca) -> Root {
    let root = Root::new(&Root::config(
        endpoint,
        &format!("ca_file = \"{CA_PATH}\"\n"),
    ));
    root.write(CA_PATH.trim_start_matches('/'), &ca.pem);
    root
}

fn today() -> (String, String) {
    let now = Utc::now();
    (
        now.format("%Y-%m-%d").to_string(),
        now.format("%Y-%m").to_string(),
    )
}

#[test]
fn a_307_to_another_origin_delivers_the_report_nowhere_and_is_retried_later() {
    let ca = Ca::new("headcount test CA");
    let endpoint = Receiver::tls(ca.server());
    let elsewhere = Receiver::tls(ca.server());
    // Another host name and another port: another origin, with a certificate the CA signed.
    // Retry-After keeps the retry out of the test's window (a backoff may draw a second).
    endpoint.route(
        "/report",
        Reply::redirect(307, &elsewhere.url("https", "127.0.0.1")).retry_after("3600"),
    );
    let root = root(&endpoint.url("https", "localhost"), &ca);
    let mut d = root.daemon();
    d.wait_log("could not send the", 2, Duration::from_secs(20));
    // Give a followed redirect (or a retry that ignores Retry-After) the chance to show.
    std::thread::sleep(Duration::from_secs(2));
    let log = d.log();
    assert_eq!(elsewhere.connections(), 0, "{log}");
    assert!(elsewhere.received().is_empty(), "{log}");
    let got = endpoint.received();
    assert_eq!(got.len(), 2, "retried before Retry-After: {log}");
    assert!(got.iter().all(|r| r.method == "POST"));
    assert!(root.state().is_none(), "a redirect settled a period: {log}");
    assert!(!log.contains("sent daily report"), "{log}");
    assert!(!log.contains("sent monthly report"), "{log}");
    // The warning says what happened: a redirect to another origin, not followed.
    for window in ["daily", "monthly"] {
        let line = log
            .lines()
            .find(|l| l.contains(&format!("could not send the {window} report")))
            .unwrap();
        assert!(line.contains("307"), "{line}");
        assert!(line.contains("another origin"), "{line}");
        assert!(line.contains("not followed"), "{line}");
        assert!(line.contains("retrying until the period ends"), "{line}");
    }
    assert!(d.running());
    assert!(d.terminate().0.success());
}

#[test]
fn a_302_or_303_is_never_turned_into_a_get_and_settles_nothing() {
    let ca = Ca::new("headcount test CA");
    let rx = Receiver::tls(ca.server());
    // Same origin: the only thing wrong is the method change these codes imply.
    rx.replies([
        Reply::redirect(302, "/elsewhere").retry_after("3600"),
        Reply::redirect(303, "/elsewhere").retry_after("3600"),
    ]);
    let root = root(&rx.url("https", "localhost"), &ca);
    let mut d = root.daemon();
    d.wait_log("could not send the", 2, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    let log = d.log();
    let got = rx.received();
    assert_eq!(got.len(), 2, "{log}");
    for r in &got {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/report"));
    }
    assert!(root.state().is_none(), "{log}");
    assert!(log.contains("302") && log.contains("303"), "{log}");
    assert!(log.contains("not followed"), "{log}");
    assert!(!log.contains("sent daily report"), "{log}");
    assert!(d.terminate().0.success());
}

#[test]
fn a_same_origin_308_is_followed_and_the_journal_names_where_the_report_went() {
    let ca = Ca::new("headcount test CA");
    let rx = Receiver::tls(ca.server());
    rx.route("/report", Reply::redirect(308, "/v2/report"));
    let root = root(&rx.url("https", "localhost"), &ca);
    let mut d = root.daemon();
    let got = rx.wait_for(4, Duration::from_secs(20));
    let log = d.wait_log("sent monthly report", 1, Duration::from_secs(5));
    // Each report was posted twice: to the endpoint, then, whole, to where it pointed.
    let first: Vec<_> = got.iter().filter(|r| r.path == "/report").collect();
    let moved: Vec<_> = got.iter().filter(|r| r.path == "/v2/report").collect();
    assert_eq!((first.len(), moved.len()), (2, 2), "{got:?}");
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let mut bodies: Vec<_> = first.iter().map(|r| r.body.clone()).collect();
    let mut moved_bodies: Vec<_> = moved.iter().map(|r| r.body.clone()).collect();
    bodies.sort();
    moved_bodies.sort();
    assert_eq!(bodies, moved_bodies);
    let (day, month) = today();
    let port = rx.addr.port();
    for (window, period) in [("daily", &day), ("monthly", &month)] {
        let sent = format!(
            "sent {window} report for {period} (minimal) to https://localhost:{port}/v2/report"
        );
        assert_eq!(log.matches(&sent).count(), 1, "{sent:?} not in\n{log}");
    }
    let expected = format!("{{\"daily\":\"{day}\",\"monthly\":\"{month}\"}}\n");
    assert_eq!(root.wait_state(&expected), expected);
    assert!(d.terminate().0.success());
}
