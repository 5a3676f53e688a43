//! The state file: per window, the last settled period, and nothing else.
//!
//! `{"daily":"2026-11-23","monthly":"2026-11"}`. Written atomically (temp file, fsync, rename,
//! fsync of the directory) and only after the receiver's answer. A corrupt or unreadable file
//! is reported to the caller and treated as empty: at worst one period is sent twice.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use headcount_report::{Period, Window};
use serde::{Deserialize, Serialize};

/// The state file's name inside the state directory.
pub const STATE_FILE_NAME: &str = "state.json";
/// The state directory under the root when systemd does not name one (`$STATE_DIRECTORY`).
pub const DEFAULT_STATE_DIR: &str = "var/lib/headcount";
/// The environment variable systemd sets from `StateDirectory=`.
pub const STATE_DIRECTORY_ENV: &str = "STATE_DIRECTORY";

/// The last settled period of each window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    daily: Option<Period>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    monthly: Option<Period>,
}

impl State {
    /// The last settled period of `window`.
    pub fn get(&self, window: Window) -> Option<Period> {
        match window {
            Window::Daily => self.daily,
            Window::Monthly => self.monthly,
        }
    }

    /// Records `period` as the last settled one of `window`.
    pub fn set(&mut self, window: Window, period: Period) {
        match window {
            Window::Daily => self.daily = Some(period),
            Window::Monthly => self.monthly = Some(period),
        }
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
    #[error("cannot read the state file: {0}")]
    Unreadable(#[source] io::Error),
    /// The file is not a state document.
    #[error("the state file is corrupt ({reason})")]
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

    /// Reads the state. A missing file is an empty state; a broken one is an error the caller
    /// logs before carrying on with an empty state.
    pub fn load(&self) -> Result<State, StateError> {
        match fs::read_to_string(&self.path) {
            Ok(text) => State::from_json(&text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Err(StateError::Corrupt {
                reason: "not UTF-8".to_owned(),
            }),
            Err(e) => Err(StateError::Unreadable(e)),
        }
    }

    /// Replaces the state atomically: a crash leaves either the old or the new file, whole.
    pub fn store(&self, state: &State) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{STATE_FILE_NAME}.tmp"));
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            f.write_all(state.to_json().as_bytes())?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        // The rename is durable only once the directory entry is on disk.
        File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
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
        ] {
            assert!(State::from_json(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stores_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::locate(dir.path(), None);
        assert_eq!(file.path(), dir.path().join("var/lib/headcount/state.json"));
        assert_eq!(file.load().unwrap(), State::default());
        let mut s = State::default();
        s.set(Window::Daily, "2026-11-23".parse().unwrap());
        file.store(&s).unwrap();
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
}
