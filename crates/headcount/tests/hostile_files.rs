//! The real `headcount daemon` against a state directory and config fragments turned against
//! it: symlinks, FIFOs, /dev/zero, a huge file. It must never follow, block, read without a
//! bound or exit: a bad state file is one warning and an empty state, replaced at the next
//! store; a bad fragment is a config error naming it; SIGTERM is honoured throughout.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::{FileTypeExt, symlink};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{Daemon, Notify, Receiver, Root, mkfifo};

/// A daemon that only loads a tiny state file and sends two reports peaks well below this.
const PEAK_RSS_BOUND_KIB: u64 = 64 * 1024;

fn settled_state() -> String {
    let now = Utc::now();
    format!(
        "{{\"daily\":\"{}\",\"monthly\":\"{}\"}}\n",
        now.format("%Y-%m-%d"),
        now.format("%Y-%m")
    )
}

fn setup() -> (Receiver, Root) {
    let rx = Receiver::plain();
    let root = Root::new(&Root::config(&rx.url("http", "127.0.0.1"), ""));
    std::fs::create_dir_all(root.state_dir()).unwrap();
    (rx, root)
}

/// Names in the state directory (sorted).
fn state_dir_entries(root: &Root) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.state_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn assert_regular_state(root: &Root, d: &Daemon) {
    let expected = settled_state();
    assert_eq!(root.wait_state(&expected), expected, "{}", d.log());
    let meta = std::fs::symlink_metadata(root.state_dir().join("state.json")).unwrap();
    assert!(meta.file_type().is_file(), "{:?}", meta.file_type());
}

/// Waits for `needle` in the log while the daemon's peak RSS stays under the bound (killing it
/// as soon as it does not, so a regression cannot eat the machine's memory).
fn wait_log_bounded(d: &mut Daemon, needle: &str, n: usize) -> String {
    let t = Instant::now();
    loop {
        let peak = d.peak_rss_kib();
        if peak > PEAK_RSS_BOUND_KIB {
            let _ = d.child.kill();
            panic!(
                "peak RSS {peak} KiB > {PEAK_RSS_BOUND_KIB} KiB; log:\n{}",
                d.log()
            );
        }
        let log = d.log();
        if log.matches(needle).count() >= n {
            eprintln!("peak RSS {peak} KiB");
            return log;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "no {needle:?} in the log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn warnings(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains("WARN")).collect()
}

#[test]
fn a_symlink_at_the_temporary_name_is_removed_never_followed() {
    let (rx, root) = setup();
    let victim = root.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    // The temporary name the daemon used to write to, and one of the new pattern.
    for name in [".state.json.tmp", ".state.json.0123456789abcdef"] {
        symlink(&victim, root.state_dir().join(name)).unwrap();
    }
    let d = root.daemon();
    rx.wait_for(2, Duration::from_secs(20));
    assert_regular_state(&root, &d);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    // Stale temporary files are gone; nothing but the state is left behind.
    assert_eq!(state_dir_entries(&root), ["state.json"], "{}", d.log());
}

#[test]
fn a_fifo_state_file_neither_blocks_ready_nor_survives_the_next_store() {
    let (rx, root) = setup();
    mkfifo(&root.state_dir().join("state.json"));
    let mut notify = Notify::new(&root);
    let mut d = root.daemon_with(&[("NOTIFY_SOCKET", notify.path.as_os_str())]);
    let ready = notify.wait_for("READY=1", Duration::from_secs(5), |m| m.contains("READY=1"));
    assert!(ready.contains("STATUS=level minimal"), "{ready}");
    rx.wait_for(2, Duration::from_secs(20));
    assert_regular_state(&root, &d);
    let log = d.log();
    let warned = warnings(&log);
    assert_eq!(warned.len(), 1, "{log}");
    assert!(
        warned[0].contains("corrupt") && warned[0].contains("not a regular file"),
        "{log}"
    );
    assert!(d.terminate().0.success());
}

#[test]
fn a_fifo_at_the_old_temporary_name_after_the_first_send_blocks_nothing() {
    let (rx, root) = setup();
    // Planted while the first request is in flight: after the start's clean-up.
    let fifo = root.state_dir().join(".state.json.tmp");
    let planted = fifo.clone();
    rx.on_request(move |_| {
        if !planted.exists() {
            mkfifo(&planted);
        }
    });
    let mut d = root.daemon();
    rx.wait_for(2, Duration::from_secs(20));
    assert_regular_state(&root, &d);
    let (status, took) = d.terminate();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(1), "SIGTERM took {took:?}");
    // The next start removes the stale FIFO without opening it.
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let mut again = root.daemon();
    again.wait_log("reporting at level", 1, Duration::from_secs(5));
    let t = Instant::now();
    while fifo.exists() {
        assert!(t.elapsed() < Duration::from_secs(5), "{}", again.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(again.terminate().0.success());
}

#[test]
fn a_state_file_linked_to_dev_zero_is_refused_unread() {
    let (rx, root) = setup();
    symlink("/dev/zero", root.state_dir().join("state.json")).unwrap();
    refused_as_an_empty_state(&rx, &root, "symbolic link");
}

#[test]
fn a_300_mb_state_file_is_refused_by_its_size() {
    let (rx, root) = setup();
    // A valid state padded with 300 MB of whitespace: valid JSON, far beyond any real state.
    {
        use std::io::Write;
        let mut f = std::fs::File::create(root.state_dir().join("state.json")).unwrap();
        let pad = vec![b' '; 1 << 20];
        f.write_all(settled_state().trim_end().as_bytes()).unwrap();
        for _ in 0..300 {
            f.write_all(&pad).unwrap();
        }
    }
    refused_as_an_empty_state(&rx, &root, "larger than");
}

/// The daemon refuses the state file as a whole, with one warning naming `why`, reports the
/// periods it names (once) as for an empty state, and replaces it with a regular file.
fn refused_as_an_empty_state(rx: &Receiver, root: &Root, why: &str) {
    let mut d = root.daemon();
    let log = wait_log_bounded(&mut d, "sent monthly report", 1);
    assert_eq!(rx.received().len(), 2);
    let warned = warnings(&log);
    assert_eq!(warned.len(), 1, "{log}");
    assert!(
        warned[0].contains("corrupt") && warned[0].contains(why),
        "{log}"
    );
    assert_regular_state(root, &d);
    assert!(d.terminate().0.success());
}

#[test]
fn a_fifo_fragment_at_reload_is_a_config_error_not_a_hang() {
    let (rx, root) = setup();
    let mut notify = Notify::new(&root);
    let mut d = root.daemon_with(&[("NOTIFY_SOCKET", notify.path.as_os_str())]);
    notify.wait("READY=1", |m| m.contains("READY=1"));
    rx.wait_for(2, Duration::from_secs(20));
    let fifo = root.path().join("etc/headcount/config.d/60-fifo.toml");
    mkfifo(&fifo);
    d.signal(1);
    notify.wait("RELOADING=1", |m| m.contains("RELOADING=1"));
    notify.wait_for("READY=1 after the reload", Duration::from_secs(5), |m| {
        m.contains("READY=1")
    });
    let log = d.wait_log("keeping the old one", 1, Duration::from_secs(5));
    assert!(log.contains("60-fifo.toml"), "{log}");
    assert!(log.contains("not a regular file"), "{log}");
    let (status, took) = d.terminate();
    assert!(status.success());
    assert!(took < Duration::from_secs(1), "SIGTERM took {took:?}");
    // At start, the same fragment is an invalid config (exit 78), not a hang.
    let mut again = root.daemon();
    let status = again.wait(Duration::from_secs(5));
    assert_eq!(status.code(), Some(78), "{}", again.log());
    assert!(again.log().contains("60-fifo.toml"), "{}", again.log());
    assert!(Path::new(&fifo).exists());
}
