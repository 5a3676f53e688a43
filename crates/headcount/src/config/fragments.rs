//! Finding config fragments: the three directories, masking, and lexical order.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::Diagnostic;

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

fn read_fragment(path: &Path) -> Result<String, String> {
    // A symlink to /dev/null masks without content, whatever the root is.
    if fs::read_link(path).is_ok_and(|target| target == Path::new("/dev/null")) {
        return Ok(String::new());
    }
    let file = fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if meta.is_dir() {
        return Err("is a directory, not a file".to_owned());
    }
    let mut bytes = Vec::new();
    file.take(MAX_FRAGMENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FRAGMENT_BYTES {
        return Err(format!("larger than {MAX_FRAGMENT_BYTES} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_owned())
}
