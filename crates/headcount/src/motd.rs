//! The login notice: while the daemon runs at minimal or full, pam_motd shows two lines saying
//! so, and how to see and change it.
//!
//! The daemon writes the lines to `$RUNTIME_DIRECTORY/motd`; the unit's
//! `RuntimeDirectory=headcount/notice` makes systemd create that directory at start and remove
//! it at stop, whatever way the daemon ends. `/usr/lib/motd.d/headcount` is a static symlink to
//! the file: pam_motd reads the motd.d directories, and a link whose target is gone shows
//! nothing. So there is a notice exactly while the service runs and sends; the daemon needs no
//! write access outside its own runtime directory.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::Settings;

/// The environment variable systemd sets from `RuntimeDirectory=`.
pub const RUNTIME_DIRECTORY_ENV: &str = "RUNTIME_DIRECTORY";
/// The notice's file name in the runtime directory.
pub const NOTICE_FILE: &str = "motd";
/// The file the packaged `/usr/lib/motd.d/headcount` symlink points to.
pub const NOTICE_PATH: &str = "/run/headcount/notice/motd";
/// The symlink pam_motd finds, relative to the root.
pub const MOTD_LINK: &str = "usr/lib/motd.d/headcount";

/// The two lines, or `None` when nothing is sent (level off, no endpoint).
pub fn text(settings: &Settings) -> Option<String> {
    if !settings.sends() {
        return None;
    }
    let endpoint = settings.endpoint.as_ref()?;
    let mut host = endpoint.host_str().unwrap_or_default().to_owned();
    if let Some(port) = endpoint.port() {
        host.push_str(&format!(":{port}"));
    }
    Some(format!(
        "headcount: this machine reports anonymous counts at level {} to {host}.\n\
         See what is sent with `headcount preview`; turn it off with `sudo headcount level off`.\n",
        settings.level
    ))
}

/// Where the daemon keeps the notice: nowhere when systemd gave it no runtime directory (a
/// daemon started by hand leaves /run alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    path: Option<PathBuf>,
}

impl Notice {
    /// The notice in the first entry of `$RUNTIME_DIRECTORY`, if set.
    pub fn locate(runtime_directory: Option<&str>) -> Notice {
        let path = runtime_directory
            .and_then(|s| s.split(':').find(|d| !d.is_empty()))
            .map(|d| Path::new(d).join(NOTICE_FILE));
        Notice { path }
    }

    /// The file, when there is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Shows the notice for `settings`, or removes it when nothing is sent.
    pub fn update(&self, settings: &Settings) {
        let Some(path) = &self.path else {
            return;
        };
        let result = match text(settings) {
            Some(t) => write_atomically(path, &t),
            None => remove(path),
        };
        if let Err(e) = result {
            tracing::warn!("cannot update the login notice {}: {e}", path.display());
        }
    }

    /// Removes the notice (the daemon is about to exit).
    pub fn clear(&self) {
        if let Some(path) = &self.path
            && let Err(e) = remove(path)
        {
            tracing::debug!("cannot remove the login notice {}: {e}", path.display());
        }
    }
}

fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Temp file (created new, never through a symlink), fsync, mode 0644 whatever the umask (the
/// logging-in user reads it), rename.
fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{NOTICE_FILE}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use headcount_report::Level;

    use super::*;

    fn sending(level: Level, endpoint: &str) -> Settings {
        Settings {
            level,
            endpoint: Some(endpoint.parse().unwrap()),
            ..Settings::default()
        }
    }

    #[test]
    fn two_lines_naming_level_host_and_both_commands() {
        let t = text(&sending(
            Level::Full,
            "https://counts.example.org/v1/report",
        ))
        .unwrap();
        assert_eq!(t.lines().count(), 2, "{t}");
        assert!(t.contains("at level full to counts.example.org."), "{t}");
        assert!(t.contains("`headcount preview`") && t.contains("`sudo headcount level off`"));
        assert!(!t.contains("/v1/report"), "the host, not the URL: {t}");
        let t = text(&sending(Level::Minimal, "http://127.0.0.1:8080/r")).unwrap();
        assert!(t.contains("at level minimal to 127.0.0.1:8080."), "{t}");
        assert_eq!(text(&sending(Level::Off, "https://x.example/")), None);
        assert_eq!(text(&Settings::default()), None, "no endpoint, no notice");
    }

    #[test]
    fn written_world_readable_and_removed_when_silent() {
        let dir = tempfile::tempdir().unwrap();
        let notice = Notice::locate(Some(&format!("{}:/elsewhere", dir.path().display())));
        let path = dir.path().join(NOTICE_FILE);
        assert_eq!(notice.path(), Some(path.as_path()));
        // (The daemon under UMask=0077 is checked end to end in tests/daemon_e2e.rs.)
        notice.update(&sending(Level::Minimal, "https://counts.example.org/r"));
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
        assert!(fs::read_to_string(&path).unwrap().contains("level minimal"));
        notice.update(&sending(Level::Full, "https://counts.example.org/r"));
        assert!(fs::read_to_string(&path).unwrap().contains("level full"));
        notice.update(&sending(Level::Off, "https://counts.example.org/r"));
        assert!(!path.exists());
        notice.update(&sending(Level::Full, "https://counts.example.org/r"));
        notice.clear();
        assert!(!path.exists());
        // Only the notice was ever in the directory (no temp file left behind).
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        // Without a runtime directory nothing is written anywhere.
        assert_eq!(Notice::locate(None).path(), None);
    }
}
