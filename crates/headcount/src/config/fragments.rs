//! Finding config fragments: the three directories, masking, and lexical order.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::Diagnostic;
use crate::file_read::{Links, ReadError, read_bounded};

/// Directories searched for fragments, relative to the root, lowest precedence first.
///
/// A file in a later directory masks the same-named file in an earlier one.
pub const FRAGMENT_DIRS: [&str; 3] = [
    "usr/lib/headcount/config.d",
    "run/headcount/config.d",
    "etc/headcount/config.d",
];

/// A fragment bigger than this is refused: config files are a few hundred bytes.
pub const MAX_FRAGMENT_BYTES: u64 = 64 * 1024;

/// A fragment file that survived masking, with its contents.
#[derive(Debug)]
pub struct Fragment {
    /// Where the file is, under the root.
    pub path: PathBuf,
    /// Its text; empty for a masking file (empty, or a symlink to /dev/null).
    pub text: String,
}

/// Lists the surviving fragments in lexical order of file name and reads them.
///
/// Files that cannot be read are reported, not skipped: an unreadable fragment might be the
/// operator's opt-out.
pub fn discover(root: &Path) -> (Vec<Fragment>, Vec<Diagnostic>) {
    let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut errors = Vec::new();
    for dir in FRAGMENT_DIRS {
        let dir = root.join(dir);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                errors.push(Diagnostic::file(
                    &dir,
                    format!("cannot list directory: {e}"),
                ));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    errors.push(Diagnostic::file(
                        &dir,
                        format!("cannot list directory: {e}"),
                    ));
                    continue;
                }
            };
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue; // not UTF-8, so it cannot end in ".toml" in a way we document
            };
            if name.starts_with('.') || !name.ends_with(".toml") {
                continue;
            }
            by_name.insert(name, entry.path());
        }
    }
    let mut fragments = Vec::new();
    for path in by_name.into_values() {
        match read_fragment(&path) {
            Ok(text) => fragments.push(Fragment { path, text }),
            Err(message) => errors.push(Diagnostic::file(&path, message)),
        }
    }
    (fragments, errors)
}

/// Reads one fragment: a symlink to /dev/null is an empty (masking) fragment; otherwise the
/// file, followed through symlinks, must be a regular file of at most [`MAX_FRAGMENT_BYTES`].
/// Never blocks: a FIFO is refused unread (it would hang a reload at SIGHUP).
fn read_fragment(path: &Path) -> Result<String, String> {
    // A symlink to /dev/null masks without content, whatever the root is.
    if fs::read_link(path).is_ok_and(|target| target == Path::new("/dev/null")) {
        return Ok(String::new());
    }
    match read_bounded(path, MAX_FRAGMENT_BYTES, Links::Follow) {
        Ok(bytes) => decode(&bytes),
        Err(ReadError::Io(e)) => Err(format!("cannot read: {e}")),
        Err(e @ ReadError::NotFound) => Err(format!("cannot read: it {e} (a dangling symlink?)")),
        Err(e) => Err(e.to_string()),
    }
}

/// A fragment's bytes as text: at most [`MAX_FRAGMENT_BYTES`] of UTF-8. Pure, for any input
/// ([`super::load_from_bytes`] takes it from bytes to validated settings).
pub fn decode(bytes: &[u8]) -> Result<String, String> {
    if bytes.len() as u64 > MAX_FRAGMENT_BYTES {
        return Err(ReadError::TooLarge(MAX_FRAGMENT_BYTES).to_string());
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| "is not UTF-8 text".to_owned())
}
