//! The real `headcount daemon` through a real tinyproxy (CONNECT) to a TLS receiver whose
//! certificate comes from a test CA given by `ca_file`.
//!
//! tinyproxy is a Debian package that tests/run installs as root; without it these tests fail
//! with that instruction (they never skip).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Ca, Daemon, PROXY_PASSWORD, PROXY_USER, Receiver, Root, Tinyproxy, dead_port};

const CA_PATH: &str = "/etc/headcount/test-ca.pem";

fn config(endpoint: &str, proxy: &str) -> String {
    Root::config(
        endpoint,
        &format!("proxy = \"{proxy}\"\nca_file = \"{CA_PATH}\"\n"),
    )
}

/// A daemon posting through tinyproxy to `rx`, trusting `ca` (its root and its proxy kept alive).
fn through_tinyproxy(rx: &Receiver, ca: &Ca) -> (Tinyproxy, Root, Daemon) {
    let proxy = Tinyproxy::start(rx.addr.port());
    let root = Root::new(&config(&rx.url("https", "localhost"), &proxy.url()));
    root.write(CA_PATH.trim_start_matches('/'), &ca.pem);
    let d = root.daemon();
    (proxy, root, d)
}

#[test]
fn reports_go_through_tinyproxy_by_connect_to_a_tls_receiver_trusted_via_ca_file() {
    let ca = Ca::new("headcount test CA");
    let rx = Receiver::tls(ca.server());
    let (proxy, root, mut d) = through_tinyproxy(&rx, &ca);
    let got = rx.wait_for(2, Duration::from_secs(30));
    assert_eq!(common::windows(&got), ["daily", "monthly"], "{}", d.log());
    let log = d.wait_log("sent monthly report", 1, Duration::from_secs(5));
    assert!(log.contains("to https://localhost:"), "{log}");
    // tinyproxy carried them by CONNECT (and checked the credentials from the proxy URL).
    let plog = proxy.log();
    assert!(
        plog.contains(&format!("CONNECT localhost:{}", rx.addr.port())),
        "tinyproxy log shows no CONNECT:\n{plog}"
    );
    // The proxy's credentials appear nowhere in what the daemon logged or the status prints.
    assert!(!log.contains(PROXY_PASSWORD), "{log}");
    let status = root.command(&["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("127.0.0.1"), "{text}");
    assert!(
        !text.contains(PROXY_PASSWORD) && !text.contains(PROXY_USER),
        "{text}"
    );
    assert!(d.terminate().0.success());
}

#[test]
fn a_dead_proxy_is_like_an_unreachable_endpoint() {
    let ca = Ca::new("headcount test CA");
    let rx = Receiver::tls(ca.server());
    let root = Root::new(&config(
        &rx.url("https", "localhost"),
        &format!(
            "http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{}",
            dead_port()
        ),
    ));
    root.write(CA_PATH.trim_start_matches('/'), &ca.pem);
    let mut d = root.daemon();
    let log = d.wait_log("could not send the", 2, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    assert!(d.running(), "{log}");
    assert_eq!(rx.connections(), 0);
    assert!(root.state().is_none());
    assert!(!d.log().contains(PROXY_PASSWORD), "{}", d.log());
    assert!(d.terminate().0.success());
}

#[test]
fn a_receiver_whose_certificate_the_ca_did_not_sign_never_gets_a_report() {
    let ca = Ca::new("headcount test CA");
    let impostor = Ca::new("some other CA");
    let rx = Receiver::tls(impostor.server());
    let (_proxy, root, mut d) = through_tinyproxy(&rx, &ca);
    let log = d.wait_log("could not send the", 2, Duration::from_secs(20));
    assert!(
        log.to_lowercase().contains("certificate"),
        "the failure should name the certificate:\n{log}"
    );
    // The TLS handshake got as far as the receiver, but no request was ever made.
    assert!(rx.connections() >= 1);
    assert!(rx.received().is_empty());
    assert!(root.state().is_none());
    assert!(d.running());
    assert!(d.terminate().0.success());
}
