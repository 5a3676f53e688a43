//! Every file a collector reads goes through [`Root`]: paths are resolved inside the root
//! directory (symlinks included), reads are capped, and failures become `None` with a debug log.

use std::collections::VecDeque;
use std::fs::{self, File, Metadata};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The most a single read returns, in bytes: every file collectors read is far smaller, and a
/// huge or endless file must not cost memory.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;

/// The most entries looked at in one directory (a machine with thousands of network interfaces
/// or cgroups is counted in the top bucket anyway).
pub const MAX_DIR_ENTRIES: usize = 4096;

/// Symlinks followed while resolving one path before giving up (the kernel's own limit).
const MAX_SYMLINK_HOPS: usize = 40;

/// The directory the machine's files are read under: `/` on a live system, a fixture in tests.
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
    /// `/` itself: the kernel resolves paths, no need to walk them.
    is_host: bool,
}

impl Root {
    /// A root at `path`.
    pub fn new(path: &Path) -> Root {
        let is_host = path == Path::new("/");
        Root {
            path: path.to_path_buf(),
            is_host,
        }
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Resolves `rel` (a path relative to the root) to a real path that stays inside the root,
    /// following symlinks as if the root were `/`.
    pub fn resolve(&self, rel: &str) -> Option<PathBuf> {
        let rel = rel.trim_start_matches('/');
        if self.is_host {
            return Some(self.path.join(rel));
        }
        let mut todo: VecDeque<String> = components(Path::new(rel)).collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = todo.pop_front() {
            if part == ".." {
                done.pop();
                continue;
            }
            let candidate = self.join(&done).join(&part);
            match fs::symlink_metadata(&candidate) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        tracing::debug!(path = rel, "too many symlinks");
                        return None;
                    }
                    let target = fs::read_link(&candidate).ok()?;
                    if target.is_absolute() {
                        done.clear();
                    }
                    for (i, c) in components(&target).enumerate() {
                        todo.insert(i, c);
                    }
                }
                // A missing component ends the walk; the caller's read reports it.
                _ => done.push(part),
            }
        }
        Some(self.join(&done))
    }

    fn join(&self, parts: &[String]) -> PathBuf {
        let mut p = self.path.clone();
        p.extend(parts);
        p
    }

    /// Metadata of `rel` (symlinks followed).
    pub fn metadata(&self, rel: &str) -> Option<Metadata> {
        let path = self.resolve(rel)?;
        match fs::metadata(&path) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "cannot stat");
                None
            }
        }
    }

    /// Whether `rel` exists (any kind of file).
    pub fn exists(&self, rel: &str) -> bool {
        self.resolve(rel)
            .is_some_and(|p| fs::symlink_metadata(p).is_ok())
    }

    /// Whether `rel` is a directory.
    pub fn is_dir(&self, rel: &str) -> bool {
        self.resolve(rel).is_some_and(|p| p.is_dir())
    }

    /// The first [`MAX_FILE_BYTES`] of a regular file as text (invalid UTF-8 replaced), and
    /// whether that is the whole file.
    pub fn read_prefix(&self, rel: &str) -> Option<(String, bool)> {
        let path = self.resolve(rel)?;
        let read = || -> std::io::Result<Option<(Vec<u8>, bool)>> {
            // A FIFO or device in a fixture (or a hostile root) would block or never end, and
            // opening a FIFO already blocks: look before opening.
            if !fs::metadata(&path)?.is_file() {
                return Ok(None);
            }
            let file = File::open(&path)?;
            let mut buf = Vec::new();
            file.take(MAX_FILE_BYTES + 1).read_to_end(&mut buf)?;
            let complete = buf.len() as u64 <= MAX_FILE_BYTES;
            buf.truncate(MAX_FILE_BYTES as usize);
            Ok(Some((buf, complete)))
        };
        match read() {
            Ok(Some((buf, complete))) => {
                Some((String::from_utf8_lossy(&buf).into_owned(), complete))
            }
            Ok(None) => {
                tracing::debug!(path = %path.display(), "not a regular file");
                None
            }
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "cannot read");
                None
            }
        }
    }

    /// The first [`MAX_FILE_BYTES`] of a regular file as bytes.
    pub fn read_bytes(&self, rel: &str) -> Option<Vec<u8>> {
        let path = self.resolve(rel)?;
        if !fs::metadata(&path).ok()?.is_file() {
            return None;
        }
        let file = File::open(&path).ok()?;
        let mut buf = Vec::new();
        match file.take(MAX_FILE_BYTES).read_to_end(&mut buf) {
            Ok(_) => Some(buf),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "cannot read");
                None
            }
        }
    }

    /// A whole regular file as text; `None` when it is unreadable or larger than
    /// [`MAX_FILE_BYTES`] (a truncated config file would be misread).
    pub fn read(&self, rel: &str) -> Option<String> {
        match self.read_prefix(rel)? {
            (text, true) => Some(text),
            (_, false) => {
                tracing::debug!(
                    path = rel,
                    limit = MAX_FILE_BYTES,
                    "file too large, ignored"
                );
                None
            }
        }
    }

    /// The first line of a file, trimmed (for one-value files under /proc and /sys).
    pub fn read_value(&self, rel: &str) -> Option<String> {
        let text = self.read(rel)?;
        let value = text.lines().next().unwrap_or("").trim();
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// Names of the entries of a directory, sorted, at most [`MAX_DIR_ENTRIES`].
    pub fn read_dir(&self, rel: &str) -> Vec<String> {
        let Some(path) = self.resolve(rel) else {
            return Vec::new();
        };
        match fs::read_dir(&path) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .take(MAX_DIR_ENTRIES)
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect();
                names.sort();
                names
            }
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "cannot list");
                Vec::new()
            }
        }
    }

    /// The target of a symlink, as stored.
    pub fn read_link(&self, rel: &str) -> Option<PathBuf> {
        // Resolve the parent only: the link itself is what is asked for.
        let (parent, name) = rel
            .trim_end_matches('/')
            .rsplit_once('/')
            .unwrap_or(("", rel));
        let path = self.resolve(parent)?.join(name);
        fs::read_link(&path).ok()
    }
}

/// The normal components of a path (`.` and the root dropped, `..` kept).
fn components(p: &Path) -> impl Iterator<Item = String> + '_ {
    p.components().filter_map(|c| match c {
        Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
        Component::ParentDir => Some("..".to_owned()),
        _ => None,
    })
}

/// Parses `KEY=value` lines as os-release and afterburn write them (shell quoting with `"` or
/// `'`, backslash escapes in double quotes, `#` comments).
pub fn parse_env(text: &str) -> impl Iterator<Item = (&str, String)> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.starts_with('#') {
            return None;
        }
        let (key, raw) = line.split_once('=')?;
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return None;
        }
        Some((key, unquote(raw.trim())))
    })
}

fn unquote(raw: &str) -> String {
    let bytes = raw.as_bytes();
    if bytes.len() >= 2 && bytes[0] == b'\'' && bytes[bytes.len() - 1] == b'\'' {
        return raw[1..raw.len() - 1].to_owned();
    }
    if bytes.len() >= 2 && bytes[0] == b'"' && bytes[bytes.len() - 1] == b'"' {
        let mut out = String::new();
        let mut chars = raw[1..raw.len() - 1].chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    raw.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_unquote() {
        let text = "ID=fedora\nVERSION=\"43 (CoreOS)\"\nOSTREE_VERSION='43.1'\n# X=1\nBAD KEY=2\nESC=\"a\\\"b\"\n";
        let got: Vec<(&str, String)> = parse_env(text).collect();
        assert_eq!(
            got,
            [
                ("ID", "fedora".to_owned()),
                ("VERSION", "43 (CoreOS)".to_owned()),
                ("OSTREE_VERSION", "43.1".to_owned()),
                ("ESC", "a\"b".to_owned()),
            ]
        );
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let dir = std::env::temp_dir().join(format!("hc-root-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("usr/lib")).unwrap();
        fs::create_dir_all(dir.join("etc")).unwrap();
        fs::write(dir.join("usr/lib/os-release"), "ID=inside\n").unwrap();
        std::os::unix::fs::symlink("/usr/lib/os-release", dir.join("etc/abs")).unwrap();
        std::os::unix::fs::symlink("../usr/lib/os-release", dir.join("etc/rel")).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc/passwd", dir.join("etc/escape")).unwrap();
        std::os::unix::fs::symlink("loop", dir.join("etc/loop")).unwrap();
        let root = Root::new(&dir);
        assert_eq!(root.read("etc/abs").as_deref(), Some("ID=inside\n"));
        assert_eq!(root.read("etc/rel").as_deref(), Some("ID=inside\n"));
        assert_eq!(
            root.read("etc/escape"),
            None,
            "resolved to <root>/etc/passwd"
        );
        assert_eq!(root.read("etc/loop"), None);
        fs::write(dir.join("big"), vec![b'x'; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert_eq!(root.read("big"), None);
        let (prefix, complete) = root.read_prefix("big").unwrap();
        assert!(!complete && prefix.len() == MAX_FILE_BYTES as usize);
        fs::remove_dir_all(&dir).unwrap();
    }
}
