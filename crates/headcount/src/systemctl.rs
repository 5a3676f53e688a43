//! Asking systemd about `headcount.service`, and telling it what to do, through `systemctl`:
//! the four calls `headcount level` needs, with a bound on each, and no D-Bus library for them.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The unit.
pub const UNIT: &str = "headcount.service";
/// How long a `systemctl show` may take.
pub const SHOW_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a start, stop or reload job may take (the unit stops within 5 s, TimeoutStopSec).
pub const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// What systemd says about the unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitState {
    /// `loaded`, `not-found`, `masked`, ...
    pub load_state: String,
    /// `active`, `reloading`, `inactive`, `failed`, `activating`, `deactivating`.
    pub active_state: String,
    /// `enabled`, `disabled`, `masked`, `static`, ... (empty when not installed).
    pub unit_file_state: String,
    /// The daemon's last `STATUS=`.
    pub status_text: String,
}

impl UnitState {
    /// Whether a process of the unit may be running (and so might send).
    pub fn running(&self) -> bool {
        matches!(
            self.active_state.as_str(),
            "active" | "reloading" | "activating" | "deactivating"
        )
    }

    /// Whether the unit starts at boot.
    pub fn enabled(&self) -> bool {
        matches!(self.unit_file_state.as_str(), "enabled" | "enabled-runtime")
    }

    /// Parses `systemctl show` output (`Key=Value` lines).
    pub fn parse(text: &str) -> UnitState {
        let mut s = UnitState::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let slot = match key {
                "LoadState" => &mut s.load_state,
                "ActiveState" => &mut s.active_state,
                "UnitFileState" => &mut s.unit_file_state,
                "StatusText" => &mut s.status_text,
                _ => continue,
            };
            *slot = value.to_owned();
        }
        s
    }
}

/// The service manager, as `headcount level` uses it (a fake one in tests).
pub trait ServiceManager {
    /// The unit's state now.
    fn state(&self) -> Result<UnitState, String>;
    /// `systemctl reload`: on systemd 252 it returns once SIGHUP is sent, not once applied.
    fn reload(&self) -> Result<(), String>;
    /// `systemctl stop`: returns once the unit has stopped.
    fn stop(&self) -> Result<(), String>;
    /// `systemctl start`: returns once the daemon said READY=1 (or failed).
    fn start(&self) -> Result<(), String>;
}

/// The real one: the `systemctl` on PATH.
#[derive(Debug, Default)]
pub struct Systemctl;

/// Whether the system was booted with systemd (sd_booted(3): /run/systemd/system/ exists).
pub fn booted() -> bool {
    std::fs::symlink_metadata("/run/systemd/system").is_ok_and(|m| m.is_dir())
}

impl Systemctl {
    fn run(args: &[&str], timeout: Duration) -> Result<String, String> {
        let what = format!("systemctl {}", args.join(" "));
        let mut child = Command::new("systemctl")
            .args(["--no-ask-password", "--no-pager"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {what}: {e}"))?;
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("{what} did not finish within {timeout:?}"));
                }
                Err(e) => return Err(format!("{what}: {e}")),
            }
        };
        // Bounded reads: systemctl's answers here are a few lines.
        let mut out = String::new();
        let mut err = String::new();
        if let Some(o) = child.stdout.take() {
            let _ = o.take(64 * 1024).read_to_string(&mut out);
        }
        if let Some(e) = child.stderr.take() {
            let _ = e.take(64 * 1024).read_to_string(&mut err);
        }
        if status.success() {
            Ok(out)
        } else {
            Err(format!("{what} failed ({status}): {}", err.trim()))
        }
    }
}

impl ServiceManager for Systemctl {
    fn state(&self) -> Result<UnitState, String> {
        let out = Self::run(
            &[
                "show",
                UNIT,
                "-p",
                "LoadState",
                "-p",
                "ActiveState",
                "-p",
                "UnitFileState",
                "-p",
                "StatusText",
            ],
            SHOW_TIMEOUT,
        )?;
        Ok(UnitState::parse(&out))
    }

    fn reload(&self) -> Result<(), String> {
        Self::run(&["reload", UNIT], JOB_TIMEOUT).map(drop)
    }

    fn stop(&self) -> Result<(), String> {
        Self::run(&["stop", UNIT], JOB_TIMEOUT).map(drop)
    }

    fn start(&self) -> Result<(), String> {
        Self::run(&["start", UNIT], JOB_TIMEOUT).map(drop)
    }
}

/// The service manager to use for `root`: systemd's, when `root` is `/` and systemd runs;
/// otherwise why there is none.
pub fn for_root(root: &Path) -> Result<Systemctl, &'static str> {
    let is_host = std::fs::canonicalize(root).is_ok_and(|r| r == Path::new("/"));
    if !is_host {
        Err("--root is not /")
    } else if !booted() {
        Err("systemd is not running")
    } else {
        Ok(Systemctl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_show_output() {
        let s = UnitState::parse(
            "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n\
             StatusText=level minimal; last settled: daily 2026-11-23=x\n",
        );
        assert_eq!(s.active_state, "active");
        assert_eq!(
            s.status_text,
            "level minimal; last settled: daily 2026-11-23=x"
        );
        assert!(s.running() && s.enabled());
        let gone = UnitState::parse("LoadState=not-found\nActiveState=inactive\nUnitFileState=\n");
        assert!(!gone.running() && !gone.enabled());
    }

    #[test]
    fn another_root_has_no_service_manager() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(for_root(dir.path()).err(), Some("--root is not /"));
    }
}
