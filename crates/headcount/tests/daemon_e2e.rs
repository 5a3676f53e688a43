//! The real `headcount daemon` against a receiver on loopback.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{Daemon, Receiver, Root, dead_port};

fn today() -> (String, String) {
    let now = Utc::now();
    (
        now.format("%Y-%m-%d").to_string(),
        now.format("%Y-%m").to_string(),
    )
}

/// Sorted (window, period) pairs of what the receiver got.
fn windows(received: &[common::Received]) -> Vec<(String, String)> {
    let mut v: Vec<_> = received
        .iter()
        .map(|r| {
            let j = r.json();
            (
                j["window"].as_str().unwrap().to_owned(),
                j["period"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

fn expected() -> Vec<(String, String)> {
    let (day, month) = today();
    vec![("daily".into(), day), ("monthly".into(), month)]
}

#[test]
fn first_start_sends_one_daily_and_one_monthly_then_a_restart_sends_nothing() {
    let rx = Receiver::plain();
    let root = Root::new(&Root::config(&rx.url("http", "127.0.0.1"), ""));
    let mut d = root.daemon();
    let got = rx.wait_for(2, Duration::from_secs(20));
    assert_eq!(windows(&got), expected(), "{}", d.log());
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/report");
        assert_eq!(
            r.header("user-agent"),
            Some(concat!("headcount/", env!("CARGO_PKG_VERSION")))
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("cookie"), None);
        assert!(!r.body.ends_with(b"\n"));
    }
    // Each accepted report is logged once, with the exact body.
    let log = d.wait_log("sent monthly report", 1, Duration::from_secs(5));
    let (day, month) = today();
    assert_eq!(
        log.matches(&format!(
            "sent daily report for {day} (minimal) to http://127.0.0.1:"
        ))
        .count(),
        1,
        "{log}"
    );
    for r in &got {
        // On stderr the fmt layer quotes string fields (the journal gets the raw bytes).
        let quoted = format!(
            "headcount_report={:?}",
            std::str::from_utf8(&r.body).unwrap()
        );
        assert!(log.contains(&quoted), "{quoted} not in\n{log}");
    }
    let expected_state = format!("{{\"daily\":\"{day}\",\"monthly\":\"{month}\"}}\n");
    assert_eq!(root.wait_state(&expected_state), expected_state);
    assert!(d.running());
    let (status, took) = d.terminate();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(1), "stop took {took:?}");

    // A restart the same day: READY, nothing due, nothing sent.
    let mut again = root.daemon();
    again.wait_log("reporting at level minimal", 1, Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rx.received().len(), 2, "{}", again.log());
    assert_eq!(rx.connections(), 2);
    assert!(again.running());
    let (status, _) = again.terminate();
    assert!(status.success());

    // `headcount status` reads the same state, without network.
    let out = root.command(&["status", "--json"]).output().unwrap();
    assert!(out.status.success());
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["level"], "minimal");
    let daily = s["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["window"] == "daily")
        .unwrap();
    assert_eq!(daily["last_settled"], day.as_str());
    assert_eq!(rx.connections(), 2);
}

#[test]
fn with_the_weekly_window_a_first_start_sends_three_reports_and_a_restart_none() {
    let rx = Receiver::plain();
    let root = Root::new(&Root::config(
        &rx.url("http", "127.0.0.1"),
        "windows = [\"daily\", \"weekly\", \"monthly\"]\n",
    ));
    let mut d = root.daemon();
    let got = rx.wait_for(3, Duration::from_secs(20));
    let (day, month) = today();
    let week = headcount_report::Period::containing(headcount_report::Window::Weekly, Utc::now())
        .to_string();
    let mut want = expected();
    want.push(("weekly".into(), week.clone()));
    want.sort();
    assert_eq!(windows(&got), want, "{}", d.log());
    d.wait_log(
        &format!("sent weekly report for {week} (minimal)"),
        1,
        Duration::from_secs(5),
    );
    let expected_state =
        format!("{{\"daily\":\"{day}\",\"weekly\":\"{week}\",\"monthly\":\"{month}\"}}\n");
    assert_eq!(root.wait_state(&expected_state), expected_state);
    let (status, _) = d.terminate();
    assert!(status.success(), "{status:?}");

    let mut again = root.daemon();
    again.wait_log("reporting at level minimal", 1, Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rx.received().len(), 3, "{}", again.log());
    let (status, _) = again.terminate();
    assert!(status.success());
    let out = root.command(&["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("weekly:      last settled {week};")),
        "{text}"
    );
}

#[test]
fn a_500_then_200_delivers_exactly_one_report_per_window() {
    let rx = Receiver::plain();
    rx.answer(&[500]);
    let root = Root::new(&Root::config(&rx.url("http", "127.0.0.1"), ""));
    let mut d = root.daemon();
    // The first answer fails; the retry comes after a full-jitter backoff of at most a minute.
    let got = rx.wait_for(3, Duration::from_secs(75));
    std::thread::sleep(Duration::from_secs(2));
    let got_after = rx.received();
    assert_eq!(got_after.len(), 3, "{}", d.log());
    // The failed one was retried once, and nothing else was sent twice.
    let mut w = windows(&got);
    w.dedup();
    assert_eq!(w, expected());
    let log = d.log();
    assert_eq!(log.matches("could not send the").count(), 1, "{log}");
    assert!(log.contains("500"), "{log}");
    assert!(d.running());
    assert!(d.terminate().0.success());
}

#[test]
fn a_400_is_settled_and_not_retried() {
    let rx = Receiver::plain();
    rx.default_status(400);
    let root = Root::new(&Root::config(&rx.url("http", "127.0.0.1"), ""));
    let mut d = root.daemon();
    rx.wait_for(2, Duration::from_secs(20));
    let log = d.wait_log("refused", 2, Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rx.received().len(), 2, "{log}");
    let (day, month) = today();
    let expected_state = format!("{{\"daily\":\"{day}\",\"monthly\":\"{month}\"}}\n");
    assert_eq!(root.wait_state(&expected_state), expected_state);
    assert!(!d.log().contains("sent daily report"));
    assert!(d.terminate().0.success());
    // A refused period is not sent again after a restart.
    let mut again = root.daemon();
    again.wait_log("reporting at level", 1, Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rx.received().len(), 2);
    assert!(again.terminate().0.success());
}

#[test]
fn an_unreachable_endpoint_keeps_the_daemon_running_with_one_warning_per_window() {
    let port = dead_port();
    let root = Root::new(&Root::config(
        &format!("http://127.0.0.1:{port}/report"),
        "",
    ));
    let mut d = root.daemon();
    // Wait for a second failure of each window (debug level), so "at most one warning" is
    // tested against repeated trouble. The first retry comes within a minute.
    let log = d.wait_log("failed again", 2, Duration::from_secs(130));
    assert!(d.running(), "{log}");
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(
        warnings
            .iter()
            .filter(|l| l.contains("daily report"))
            .count(),
        1,
        "{log}"
    );
    assert_eq!(
        warnings
            .iter()
            .filter(|l| l.contains("monthly report"))
            .count(),
        1,
        "{log}"
    );
    assert_eq!(warnings.len(), 2, "{log}");
    assert!(root.state().is_none(), "a failure settled something");
    let (status, took) = d.terminate();
    assert!(status.success());
    assert!(took < Duration::from_secs(1));
}

#[test]
fn sigterm_abandons_an_inflight_request_promptly_and_leaves_the_state() {
    let rx = Receiver::plain();
    rx.hang();
    let root = Root::new(&Root::config(&rx.url("http", "127.0.0.1"), ""));
    let mut d: Daemon = root.daemon();
    rx.wait_for(0, Duration::from_secs(1));
    let t = std::time::Instant::now();
    while rx.connections() == 0 {
        assert!(t.elapsed() < Duration::from_secs(10), "{}", d.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let (status, took) = d.terminate();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(1), "stop took {took:?}");
    assert!(root.state().is_none());
}

#[test]
fn an_invalid_config_exits_78() {
    let root = Root::new("[collecting]\nlevle = \"full\"\n");
    let mut d = root.daemon();
    let status = d.wait(Duration::from_secs(5));
    assert_eq!(status.code(), Some(78), "{}", d.log());
    assert!(d.log().contains("50-test.toml"), "{}", d.log());
}

/// Everything the daemon said on `NOTIFY_SOCKET` so far (one datagram per entry).
fn datagrams(sock: &std::os::unix::net::UnixDatagram, into: &mut Vec<String>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        into.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
}

fn wait_datagram(
    sock: &std::os::unix::net::UnixDatagram,
    seen: &mut Vec<String>,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> String {
    let t = std::time::Instant::now();
    loop {
        datagrams(sock, seen);
        if let Some(i) = seen.iter().position(|m| pred(m)) {
            // Later datagrams stay for the next wait.
            return seen.drain(..=i).next_back().unwrap();
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no {what} on NOTIFY_SOCKET; got {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn speaks_sd_notify_ready_status_watchdog_reload_and_stopping() {
    let rx = Receiver::plain();
    let root = Root::new(&Root::config(&rx.url("http", "127.0.0.1"), ""));
    let path = root.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    sock.set_nonblocking(true).unwrap();
    let mut seen = vec![];
    let mut d = root.daemon_with(&[
        ("NOTIFY_SOCKET", path.as_os_str()),
        ("WATCHDOG_USEC", std::ffi::OsStr::new("200000")),
    ]);
    let ready = wait_datagram(&sock, &mut seen, "READY=1", |m| m.contains("READY=1"));
    assert!(ready.contains("STATUS=level minimal"), "{ready}");
    rx.wait_for(2, Duration::from_secs(20));
    let (day, month) = today();
    let status = wait_datagram(&sock, &mut seen, "STATUS with both periods", |m| {
        m.contains(&format!("last settled: daily {day}, monthly {month};"))
            && m.contains("next due")
    });
    assert!(status.contains("next due"), "{status}");
    // WATCHDOG_USEC=200ms: pings every 100 ms.
    for _ in 0..3 {
        wait_datagram(&sock, &mut seen, "WATCHDOG=1", |m| m.trim() == "WATCHDOG=1");
    }
    // SIGHUP applies a changed level: RELOADING=1, then READY=1 with a STATUS naming it.
    root.write(
        "etc/headcount/config.d/60-level.toml",
        "[collecting]\nlevel = \"full\"\n",
    );
    d.signal(1);
    wait_datagram(&sock, &mut seen, "RELOADING=1", |m| {
        m.contains("RELOADING=1")
    });
    // READY=1 ends the reload, with the new status line.
    let after = wait_datagram(&sock, &mut seen, "READY=1 after reload", |m| {
        m.contains("READY=1")
    });
    assert!(after.contains("STATUS=level full"), "{after}");
    assert!(!after.contains("minimal"), "{after}");
    // An invalid config on reload is logged and the old one kept.
    root.write(
        "etc/headcount/config.d/70-bad.toml",
        "[collecting]\nlevel = 3\n",
    );
    d.signal(1);
    wait_datagram(&sock, &mut seen, "READY=1 after a bad reload", |m| {
        m.contains("READY=1")
    });
    assert!(d.running());
    d.wait_log("keeping the old one", 1, Duration::from_secs(5));
    std::fs::remove_file(root.path().join("etc/headcount/config.d/70-bad.toml")).unwrap();
    // No report was sent again by the reloads.
    assert_eq!(rx.received().len(), 2);
    let (status, took) = d.terminate();
    assert!(status.success());
    assert!(took < Duration::from_secs(1));
    wait_datagram(&sock, &mut seen, "STOPPING=1", |m| m.contains("STOPPING=1"));
}

#[test]
fn a_reload_to_level_off_exits_0() {
    let rx = Receiver::plain();
    let root = Root::new(&Root::config(&rx.url("http", "127.0.0.1"), ""));
    let mut d = root.daemon();
    rx.wait_for(2, Duration::from_secs(20));
    root.write(
        "etc/headcount/config.d/90-off.toml",
        "[collecting]\nlevel = \"off\"\n",
    );
    d.signal(1);
    let status = d.wait(Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    assert!(d.log().contains("nothing will be collected or sent"));
}

#[test]
fn without_a_system_trust_store_a_plain_http_loopback_endpoint_still_gets_reports() {
    // rustls's platform verifier refuses to start without system roots; SSL_CERT_* pointing
    // nowhere empties them, as on a minimal image without ca-certificates.
    let rx = Receiver::plain();
    let root = Root::new(&Root::config(&rx.url("http", "127.0.0.1"), ""));
    let nowhere = std::ffi::OsStr::new("/nonexistent/headcount-test");
    let mut d = root.daemon_with(&[
        ("SSL_CERT_FILE", nowhere),
        ("SSL_CERT_DIR", nowhere),
        ("HEADCOUNT_LOG", std::ffi::OsStr::new("debug")),
    ]);
    let got = rx.wait_for(2, Duration::from_secs(20));
    assert_eq!(windows(&got), expected(), "{}", d.log());
    assert!(
        d.log().contains("system trust roots unusable"),
        "{}",
        d.log()
    );
    assert!(d.terminate().0.success());
}

#[test]
fn status_after_a_reload_names_the_settled_periods_and_the_next_due_time_again() {
    let rx = Receiver::plain();
    let root = Root::new(&Root::config(&rx.url("http", "127.0.0.1"), ""));
    let mut notify = common::Notify::new(&root);
    let mut d = root.daemon_with(&[("NOTIFY_SOCKET", notify.path.as_os_str())]);
    rx.wait_for(2, Duration::from_secs(20));
    let (day, month) = today();
    let settled = format!("last settled: daily {day}, monthly {month}; next due ");
    notify.wait("STATUS with both periods", |m| m.contains(&settled));
    // A reload that changes nothing: the status line must come back whole, not stay "reloaded".
    for _ in 0..2 {
        d.signal(1);
        notify.wait("RELOADING=1", |m| m.contains("RELOADING=1"));
        let ready = notify.wait("READY=1 after the reload", |m| m.contains("READY=1"));
        std::thread::sleep(Duration::from_millis(300));
        let mut after = vec![ready];
        after.extend(notify.pending());
        // The last status line systemd got is complete again.
        let last = after.iter().rev().find(|m| m.contains("STATUS=")).unwrap();
        assert!(
            last.contains(&settled),
            "{last:?} after a reload; all: {after:?}"
        );
    }
    assert!(d.terminate().0.success());
}

#[test]
fn an_implausible_clock_is_logged_once_and_shown_in_status() {
    // A machine whose clock starts in 2020 (before this build's date), as without an RTC; the
    // state records today's periods, sent before the clock was lost.
    let preload = common::libfaketime();
    let faketime = [
        ("LD_PRELOAD", preload.as_os_str()),
        ("FAKETIME", std::ffi::OsStr::new("@2020-01-01 00:00:00")),
    ];
    let rx = Receiver::plain();
    let root = Root::new(&Root::config(&rx.url("http", "127.0.0.1"), ""));
    let (day, month) = today();
    let state = format!("{{\"daily\":\"{day}\",\"monthly\":\"{month}\"}}\n");
    root.write("state/state.json", &state);
    let mut notify = common::Notify::new(&root);
    let mut env = faketime.to_vec();
    env.push(("NOTIFY_SOCKET", notify.path.as_os_str()));
    let mut d = root.daemon_with(&env);
    let ready = notify.wait("READY=1", |m| m.contains("READY=1"));
    assert!(ready.contains("waiting for the clock"), "{ready}");
    assert!(!ready.contains("next due"), "{ready}");
    d.wait_log("before this build's date", 1, Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(2));
    let log = d.log();
    let warned: Vec<&str> = log.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warned.len(), 1, "{log}");
    assert!(warned[0].contains("2020-01-01"), "{log}");
    assert!(
        warned[0].contains("nothing is sent until the clock is set"),
        "{log}"
    );
    assert_eq!(rx.connections(), 0);
    // The state is not judged against that clock (it would look years "in the future").
    assert_eq!(root.state().as_deref(), Some(state.as_str()), "{log}");
    assert!(d.running());
    assert!(d.terminate().0.success());

    // `headcount status` under the same clock shows no due time that will not happen.
    let status = |json: bool| {
        let mut c = root.command(&["status"]);
        if json {
            c.arg("--json");
        }
        let out = c.envs(faketime).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let text = status(false);
    assert!(text.contains("before this build's date"), "{text}");
    assert!(!text.contains(" from "), "a due time: {text}");
    assert_eq!(
        text.matches("next once the clock is set").count(),
        2,
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&status(true)).unwrap();
    assert_eq!(json["clock"]["plausible"], false, "{json}");
    for w in json["windows"].as_array().unwrap() {
        assert!(w["next_due"].is_null(), "{json}");
    }
}
