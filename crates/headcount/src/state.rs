//! The state file: per window, the last settled period, and nothing else.
//!
//! `{"daily":"2026-11-23","monthly":"2026-11"}`, with `"weekly":"2026-W48"` between them when the
//! weekly window is reported. Written atomically (temp file, fsync, rename,
//! fsync of the directory) and only after the receiver's answer. A corrupt or unreadable file
//! is reported to the caller and treated as empty: at worst one period is sent twice.
//!
//! The directory may hold what someone else planted. The state file is read without following a
//! symlink, without blocking (a FIFO), only when it is a regular file of at most
//! [`MAX_STATE_BYTES`]; anything else is corrupt. The temporary file is created exclusively
//! (`O_EXCL`, which never follows a link or opens an existing FIFO) under an unpredictable
//! name starting [`TEMP_PREFIX`]; leftovers of that pattern are removed at start.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use headcount_report::{Period, Window};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::file_read::{Links, ReadError, read_bounded};

/// The state file's name inside the state directory.
pub const STATE_FILE_NAME: &str = "state.json";
/// The state directory under the root when systemd does not name one (`$STATE_DIRECTORY`).
pub const DEFAULT_STATE_DIR: &str = "var/lib/headcount";
/// The environment variable systemd sets from `StateDirectory=`.
pub const STATE_DIRECTORY_ENV: &str = "STATE_DIRECTORY";
/// A state file larger than this is corrupt, unread: the real one is under 100 bytes.
pub const MAX_STATE_BYTES: u64 = 4096;
/// Temporary state files are named this followed by random hex digits.
pub const TEMP_PREFIX: &str = ".state.json.";
/// Names tried when creating the temporary file before giving up (each taken name is someone
/// else's file, left alone).
const TEMP_ATTEMPTS: usize = 8;

/// The last settled period of each window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    daily: Option<Period>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weekly: Option<Period>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    monthly: Option<Period>,
}

impl State {
    /// The last settled period of `window`.
    pub fn get(&self, window: Window) -> Option<Period> {
        match window {
            Window::Daily => self.daily,
            Window::Weekly => self.weekly,
            Window::Monthly => self.monthly,
        }
    }

    /// Records `period` as the last settled one of `window`.
    pub fn set(&mut self, window: Window, period: Period) {
        match window {
            Window::Daily => self.daily = Some(period),
            Window::Weekly => self.weekly = Some(period),
            Window::Monthly => self.monthly = Some(period),
        }
    }

    /// Parses the file's bytes: at most [`MAX_STATE_BYTES`] of UTF-8 holding a state document.
    /// Pure, for any input: the state file's whole parser.
    pub fn from_bytes(bytes: &[u8]) -> Result<State, StateError> {
        if bytes.len() as u64 > MAX_STATE_BYTES {
            return Err(StateError::Corrupt {
                reason: format!("it is larger than {MAX_STATE_BYTES} bytes"),
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| StateError::Corrupt {
            reason: "not UTF-8".to_owned(),
        })?;
        State::from_json(text)
    }

    /// Parses the file's content; a period of the wrong window is an error.
    pub fn from_json(text: &str) -> Result<State, StateError> {
        let corrupt = |e: serde_json::Error| StateError::Corrupt {
            reason: e.to_string(),
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(corrupt)?;
        // serde also accepts a struct written as an array; a state file is an object.
        if !value.is_object() {
            return Err(StateError::Corrupt {
                reason: "not a JSON object".to_owned(),
            });
        }
        let state: State = serde_json::from_value(value).map_err(corrupt)?;
        for window in Window::ALL {
            if let Some(p) = state.get(window)
                && p.window() != window
            {
                return Err(StateError::Corrupt {
                    reason: format!("{window} holds {p}, which is not a {window} period"),
                });
            }
        }
        Ok(state)
    }

    /// The file's content: compact JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned());
        s.push('\n');
        s
    }
}

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file exists but could not be read.
    #[error("unreadable: {0}")]
    Unreadable(#[source] io::Error),
    /// The file is not a state document (or not a small regular file).
    #[error("corrupt: {reason}")]
    Corrupt {
        /// What is wrong with it.
        reason: String,
    },
}

/// Where the state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file in `$STATE_DIRECTORY` (its first entry; systemd may list several,
    /// separated by `:`) if set, else in [`DEFAULT_STATE_DIR`] under `root`.
    pub fn locate(root: &Path, state_directory: Option<&str>) -> StateFile {
        let dir = state_directory
            .and_then(|s| s.split(':').find(|d| !d.is_empty()))
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(DEFAULT_STATE_DIR));
        StateFile {
            path: dir.join(STATE_FILE_NAME),
        }
    }

    /// The state file at exactly `path`.
    pub fn at(path: PathBuf) -> StateFile {
        StateFile { path }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Reads the state. A missing file is an empty state; a broken one (not a regular file, a
    /// symlink, over [`MAX_STATE_BYTES`], not a state document) is an error the caller logs
    /// before carrying on with an empty state. Never blocks.
    pub fn load(&self) -> Result<State, StateError> {
        match read_bounded(&self.path, MAX_STATE_BYTES, Links::Refuse) {
            Ok(bytes) => State::from_bytes(&bytes),
            Err(ReadError::NotFound) => Ok(State::default()),
            Err(ReadError::Io(e)) => Err(StateError::Unreadable(e)),
            Err(e) => Err(StateError::Corrupt {
                reason: format!("it {e}"),
            }),
        }
    }

    /// Removes leftover temporary files (names starting [`TEMP_PREFIX`]: a crash between
    /// creating one and the rename, or something planted). Unlinking never follows a link or
    /// opens a FIFO. Returns the names removed; what cannot be removed is left alone.
    pub fn remove_stale_temporaries(&self) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(self.dir()) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .as_encoded_bytes()
                    .starts_with(TEMP_PREFIX.as_bytes())
            })
            .map(|e| e.path())
            .filter(|p| fs::remove_file(p).is_ok())
            .collect()
    }

    /// Replaces the state atomically: a crash leaves either the old or the new file, whole.
    /// The temporary file's name is drawn from `rng`.
    pub fn store<R: Rng + ?Sized>(&self, state: &State, rng: &mut R) -> io::Result<()> {
        let dir = self.dir();
        fs::create_dir_all(dir)?;
        let (tmp, mut file) = create_temporary(dir, rng)?;
        let written = file
            .write_all(state.to_json().as_bytes())
            .and_then(|()| file.sync_all())
            .and_then(|()| fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        // The rename is durable only once the directory entry is on disk.
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(dir)?
            .sync_all()
    }
}

/// Creates a new temporary file in `dir` exclusively (`O_CREAT|O_EXCL`: an existing name, be
/// it a symlink or a FIFO, is never opened), under a random name.
fn create_temporary<R: Rng + ?Sized>(dir: &Path, rng: &mut R) -> io::Result<(PathBuf, fs::File)> {
    let mut last = None;
    for _ in 0..TEMP_ATTEMPTS {
        let path = dir.join(format!("{TEMP_PREFIX}{:016x}", rng.random::<u64>()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .mode(0o644)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no temporary name available")))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn round_trips_and_stays_small() {
        let mut s = State::default();
        assert_eq!(s.to_json(), "{}\n");
        s.set(Window::Daily, "2026-11-23".parse().unwrap());
        s.set(Window::Monthly, "2026-11".parse().unwrap());
        assert_eq!(
            s.to_json(),
            "{\"daily\":\"2026-11-23\",\"monthly\":\"2026-11\"}\n"
        );
        assert_eq!(State::from_json(&s.to_json()).unwrap(), s);
        s.set(Window::Weekly, "2026-W48".parse().unwrap());
        assert_eq!(
            s.to_json(),
            "{\"daily\":\"2026-11-23\",\"weekly\":\"2026-W48\",\"monthly\":\"2026-11\"}\n"
        );
        assert_eq!(State::from_json(&s.to_json()).unwrap(), s);
    }

    #[test]
    fn rejects_what_is_not_a_state() {
        for bad in [
            "",
            "[]",
            "{\"daily\":\"2026-11\"}",
            "{\"monthly\":\"2026-11-23\"}",
            "{\"daily\":\"yesterday\"}",
            "{\"daily\":\"2026-11-23\",\"id\":\"x\"}",
            "{\"weekly\":\"2026-11-23\"}",
            "{\"weekly\":\"2026-11\"}",
            "{\"daily\":\"2026-W48\"}",
            "{\"weekly\":\"2026-W00\"}",
        ] {
            assert!(State::from_json(bad).is_err(), "{bad:?}");
        }
    }

    fn rng() -> StdRng {
        StdRng::seed_from_u64(3)
    }

    #[test]
    fn stores_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::locate(dir.path(), None);
        assert_eq!(file.path(), dir.path().join("var/lib/headcount/state.json"));
        assert_eq!(file.load().unwrap(), State::default());
        let mut s = State::default();
        s.set(Window::Daily, "2026-11-23".parse().unwrap());
        file.store(&s, &mut rng()).unwrap();
        assert_eq!(file.load().unwrap(), s);
        let names: Vec<_> = fs::read_dir(file.path().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(STATE_FILE_NAME)]);
        fs::write(file.path(), b"\xff\xfe garbage").unwrap();
        assert!(matches!(file.load(), Err(StateError::Corrupt { .. })));
        fs::write(file.path(), b"{\"daily\":").unwrap();
        assert!(matches!(file.load(), Err(StateError::Corrupt { .. })));
    }

    #[test]
    fn state_directory_wins_and_its_first_entry_is_used() {
        let f = StateFile::locate(Path::new("/root"), Some("/var/lib/headcount:/other"));
        assert_eq!(f.path(), Path::new("/var/lib/headcount/state.json"));
    }

    #[test]
    fn the_parser_bounds_its_input() {
        let mut big = b"{\"daily\":\"2026-11-23\"}".to_vec();
        assert!(State::from_bytes(&big).is_ok());
        big.resize(MAX_STATE_BYTES as usize + 1, b' ');
        let err = State::from_bytes(&big).unwrap_err().to_string();
        assert!(err.contains("larger than 4096 bytes"), "{err}");
        assert!(State::from_bytes(b"\xff").is_err());
    }

    #[test]
    fn a_taken_temporary_name_is_never_opened_and_another_one_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::at(dir.path().join(STATE_FILE_NAME));
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        // The first name this seed draws is taken by a symlink planted by someone else.
        let first = format!("{TEMP_PREFIX}{:016x}", rng().random::<u64>());
        symlink(&victim, dir.path().join(&first)).unwrap();
        let mut s = State::default();
        s.set(Window::Monthly, "2026-11".parse().unwrap());
        file.store(&s, &mut rng()).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(file.load().unwrap(), s);
        assert!(fs::symlink_metadata(dir.path().join(&first)).is_ok());
        // At start, every leftover of the pattern goes, and nothing else.
        let removed = file.remove_stale_temporaries();
        assert_eq!(removed, vec![dir.path().join(&first)]);
        assert!(file.path().exists() && victim.exists());
    }

    #[test]
    fn what_is_not_a_small_regular_file_is_corrupt_and_replaced_by_the_next_store() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::at(dir.path().join(STATE_FILE_NAME));
        let mut s = State::default();
        s.set(Window::Daily, "2026-11-23".parse().unwrap());
        type Plant<'a> = &'a dyn Fn(&Path);
        let plant: [(&str, Plant); 3] = [
            ("symbolic link", &|p| symlink("/dev/zero", p).unwrap()),
            ("FIFO", &|p| {
                nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap()
            }),
            ("larger than", &|p| {
                fs::write(p, " ".repeat(MAX_STATE_BYTES as usize + 1)).unwrap()
            }),
        ];
        for (what, plant) in plant {
            let _ = fs::remove_file(file.path());
            plant(file.path());
            let err = file.load().unwrap_err().to_string();
            assert!(err.contains("corrupt") && err.contains(what), "{err}");
            file.store(&s, &mut rng()).unwrap();
            assert_eq!(file.load().unwrap(), s, "{what}");
        }
    }
}
