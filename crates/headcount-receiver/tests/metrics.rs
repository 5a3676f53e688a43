//! `GET /metrics` as an operator's Prometheus sees it: on its own listener only, every answer
//! counted by its outcome, commits, folded values, cut connections and database errors, and not
//! one reported value in the text. On SQLite and on a real PostgreSQL server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{Backend, Client, Receiver, report};

const JSON: Option<&str> = Some("application/json");

/// A report whose `os.build` is `build`.
fn with_build(build: &str) -> Vec<u8> {
    String::from_utf8(report("daily", "43", "x86_64"))
        .unwrap()
        .replace("43.20261102.3.0", build)
        .into_bytes()
}

fn counts_answers_commits_and_folded_values(mut b: Backend) {
    let config = b.config(
        "[counts]\nk = 1\nmax_values = 2\n\
         [rate_limit]\nreports_per_second = 1\nburst = 4\n\
         [connections]\nrequest_timeout_secs = 1\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\n",
    );
    let r = Receiver::start(&b.url, Some(&config));
    let metrics = r.metrics_addr();
    assert_ne!(metrics, r.addr);

    // Not on the public listener; nothing but /metrics on the metrics listener.
    assert_eq!(r.get("/metrics").status, 404);
    let mut c = Client::connect(metrics);
    assert_eq!(
        c.request(
            "POST",
            "/v1/report",
            &[("Content-Type", "application/json")],
            &report("daily", "43", "x86_64")
        )
        .status,
        404
    );
    assert_eq!(r.metric("headcount_receiver_reports_accepted_total"), 0.0);

    // Refused before the rate limit: wrong type, declared too large.
    assert_eq!(r.post(Some("text/plain"), b"{}").status, 415);
    let mut c = Client::connect(r.addr);
    let big = c.request(
        "POST",
        "/v1/report",
        &[
            ("Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "5"),
        ],
        b"",
    );
    // Both framings at once: refused before routing.
    assert_eq!(big.status, 400);
    // Distinct builds until the rate limit answers: the first two keep a counter, the rest are
    // folded into other.
    let builds: Vec<String> = (1..=12).map(|i| format!("43.202611{i:02}.3.0")).collect();
    let (mut accepted, mut limited) = (0, 0);
    for b in &builds {
        match r.post(JSON, &with_build(b)).status {
            202 => accepted += 1,
            429 => {
                limited += 1;
                break;
            }
            s => panic!("status {s}"),
        }
    }
    assert!(accepted >= 4 && limited == 1, "{accepted} {limited}");
    // A trickling client is cut at the read deadline.
    let mut slow = std::net::TcpStream::connect(r.addr).unwrap();
    slow.write_all(b"POST /v1/report HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let t0 = Instant::now();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    assert!(t0.elapsed() < Duration::from_secs(5));

    let m = |s: &str| r.metric(s);
    assert_eq!(
        m("headcount_receiver_reports_accepted_total"),
        f64::from(accepted)
    );
    assert_eq!(m("headcount_receiver_rate_limited_total"), 1.0);
    assert_eq!(
        m(
            "headcount_receiver_reports_refused_total{status=\"415\",reason=\"unsupported_media_type\"}"
        ),
        1.0
    );
    assert_eq!(
        m("headcount_receiver_reports_refused_total{status=\"400\",reason=\"invalid_request\"}"),
        1.0
    );
    assert_eq!(
        m("headcount_receiver_values_folded_total{field=\"os.build\"}"),
        f64::from(accepted - 2)
    );
    assert_eq!(
        m("headcount_receiver_connections_cut_total{reason=\"read_deadline\"}"),
        1.0
    );
    let batches = m("headcount_receiver_commit_batches_total");
    assert!(
        batches >= 1.0 && batches <= f64::from(accepted),
        "{batches}"
    );
    assert_eq!(
        m("headcount_receiver_commit_duration_seconds_count"),
        batches
    );
    assert_eq!(
        m("headcount_receiver_commit_batch_reports_sum"),
        f64::from(accepted)
    );
    let errors: Vec<_> = r
        .metrics()
        .into_iter()
        .filter(|(s, _)| s.starts_with("headcount_receiver_database_errors_total"))
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{}", r.log_text());

    // Nothing reported shows: not a value, not a build.
    let text = String::from_utf8(
        Client::connect(metrics)
            .request("GET", "/metrics", &[], b"")
            .body,
    )
    .unwrap();
    for value in builds
        .iter()
        .map(String::as_str)
        .chain(["x86_64", "aws", "fedora", "m5.large"])
    {
        assert!(!text.contains(value), "{value} in\n{text}");
    }

    // The database goes away: the report is answered 503 and the error counted.
    let _lock;
    if let Some(pg) = b.postgres.as_mut() {
        pg.stop();
    } else {
        let path = b.url.strip_prefix("sqlite:").unwrap();
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        _lock = conn;
    }
    std::thread::sleep(Duration::from_secs(1)); // a token for the next report
    assert_eq!(r.post(JSON, &with_build(&builds[0])).status, 503);
    assert_eq!(m("headcount_receiver_reports_unavailable_total"), 1.0);
    assert!(m("headcount_receiver_database_errors_total{operation=\"commit\"}") >= 1.0);
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::Backend::sqlite()) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::Backend::postgres()) } )*
        }
    };
}

suite!(counts_answers_commits_and_folded_values);
