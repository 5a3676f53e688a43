//! The real `headcount daemon` through a real SOCKS5 server, Debian's `microsocks` (tinyproxy has
//! no SOCKS), which tests/run installs as root; without it these tests fail with that
//! instruction (they never skip).
//!
//! microsocks logs `client[N] ADDR: connected to HOST:PORT` for every connection it carries, so
//! the log shows both that the report went through it and who resolved the host name:
//! `socks5h://` hands the name to the proxy, `socks5://` resolves it here.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Ca, Daemon, Receiver, Root, dead_port};

const USER: &str = "counter";
const PASSWORD: &str = "s0cks-s3cr3t-pw";
const CA_PATH: &str = "/etc/headcount/test-ca.pem";

struct Microsocks {
    port: u16,
    log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Microsocks {
    /// A SOCKS5 server on loopback that wants `USER`/`PASSWORD`.
    fn start() -> Microsocks {
        let bin = Path::new("/usr/bin/microsocks");
        assert!(
            bin.exists(),
            "microsocks is not installed: run tests/run as root (it installs the Debian packages \
             in tests/apt-packages), or apt-get install microsocks"
        );
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("microsocks.log");
        let port = dead_port();
        let child = Command::new(bin)
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-u",
                USER,
                "-P",
                PASSWORD,
            ])
            .stdin(Stdio::null())
            // It logs each connection on stderr.
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        common::wait_listening(port, || "microsocks did not start".to_owned());
        Microsocks {
            port,
            log,
            child,
            _dir: dir,
        }
    }

    fn url(&self, scheme: &str, password: &str) -> String {
        format!("{scheme}://{USER}:{password}@127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the daemon and waits for its daily and monthly reports.
fn both_reports(root: &Root, rx: &Receiver) -> Daemon {
    let d = root.daemon();
    let got = rx.wait_for(2, Duration::from_secs(20));
    assert_eq!(common::windows(&got), ["daily", "monthly"], "{}", d.log());
    d
}

#[test]
fn socks5h_hands_the_host_name_to_the_proxy_and_hides_the_credentials() {
    let rx = Receiver::plain();
    let socks = Microsocks::start();
    let endpoint = rx.url("http", "localhost");
    let root = Root::new(&Root::config(
        &endpoint,
        &format!("proxy = \"{}\"\n", socks.url("socks5h", PASSWORD)),
    ));
    let mut d = both_reports(&root, &rx);
    let log = socks.log();
    assert_eq!(
        log.matches(&format!("connected to localhost:{}", rx.addr.port()))
            .count(),
        2,
        "microsocks resolved the name for both reports:\n{log}"
    );
    let dlog = d.wait_log("sent monthly report", 1, Duration::from_secs(5));
    assert!(
        dlog.contains("via proxy socks5h://***@127.0.0.1:"),
        "{dlog}"
    );
    assert!(!dlog.contains(PASSWORD), "{dlog}");
    let status = root.command(&["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("socks5h://***@127.0.0.1:"), "{text}");
    assert!(!text.contains(PASSWORD) && !text.contains(USER), "{text}");
    let check = root.command(&["check-config"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&check.stdout).contains(PASSWORD));
    assert!(d.terminate().0.success());
}

#[test]
fn socks5_resolves_here_and_carries_tls_to_a_receiver_trusted_via_ca_file() {
    let ca = Ca::new("headcount test CA");
    let rx = Receiver::tls(ca.server());
    let socks = Microsocks::start();
    let root = Root::new(&Root::config(
        &rx.url("https", "localhost"),
        &format!(
            "proxy = \"{}\"\nca_file = \"{CA_PATH}\"\n",
            socks.url("socks5", PASSWORD)
        ),
    ));
    root.write(CA_PATH.trim_start_matches('/'), &ca.pem);
    let mut d = both_reports(&root, &rx);
    let log = socks.log();
    // `localhost` resolved by the daemon: the proxy was asked for an address.
    assert!(
        log.contains(&format!("connected to 127.0.0.1:{}", rx.addr.port()))
            || log.contains(&format!("connected to ::1:{}", rx.addr.port())),
        "{log}"
    );
    assert!(!log.contains("connected to localhost"), "{log}");
    assert!(d.terminate().0.success());
}

#[test]
fn a_refused_socks_login_is_a_retried_failure_that_never_shows_the_password() {
    let rx = Receiver::plain();
    let socks = Microsocks::start();
    let wrong = "wr0ng-pw";
    let root = Root::new(&Root::config(
        &rx.url("http", "127.0.0.1"),
        &format!("proxy = \"{}\"\n", socks.url("socks5h", wrong)),
    ));
    let mut d = root.daemon();
    let log = d.wait_log("could not send the", 2, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(300));
    assert!(d.running(), "{log}");
    assert_eq!(rx.connections(), 0, "the report went around the proxy");
    assert!(root.state().is_none());
    assert!(!d.log().contains(wrong), "{}", d.log());
    assert!(d.terminate().0.success());
}

#[test]
fn only_socks5_and_socks5h_are_accepted_beside_http() {
    for (proxy, ok) in [
        ("socks5://127.0.0.1:1080", true),
        ("socks5h://u:p@proxy.internal:1080", true),
        ("socks4://127.0.0.1:1080", false),
        ("socks://127.0.0.1:1080", false),
    ] {
        let root = Root::new(&format!(
            "[reporting]\nendpoint = \"https://counts.example.org/r\"\nproxy = \"{proxy}\"\n"
        ));
        let out = root.command(&["check-config"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.success(), ok, "{proxy}: {err}");
        if !ok {
            assert_eq!(out.status.code(), Some(78));
            assert!(
                err.contains("allowed \"http\", \"https\", \"socks5\", \"socks5h\""),
                "{err}"
            );
            assert!(
                !err.contains("127.0.0.1:1080"),
                "the proxy URL is never echoed: {err}"
            );
        }
    }
}
