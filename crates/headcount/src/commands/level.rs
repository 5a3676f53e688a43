//! `headcount level [off|minimal|full]`: show the effective level and where it comes from, or
//! set it in the administrator's fragment and make the running service take it.
//!
//! Setting writes `etc/headcount/config.d/90-level.toml` under the root atomically (temp file,
//! fsync, rename, fsync of the directory; mode 0644), keeping the file's comments and other
//! keys. `off` is never refused. `minimal` and `full` are refused (exit 78) when the result
//! would not be the level asked for, naming the source that wins (see
//! [`crate::config::precedence`]). Exit 77 when the file may not be written.
//!
//! With `--root /` under systemd: after `off` returns, headcount.service has stopped, so no
//! report leaves. systemd 252's `systemctl reload` returns as soon as SIGHUP is sent, so the
//! command waits (bounded) for the daemon to acknowledge: at off the daemon exits by itself,
//! abandoning a send in flight; if it has not within [`ACK_TIMEOUT`], the unit is stopped.
//! After `minimal`/`full` a running service is reloaded and the command waits for its STATUS
//! to name the new level; an enabled service that is not running is started.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use headcount_report::Level;

use crate::Error;
use crate::config::{self, Loaded, Origin, Overlay};
use crate::file_read::{Links, ReadError, read_bounded};
use crate::systemctl::{self, ServiceManager, UNIT, UnitState};

/// The administrator's level fragment, relative to the root.
pub const LEVEL_FRAGMENT: &str = "etc/headcount/config.d/90-level.toml";
/// How long to wait for the daemon to acknowledge a reload.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// How often to look meanwhile.
const POLL: Duration = Duration::from_millis(50);
/// The level fragment is a few lines; anything bigger is not one.
const MAX_FRAGMENT_BYTES: u64 = 64 * 1024;
/// Where the content of an unusable level fragment is kept when `level off` replaces it (not
/// a `.toml` name, so the configuration ignores it).
const BACKUP_NAME: &str = "90-level.toml.invalid";
/// The first lines of a fragment this command creates.
const HEADER: &str =
    "# The administrator's level, written by `headcount level`; see headcount.conf(5).\n";

/// Why `headcount level` did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum LevelError {
    /// A source of higher precedence would override the level asked for (exit 78).
    #[error("level {asked} not written: {origin} sets level {wins}, which wins ({rule}); {hint}")]
    Overridden {
        /// The level asked for.
        asked: Level,
        /// The level that would win.
        wins: Level,
        /// Where it is set.
        origin: Origin,
        /// The precedence rule that makes it win.
        rule: &'static str,
        /// What to do about it.
        hint: String,
    },
    /// The existing fragment cannot be kept (exit 78).
    #[error(
        "level {asked} not written: {path}: {reason}; fix or remove it (`headcount level off` replaces it)"
    )]
    Existing {
        /// The level asked for.
        asked: Level,
        /// The fragment.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The fragment may not be written (exit 77).
    #[error("cannot write {path}: {reason} (run it as root: sudo headcount level ...)")]
    NoPermission {
        /// The fragment.
        path: String,
        /// The system's answer.
        reason: String,
    },
    /// Writing failed for another reason (exit 1).
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The fragment.
        path: String,
        /// The system's answer.
        reason: String,
    },
    /// The file was written, but the service did not do what it should (exit 1).
    #[error("{0}")]
    Service(String),
}

impl LevelError {
    /// The exit code of each case, as `headcount(8)` documents them.
    pub fn exit_code(&self) -> u8 {
        match self {
            LevelError::Overridden { .. } | LevelError::Existing { .. } => crate::EXIT_CONFIG,
            LevelError::NoPermission { .. } => crate::EXIT_NOPERM,
            LevelError::Write { .. } | LevelError::Service(_) => crate::EXIT_FAILURE,
        }
    }
}

/// Runs `headcount [--root DIR] level [LEVEL]`, printing to stdout (warnings to stderr).
pub fn run(root: &Path, level: Option<Level>) -> Result<(), Error> {
    let mut out = io::stdout().lock();
    match level {
        None => {
            let loaded = config::load(root, &crate::known_collectors())?;
            for w in &loaded.warnings {
                eprintln!("warning: {w}");
            }
            out.write_all(show(&loaded).as_bytes())?;
            Ok(())
        }
        Some(level) => {
            let manager = systemctl::for_root(root);
            let service = match &manager {
                Ok(m) => Ok(m as &dyn ServiceManager),
                Err(why) => Err(*why),
            };
            set(root, level, service, ACK_TIMEOUT, &mut out)
        }
    }
}

/// What `headcount level` prints: the level, its source, the sources it overrides, and what
/// is sent.
pub fn show(loaded: &Loaded) -> String {
    let s = &loaded.settings;
    let origin = loaded.origin("collecting", "level");
    let mut out = String::new();
    let mut line = |k: &str, v: &str| out.push_str(&format!("{k:<9} {v}\n"));
    line("level:", s.level.as_str());
    line(
        "set by:",
        &match origin {
            Origin::Default => "the built-in default (no source sets a level)".to_owned(),
            o => o.to_string(),
        },
    );
    for other in loaded.level_sources.iter().filter(|o| &o.origin != origin) {
        let note = if other.level == s.level {
            format!("{} (also {})", other.origin, other.level)
        } else {
            format!("{} ({}, overridden)", other.origin, other.level)
        };
        line("also:", &note);
    }
    let sends = match (s.why_silent(), &s.endpoint) {
        (Some(why), _) if s.level == Level::Off => {
            format!("nothing: {why}, so no report, no network connection and no state")
        }
        (Some(why), _) => format!("nothing: {why}"),
        (None, Some(endpoint)) => {
            let collectors: Vec<&str> = headcount_collect::collector_levels()
                .filter(|(name, l)| *l <= s.level && !s.exclude.iter().any(|e| e == name))
                .map(|(name, _)| name)
                .collect();
            format!(
                "one report per period of the {} windows to {}, from the collectors {} \
                 (`headcount preview` shows the exact report)",
                s.windows,
                endpoint.host_str().unwrap_or_default(),
                collectors.join(", ")
            )
        }
        (None, None) => String::new(),
    };
    line("sends:", &sends);
    line(
        "change:",
        "headcount level off|minimal|full (writes /etc/headcount/config.d/90-level.toml)",
    );
    out
}

/// The administrator's fragment as found on disk.
enum Existing {
    /// No such file.
    Missing,
    /// Its text (empty for a mask: an empty file or a symlink to /dev/null).
    Text(String),
    /// It exists but cannot be used as a fragment.
    Unusable(String),
}

/// Reads the fragment without following a symlink out of the root and without blocking on a
/// FIFO.
fn read_existing(root: &Path, path: &Path) -> Result<Existing, LevelError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Existing::Missing),
        Err(e) => return Err(write_error(path, &e)),
    };
    if meta.file_type().is_symlink() {
        let target = fs::read_link(path).map_err(|e| write_error(path, &e))?;
        if target == Path::new("/dev/null") {
            return Ok(Existing::Text(String::new()));
        }
        // Resolved inside the root, as every other file under it.
        return Ok(
            match headcount_collect::Root::new(root).read(LEVEL_FRAGMENT) {
                Some(text) => Existing::Text(text),
                None => Existing::Unusable(format!(
                    "a symlink to {} that cannot be read as a file",
                    target.display()
                )),
            },
        );
    }
    let bytes = match read_bounded(path, MAX_FRAGMENT_BYTES, Links::Refuse) {
        Ok(b) => b,
        Err(ReadError::NotFound) => return Ok(Existing::Missing),
        Err(ReadError::Io(e)) => return Err(write_error(path, &e)),
        Err(e) => return Ok(Existing::Unusable(e.to_string())),
    };
    Ok(match String::from_utf8(bytes) {
        Ok(text) => Existing::Text(text),
        Err(_) => Existing::Unusable("not UTF-8 text".to_owned()),
    })
}

/// `text` with `[collecting] level` set, everything else (comments included) kept.
fn with_level(text: &str, level: Level) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| format!("not valid TOML: {}", e.message().trim()))?;
    let fresh = text.trim().is_empty();
    let collecting = doc
        .entry("collecting")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    if !collecting.is_table_like() {
        // `collecting = 3` is an error in any case; the level is what the administrator asked.
        *collecting = toml_edit::Item::Table(toml_edit::Table::new());
    }
    let table = collecting
        .as_table_like_mut()
        .ok_or_else(|| "[collecting] is not a table".to_owned())?;
    match table.get_mut("level").and_then(|i| i.as_value_mut()) {
        Some(value) => {
            // Keep the key's comments and spacing.
            let decor = value.decor().clone();
            *value = toml_edit::Value::from(level.as_str());
            *value.decor_mut() = decor;
        }
        None => {
            table.insert("level", toml_edit::value(level.as_str()));
        }
    }
    let body = doc.to_string();
    Ok(if fresh {
        format!("{HEADER}{body}")
    } else {
        body
    })
}

/// The error for a failed write: 77 when the system says we may not, else 1.
fn write_error(path: &Path, e: &io::Error) -> LevelError {
    let path = path.display().to_string();
    let reason = e.to_string();
    match e.raw_os_error() {
        Some(libc::EACCES | libc::EPERM | libc::EROFS) => LevelError::NoPermission { path, reason },
        _ => LevelError::Write { path, reason },
    }
}

/// Creates the missing directories of `dir` below `root` with mode 0755, whatever the umask
/// (the service's transient user must read the fragment).
fn create_dirs(root: &Path, dir: &Path) -> io::Result<()> {
    let mut at = root.to_path_buf();
    for part in dir.strip_prefix(root).unwrap_or(dir).components() {
        at.push(part);
        match fs::DirBuilder::new().mode(0o755).create(&at) {
            Ok(()) => fs::set_permissions(&at, fs::Permissions::from_mode(0o755))?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Replaces `path` atomically with `text`, mode 0644: a temp file created new (never through a
/// symlink), fsync, rename over the old file (or link), fsync of the directory.
fn write_atomically(root: &Path, path: &Path, text: &str) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_dirs(root, dir)?;
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let (tmp, mut file) = (0..100)
        .find_map(|n| {
            let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&tmp)
            {
                Ok(f) => Some(Ok((tmp, f))),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => None,
                Err(e) => Some(Err(e)),
            }
        })
        .unwrap_or_else(|| Err(io::Error::from(io::ErrorKind::AlreadyExists)))?;
    let written = (|| {
        file.set_permissions(fs::Permissions::from_mode(0o644))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// How to get rid of a source that overrides the level asked for.
fn hint(origin: &Origin) -> String {
    match origin {
        Origin::KernelCommandLine => {
            "remove headcount.level= from the kernel arguments (on Fedora CoreOS: \
             rpm-ostree kargs --delete-if-present=headcount.level=...)"
                .to_owned()
        }
        Origin::PingerOptOut { path, .. } => format!(
            "remove {} if this machine should report again",
            path.display()
        ),
        Origin::File { path, .. } => format!("edit or remove {}", path.display()),
        Origin::Default => String::new(),
    }
}

/// Writes `level` and makes the service take it. `service` is systemd's service manager, or
/// why there is none.
pub fn set(
    root: &Path,
    level: Level,
    service: Result<&dyn ServiceManager, &str>,
    ack_timeout: Duration,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let path = root.join(LEVEL_FRAGMENT);
    let shown = path.display().to_string();
    let mut replaced = None;
    let mut old = None;
    let text = match read_existing(root, &path)? {
        Existing::Missing => with_level("", level),
        Existing::Text(text) => {
            let new = with_level(&text, level);
            old = Some(text);
            new
        }
        Existing::Unusable(reason) => Err(reason),
    };
    let text = match text {
        Ok(t) => t,
        // An opt-out is never refused: the old content was not a usable fragment anyway. What
        // could be read of it is kept beside it, under a name the configuration ignores.
        Err(reason) if level == Level::Off => {
            replaced = Some(reason);
            with_level("", level).map_err(LevelError::Service)?
        }
        Err(reason) => {
            return Err(LevelError::Existing {
                asked: level,
                path: shown,
                reason,
            }
            .into());
        }
    };
    if level != Level::Off {
        let overlay = Overlay {
            path: path.clone(),
            text: text.clone(),
        };
        let loaded = match config::load_with(root, &crate::known_collectors(), Some(&overlay)) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("headcount: level {level} not written: the configuration has errors");
                return Err(e.into());
            }
        };
        if loaded.settings.level != level {
            let origin = loaded.origin("collecting", "level").clone();
            let rule = match (loaded.settings.level, &origin) {
                (Level::Off, _) => "an off from any source wins",
                (_, Origin::KernelCommandLine) => "the kernel command line wins over fragments",
                _ => "a fragment later in lexical order of name wins",
            };
            return Err(LevelError::Overridden {
                asked: level,
                wins: loaded.settings.level,
                hint: hint(&origin),
                origin,
                rule,
            }
            .into());
        }
    }
    if let Some(reason) = replaced {
        let kept = match old.filter(|t| !t.trim().is_empty()) {
            Some(old) => {
                let backup = path.with_file_name(BACKUP_NAME);
                write_atomically(root, &backup, &old).map_err(|e| write_error(&backup, &e))?;
                format!("; its content is kept in {}", backup.display())
            }
            None => String::new(),
        };
        eprintln!("warning: {shown} was replaced ({reason}){kept}");
    }
    write_atomically(root, &path, &text).map_err(|e| write_error(&path, &e))?;
    writeln!(out, "level {level} written to {shown}")?;
    match service {
        Err(why) => writeln!(
            out,
            "{why}: only the file was written; {UNIT} takes the level when it next starts or \
             reloads"
        )?,
        Ok(manager) => apply(manager, level, ack_timeout, out)?,
    }
    Ok(())
}

/// Polls the unit until `done` says so, at most `timeout`.
fn wait(
    manager: &dyn ServiceManager,
    timeout: Duration,
    done: impl Fn(&UnitState) -> bool,
) -> Result<Option<UnitState>, String> {
    let started = Instant::now();
    loop {
        let state = manager.state()?;
        if done(&state) {
            return Ok(Some(state));
        }
        if started.elapsed() >= timeout {
            return Ok(None);
        }
        std::thread::sleep(POLL);
    }
}

/// Whether the daemon's `STATUS=` says it runs at `level` (see [`crate::daemon::status_line`]).
pub fn acknowledges(status_text: &str, level: Level) -> bool {
    let prefix = format!("level {level}");
    status_text == prefix || status_text.starts_with(&format!("{prefix};"))
}

/// Makes the running (or enabled) service take `level`.
fn apply(
    manager: &dyn ServiceManager,
    level: Level,
    timeout: Duration,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let service = |e: String| Error::from(LevelError::Service(e));
    let state = manager.state().map_err(service)?;
    if state.load_state == "not-found" {
        writeln!(out, "{UNIT} is not installed: only the file was written")?;
        return Ok(());
    }
    if level == Level::Off {
        if !state.running() {
            writeln!(out, "{UNIT} is not running: nothing is sent")?;
            return Ok(());
        }
        // At off the daemon stops by itself on SIGHUP, abandoning a send in flight. A failed
        // reload (the unit still starting, say) falls through to the stop below.
        let reloaded = manager.reload();
        if reloaded.is_ok()
            && wait(manager, timeout, |s| !s.running())
                .map_err(service)?
                .is_some()
        {
            writeln!(out, "{UNIT} stopped: nothing more is sent")?;
            return Ok(());
        }
        manager.stop().map_err(service)?;
        let after = manager.state().map_err(service)?;
        if after.running() {
            return Err(service(format!(
                "{UNIT} is still {} after `systemctl stop`",
                after.active_state
            )));
        }
        writeln!(
            out,
            "{UNIT} did not stop by itself within {timeout:?} of the reload, so it was stopped: \
             nothing more is sent"
        )?;
        return Ok(());
    }
    if state.running() {
        manager.reload().map_err(service)?;
        let done = wait(manager, timeout, |s| {
            !s.running() || (s.active_state == "active" && acknowledges(&s.status_text, level))
        })
        .map_err(service)?;
        match done {
            Some(s) if s.running() => writeln!(out, "{UNIT} now runs at level {level}")?,
            Some(s) => writeln!(
                out,
                "{UNIT} stopped after the reload ({}): see journalctl -u headcount",
                s.active_state
            )?,
            None => {
                return Err(service(format!(
                    "{UNIT} did not confirm level {level} within {timeout:?} of the reload: see \
                     systemctl status headcount"
                )));
            }
        }
    } else if state.enabled() {
        manager.start().map_err(service)?;
        let after = manager.state().map_err(service)?;
        if after.running() {
            writeln!(out, "{UNIT} started at level {level}")?;
        } else {
            writeln!(
                out,
                "{UNIT} started and exited ({}): see journalctl -u headcount",
                after.active_state
            )?;
        }
    } else {
        writeln!(
            out,
            "{UNIT} is {}: not started (systemctl enable --now {UNIT} to start it)",
            if state.unit_file_state.is_empty() {
                "not enabled"
            } else {
                &state.unit_file_state
            }
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    #[test]
    fn keeps_comments_and_other_keys() {
        let text = "# site policy\n[collecting]\nlevel = \"full\" # opt-in\nexclude = [\"network\"]\n\n[reporting]\ntimeout_secs = 9\n";
        let new = with_level(text, Level::Off).unwrap();
        assert_eq!(
            new,
            "# site policy\n[collecting]\nlevel = \"off\" # opt-in\nexclude = [\"network\"]\n\n[reporting]\ntimeout_secs = 9\n"
        );
        let fresh = with_level("", Level::Minimal).unwrap();
        assert_eq!(
            fresh,
            format!("{HEADER}[collecting]\nlevel = \"minimal\"\n")
        );
        let added = with_level("[reporting]\ntimeout_secs = 9\n", Level::Full).unwrap();
        assert!(
            added.starts_with("[reporting]\ntimeout_secs = 9\n"),
            "{added}"
        );
        assert!(
            added.contains("[collecting]\nlevel = \"full\"\n"),
            "{added}"
        );
        // Other shapes of the same table.
        let dotted = with_level("collecting.level = \"full\"\n", Level::Off).unwrap();
        assert_eq!(dotted, "collecting.level = \"off\"\n");
        let inline = with_level("collecting = { level = \"full\" }\n", Level::Off).unwrap();
        assert_eq!(inline, "collecting = { level = \"off\" }\n");
        let wrong = with_level("collecting = 3\n", Level::Off).unwrap();
        assert!(wrong.contains("level = \"off\""), "{wrong}");
        assert!(with_level("[collecting\n", Level::Off).is_err());
        for t in [text, "", "collecting = 3\n"] {
            let doc: toml::Table = with_level(t, Level::Full).unwrap().parse().unwrap();
            assert_eq!(doc["collecting"]["level"].as_str(), Some("full"));
        }
    }

    #[test]
    fn the_daemon_status_line_acknowledges_its_level() {
        use crate::config::Settings;
        use crate::schedule::{Action, Schedule, plausible_from};
        let settings = Settings {
            level: Level::Full,
            ..Settings::default()
        };
        let line = crate::daemon::status_line(
            &settings,
            &crate::state::State::default(),
            &Schedule::new(plausible_from()),
            Action::Sleep {
                until: chrono::Utc::now(),
            },
            chrono::Utc::now(),
        );
        assert!(acknowledges(&line, Level::Full), "{line}");
        assert!(!acknowledges(&line, Level::Minimal), "{line}");
        assert!(!acknowledges("level fullish", Level::Full));
    }

    /// A service manager that plays back what systemd would say.
    struct Fake {
        states: RefCell<Vec<UnitState>>,
        calls: RefCell<Vec<&'static str>>,
        /// What the unit looks like after each call.
        after_reload: Option<UnitState>,
        after_stop: UnitState,
        after_start: UnitState,
    }

    fn unit(active: &str, status: &str) -> UnitState {
        UnitState {
            load_state: "loaded".into(),
            active_state: active.into(),
            unit_file_state: "enabled".into(),
            status_text: status.into(),
        }
    }

    impl Fake {
        fn new(now: UnitState) -> Fake {
            Fake {
                states: RefCell::new(vec![now]),
                calls: RefCell::default(),
                after_reload: None,
                after_stop: unit("inactive", ""),
                after_start: unit("active", "level minimal; starting"),
            }
        }
        fn set(&self, s: UnitState) {
            *self.states.borrow_mut() = vec![s];
        }
    }

    impl ServiceManager for Fake {
        fn state(&self) -> Result<UnitState, String> {
            self.calls.borrow_mut().push("state");
            Ok(self.states.borrow().last().cloned().unwrap_or_default())
        }
        fn reload(&self) -> Result<(), String> {
            self.calls.borrow_mut().push("reload");
            if let Some(s) = &self.after_reload {
                self.set(s.clone());
            }
            Ok(())
        }
        fn stop(&self) -> Result<(), String> {
            self.calls.borrow_mut().push("stop");
            self.set(self.after_stop.clone());
            Ok(())
        }
        fn start(&self) -> Result<(), String> {
            self.calls.borrow_mut().push("start");
            self.set(self.after_start.clone());
            Ok(())
        }
    }

    fn apply_text(fake: &Fake, level: Level) -> (Result<(), Error>, String) {
        let mut out = Vec::new();
        let r = apply(fake, level, Duration::from_millis(200), &mut out);
        (r, String::from_utf8(out).unwrap())
    }

    /// `level` applied with success; what it printed.
    fn applied(fake: &Fake, level: Level) -> String {
        let (r, out) = apply_text(fake, level);
        assert!(r.is_ok(), "{out}");
        out
    }

    /// `level` applied to a running daemon that answers the reload with `after`: succeeds.
    fn reload_answered(after: UnitState, level: Level) -> (Fake, String) {
        let mut fake = Fake::new(unit("active", "level minimal; x"));
        fake.after_reload = Some(after);
        let out = applied(&fake, level);
        (fake, out)
    }

    #[test]
    fn off_waits_for_the_daemon_to_stop_itself() {
        let (fake, out) = reload_answered(unit("inactive", ""), Level::Off);
        assert!(out.contains("stopped: nothing more is sent"), "{out}");
        assert!(!fake.calls.borrow().contains(&"stop"), "{:?}", fake.calls);
    }

    #[test]
    fn off_stops_a_daemon_that_does_not_acknowledge_in_time() {
        let fake = Fake::new(unit("active", "level minimal; busy"));
        let t = Instant::now();
        let out = applied(&fake, Level::Off);
        assert!(
            t.elapsed() >= Duration::from_millis(200),
            "waited for the acknowledgement"
        );
        assert!(out.contains("so it was stopped"), "{out}");
        let calls = fake.calls.borrow();
        assert_eq!(calls.iter().filter(|c| **c == "reload").count(), 1);
        assert_eq!(calls.last(), Some(&"state"));
        assert!(calls.contains(&"stop"));
    }

    #[test]
    fn off_on_a_stopped_unit_touches_nothing() {
        let fake = Fake::new(unit("inactive", ""));
        let out = applied(&fake, Level::Off);
        assert!(out.contains("not running"), "{out}");
        assert_eq!(*fake.calls.borrow(), vec!["state"]);
    }

    #[test]
    fn a_level_waits_for_the_status_to_name_it() {
        let (_, out) = reload_answered(unit("active", "level full; reloaded"), Level::Full);
        assert!(out.contains("now runs at level full"), "{out}");
        // Never acknowledged: an error (exit 1), the file being written already.
        let fake = Fake::new(unit("active", "level minimal; x"));
        let (r, _) = apply_text(&fake, Level::Full);
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), crate::EXIT_FAILURE);
        assert!(e.to_string().contains("did not confirm level full"), "{e}");
    }

    #[test]
    fn a_level_starts_an_enabled_unit_that_is_not_running_and_only_that() {
        let fake = Fake::new(unit("failed", ""));
        let out = applied(&fake, Level::Minimal);
        assert!(out.contains("started at level minimal"), "{out}");
        assert!(fake.calls.borrow().contains(&"start"));
        let mut disabled = unit("inactive", "");
        disabled.unit_file_state = "disabled".into();
        let fake = Fake::new(disabled);
        let out = applied(&fake, Level::Full);
        assert!(out.contains("is disabled: not started"), "{out}");
        assert!(!fake.calls.borrow().contains(&"start"));
    }
}
