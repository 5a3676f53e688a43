//! Every exit code the binary documents, reached the way a user reaches it. 0, 2, 77 and 78
//! are also asserted where their commands are tested (config.rs, level.rs).
#![allow(clippy::unwrap_used)]

use std::fs;
use std::process::{Command, Stdio};

mod common;
use common::Root;

fn headcount() -> Command {
    Command::new(env!("CARGO_BIN_EXE_headcount"))
}

fn code(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn success_and_usage() {
    assert_eq!(code(headcount().arg("schema")).0, Some(0));
    assert_eq!(code(headcount().arg("--no-such-option")).0, Some(2));
}

#[test]
fn output_that_cannot_be_written_is_a_failure() {
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let (status, stderr) = code(headcount().arg("schema").stdout(full));
    assert_eq!(status, Some(i32::from(headcount::EXIT_FAILURE)), "{stderr}");
    assert!(
        stderr.starts_with("headcount: cannot write output: "),
        "{stderr}"
    );
}

#[test]
fn an_invalid_configuration_is_ex_config() {
    let root = Root::new("[reporting]\ntimeout_secs = 0\n");
    let (status, stderr) = code(headcount().arg("--root").arg(root.path()).arg("daemon"));
    assert_eq!(status, Some(i32::from(headcount::EXIT_CONFIG)), "{stderr}");
}

#[test]
fn a_daemon_that_cannot_set_up_is_ex_software() {
    let root = Root::new("[reporting]\nendpoint = \"http://127.0.0.1:9/report\"\n");
    // Enough descriptors to read the configuration, too few for the runtime, timer and
    // signal handlers.
    let script = format!(
        "ulimit -n 4 && exec {} --root {} daemon",
        env!("CARGO_BIN_EXE_headcount"),
        root.path().display()
    );
    let (status, stderr) = code(
        Command::new("sh")
            .args(["-c", &script])
            .env("STATE_DIRECTORY", root.state_dir())
            .env_remove("NOTIFY_SOCKET"),
    );
    assert_eq!(
        status,
        Some(i32::from(headcount::EXIT_SOFTWARE)),
        "{stderr}"
    );
    assert!(stderr.contains("headcount: cannot start: "), "{stderr}");
}
