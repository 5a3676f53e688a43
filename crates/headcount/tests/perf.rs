//! Daemon measurements for docs/development/performance.md ("Daemon"). Ignored by default:
//! they take over a minute. Run them with `tests/perf/run daemon`, which builds in release mode.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Ca, Receiver, Root};

const CA_PATH: &str = "/etc/headcount/test-ca.pem";
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/aws-fcos-x86_64"
);

/// Sum of a `/proc/PID/status` field over all of the process's threads.
fn proc_sum(pid: u32, field: &str) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status =
            std::fs::read_to_string(task.unwrap().path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

fn proc_field(pid: u32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .map(|l| l[field.len()..].trim().to_owned())
        .unwrap_or_default()
}

fn root_for(level: &str, endpoint: &str, ca: &Ca) -> Root {
    let root = Root::new(&Root::config(
        endpoint,
        &format!("ca_file = \"{CA_PATH}\"\n"),
    ));
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{FIXTURE}/."))
        .arg(root.path())
        .status()
        .unwrap();
    assert!(status.success());
    root.write(
        "etc/headcount/config.d/60-level.toml",
        &format!("[collecting]\nlevel = \"{level}\"\n"),
    );
    root.write(CA_PATH.trim_start_matches('/'), &ca.pem);
    root
}

#[test]
#[ignore = "takes over a minute; run tests/perf/run daemon"]
fn daemon_performance() {
    let idle_secs: u64 = std::env::var("PERF_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    // tests/perf/run points HEADCOUNT_BIN at the stripped release binary.
    let bin_path = std::env::var("HEADCOUNT_BIN").unwrap_or(env!("CARGO_BIN_EXE_headcount").into());
    let bin = Path::new(&bin_path);
    println!(
        "binary: {} ({} bytes)",
        bin.display(),
        std::fs::metadata(bin).unwrap().len()
    );
    for level in ["minimal", "full"] {
        let ca = Ca::new("perf CA");
        let rx = Receiver::tls(ca.server());
        let root = root_for(level, &rx.url("https", "localhost"), &ca);
        let sock_path = root.path().join("notify.sock");
        let sock = UnixDatagram::bind(&sock_path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = Instant::now();
        let template = root.command(&["daemon"]);
        let mut cmd = std::process::Command::new(bin);
        cmd.args(template.get_args());
        for (k, v) in template.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let mut child = cmd
            .env("NOTIFY_SOCKET", &sock_path)
            .env("HEADCOUNT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut buf = [0u8; 4096];
        let ready = loop {
            let n = sock.recv(&mut buf).unwrap();
            if String::from_utf8_lossy(&buf[..n]).contains("READY=1") {
                break started.elapsed();
            }
        };
        let got = rx.wait_for(2, Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(500));
        let wire = rx.wire();
        println!(
            "[{level}] start to READY=1: {:.1} ms",
            ready.as_secs_f64() * 1000.0
        );
        for (r, (inn, out)) in got.iter().zip(wire.iter()) {
            println!(
                "[{level}] {} report: body {} bytes; on the wire over TLS 1.3 {} bytes sent + {} bytes received = {} bytes",
                r.json()["window"].as_str().unwrap(),
                r.body.len(),
                inn,
                out,
                inn + out
            );
        }
        if level == "minimal" {
            let pid = child.id();
            // The blocking thread used for DNS retires after 1 s of idleness.
            std::thread::sleep(Duration::from_secs(3));
            println!(
                "[{level}] idle after both reports over TLS: VmRSS {} (anonymous {}, file {}), threads {}",
                proc_field(pid, "VmRSS:"),
                proc_field(pid, "RssAnon:"),
                proc_field(pid, "RssFile:"),
                proc_field(pid, "Threads:")
            );
            let before = proc_sum(pid, "voluntary_ctxt_switches:")
                + proc_sum(pid, "nonvoluntary_ctxt_switches:");
            std::thread::sleep(Duration::from_secs(idle_secs));
            let after = proc_sum(pid, "voluntary_ctxt_switches:")
                + proc_sum(pid, "nonvoluntary_ctxt_switches:");
            println!(
                "[{level}] context switches over {idle_secs} s idle (no watchdog): {}",
                after - before
            );
            assert_eq!(after, before, "the idle daemon woke up");
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
