//! The real `headcount daemon` and the operator's controls: an opt-out on the kernel command line
//! or in the old pinger's config, a reload to off in the middle of a send, the login notice.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use common::{Daemon, Receiver, Root};

/// Waits for the receiver to have a connection open (a request in flight).
fn wait_connection(rx: &Receiver, d: &Daemon) {
    let t = Instant::now();
    while rx.connections() == 0 {
        assert!(t.elapsed() < Duration::from_secs(10), "{}", d.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_reload_to_off_abandons_the_send_in_flight_and_exits() {
    let rx = Receiver::plain();
    rx.hang();
    // A long timeout: without the fix the daemon would sit in the request for 30 s.
    let root = long_timeout_root(&rx);
    let mut d = root.daemon();
    wait_connection(&rx, &d);
    std::thread::sleep(Duration::from_millis(200));
    root.write(
        "etc/headcount/config.d/90-level.toml",
        "[collecting]\nlevel = \"off\"\n",
    );
    let t = Instant::now();
    d.signal(1);
    let status = d.wait(Duration::from_secs(2));
    assert!(status.success(), "{status:?}\n{}", d.log());
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
    let log = d.log();
    assert!(log.contains("abandoned the"), "{log}");
    assert!(
        !log.contains("sent daily report") && !log.contains("sent monthly report"),
        "{log}"
    );
    assert!(root.state().is_none(), "an abandoned send settled a period");
    assert!(rx.received().is_empty());
}

#[test]
fn a_reload_during_a_send_that_keeps_reporting_leaves_the_request_alone() {
    let rx = Receiver::plain();
    rx.hang();
    let root = long_timeout_root(&rx);
    let path = root.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    sock.set_nonblocking(true).unwrap();
    let mut d = root.daemon_with(&[("NOTIFY_SOCKET", path.as_os_str())]);
    wait_connection(&rx, &d);
    root.write(
        "etc/headcount/config.d/60-level.toml",
        "[collecting]\nlevel = \"full\"\n",
    );
    d.signal(1);
    d.wait_log("configuration reloaded", 1, Duration::from_secs(5));
    // The reload ends (READY=1, with the new level) while the request is still in flight, so
    // systemd does not sit in "reloading" until the answer comes.
    let t = Instant::now();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !(seen.contains("RELOADING=1") && seen.contains("READY=1\nSTATUS=level full")) {
        assert!(t.elapsed() < Duration::from_secs(5), "{seen}");
        while let Ok(n) = sock.recv(&mut buf) {
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            seen.push('|');
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let reloaded = &seen[seen.rfind("READY=1\nSTATUS=level full").unwrap()..];
    assert!(
        reloaded.contains("sending daily") || reloaded.contains("sending monthly"),
        "{seen}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(d.running());
    // The request is still open (a closed connection would be in `wire`), and not repeated.
    assert!(rx.wire().is_empty(), "{:?}", rx.wire());
    assert_eq!(rx.connections(), 1);
    assert!(!d.log().contains("abandoned"), "{}", d.log());
    assert!(d.terminate().0.success());
}

#[test]
fn every_opt_out_sends_nothing_writes_nothing_and_exits_0() {
    for (file, text) in [
        (
            "etc/headcount/config.d/90-off.toml",
            "[collecting]\nlevel = \"off\"\n",
        ),
        (
            "proc/cmdline",
            "BOOT_IMAGE=/vmlinuz ro headcount.level=off\n",
        ),
        (
            "etc/fedora-coreos-pinger/config.d/99-disable-reporting.toml",
            "[reporting]\nenabled = false\n",
        ),
    ] {
        let rx = Receiver::plain();
        let root = Root::new(&Root::config(&rx.url("http", "127.0.0.1"), ""));
        root.write(file, text);
        let mut d = root.daemon();
        let status = d.wait(Duration::from_secs(5));
        assert!(status.success(), "{file}: {}", d.log());
        assert!(
            d.log()
                .contains("level is off: nothing will be collected or sent"),
            "{file}: {}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(rx.connections(), 0, "{file}");
        assert!(!root.state_dir().exists(), "{file}");
    }
}

/// `headcount daemon` as systemd starts it: with `$RUNTIME_DIRECTORY` and the unit's UMask=0077.
/// A root whose requests wait 30 s for an answer.
fn long_timeout_root(rx: &Receiver) -> Root {
    Root::new(
        &Root::config(&rx.url("http", "127.0.0.1"), "")
            .replace("timeout_secs = 5", "timeout_secs = 30"),
    )
}

fn daemon_under_systemd_umask(root: &Root, runtime: &std::path::Path) -> Daemon {
    let mut command = root.command_umask_077(&["daemon"]);
    command.env("RUNTIME_DIRECTORY", runtime);
    root.spawn(command)
}

#[test]
fn the_login_notice_follows_the_level_and_goes_with_the_daemon() {
    let rx = Receiver::plain();
    // Delays of a day: the notice is about what the daemon is set to do, not what it did.
    let root = Root::new(&Root::config(&rx.url("http", "127.0.0.1"), "").replace(
        "max_startup_delay_secs = 0",
        "max_startup_delay_secs = 86000",
    ));
    let runtime = root.path().join("run/headcount/notice");
    std::fs::create_dir_all(&runtime).unwrap();
    let notice = runtime.join("motd");
    let mut d = daemon_under_systemd_umask(&root, &runtime);
    let wait_notice = |what: &str, pred: &dyn Fn(Option<String>) -> bool| {
        let t = Instant::now();
        loop {
            let text = std::fs::read_to_string(&notice).ok();
            if pred(text.clone()) {
                return text;
            }
            assert!(t.elapsed() < Duration::from_secs(5), "{what}: {text:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let text = wait_notice("the notice at minimal", &|t| t.is_some()).unwrap();
    let host = format!("127.0.0.1:{}", rx.addr.port());
    assert_eq!(
        text,
        format!(
            "headcount: this machine reports anonymous counts at level minimal to {host}.\n\
             See what is sent with `headcount preview`; turn it off with `sudo headcount level off`.\n"
        )
    );
    // Readable by the user logging in, whatever the service's umask.
    let mode = std::fs::metadata(&notice).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
    // A reload to full says so.
    root.write(
        "etc/headcount/config.d/60-level.toml",
        "[collecting]\nlevel = \"full\"\n",
    );
    d.signal(1);
    wait_notice("the notice at full", &|t| {
        t.is_some_and(|t| t.contains("at level full"))
    });
    // `headcount status` shows the same two lines.
    let status = root.command(&["status"]).output().unwrap();
    assert!(String::from_utf8_lossy(&status.stdout).contains(&text.replace("minimal", "full")));
    // Off: the daemon exits and the notice is gone.
    root.write(
        "etc/headcount/config.d/90-level.toml",
        "[collecting]\nlevel = \"off\"\n",
    );
    d.signal(1);
    assert!(d.wait(Duration::from_secs(5)).success(), "{}", d.log());
    assert!(!notice.exists());
    assert_eq!(rx.connections(), 0);
    // SIGTERM takes it away too.
    std::fs::remove_file(root.path().join("etc/headcount/config.d/90-level.toml")).unwrap();
    let mut d = daemon_under_systemd_umask(&root, &runtime);
    wait_notice("the notice after a restart", &|t| t.is_some());
    assert!(d.terminate().0.success());
    assert!(!notice.exists());
}
