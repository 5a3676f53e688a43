//! Every file a collector reads goes through [`Root`]: paths are resolved inside the root
//! directory (symlinks included), reads are capped, and failures become `None` with a debug log.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, Metadata};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

/// The most a single read returns, in bytes: every file collectors read is far smaller, and a
/// huge or endless file must not cost memory.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;

/// The most entries looked at in one directory (a machine with thousands of network interfaces
/// or cgroups is counted in the top bucket anyway).
pub const MAX_DIR_ENTRIES: usize = 4096;

/// Symlinks followed while resolving one path before giving up (the kernel's own limit).
const MAX_SYMLINK_HOPS: usize = 40;

/// The directory the machine's files are read under: `/` on a live system, a fixture in tests.
///
/// One `Root` serves one collection: it remembers resolved directories and file contents, so
/// collectors that look at the same file (cpuinfo, DMI, the kernel command line) read it once.
#[derive(Debug)]
pub struct Root {
    path: PathBuf,
    /// `/` itself: the kernel resolves paths, no need to walk them.
    is_host: bool,
    /// Resolved components of directories already walked, by relative path.
    dirs: Mutex<HashMap<String, Option<Vec<String>>>>,
    /// Files already read: their first [`MAX_FILE_BYTES`] and whether that was all.
    files: Mutex<HashMap<String, Option<(String, bool)>>>,
}

impl Clone for Root {
    fn clone(&self) -> Root {
        Root::new(&self.path)
    }
}

impl Root {
    /// A root at `path`.
    pub fn new(path: &Path) -> Root {
        // A short canonical prefix makes every later lookup cheaper for the kernel.
        let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let is_host = path == Path::new("/");
        Root {
            path,
            is_host,
            dirs: Mutex::new(HashMap::new()),
            files: Mutex::new(HashMap::new()),
        }
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Resolves `rel` (a path relative to the root) to a real path that stays inside the root,
    /// following symlinks as if the root were `/`.
    pub fn resolve(&self, rel: &str) -> Option<PathBuf> {
        self.resolve_with_meta(rel).map(|(p, _)| p)
    }

    /// [`Root::resolve`], plus the metadata of the resolved path when the walk already saw it
    /// (`None` when it does not exist or was not looked at): saves a second `stat`.
    fn resolve_with_meta(&self, rel: &str) -> Option<(PathBuf, Option<Metadata>)> {
        let rel = rel.trim_matches('/');
        if self.is_host {
            let path = self.path.join(rel);
            let meta = fs::metadata(&path).ok();
            return Some((path, meta));
        }
        let (start, name) = match rel.rsplit_once('/') {
            Some((parent, name)) => (self.resolve_dir(parent)?, name),
            None => (Vec::new(), rel),
        };
        let (parts, seen) = self.walk(start, components(Path::new(name)).collect(), rel)?;
        let path = self.join(&parts);
        let meta = match seen {
            Seen::Exists(m) => Some(m),
            Seen::Missing => None,
            Seen::NotLooked => fs::metadata(&path).ok(),
        };
        Some((path, meta))
    }

    /// The resolved components of directory `rel`, walked once per collection (its parent is
    /// resolved the same way, so each directory costs one `lstat`).
    fn resolve_dir(&self, rel: &str) -> Option<Vec<String>> {
        if rel.is_empty() {
            return Some(Vec::new());
        }
        if let Some(hit) = lock(&self.dirs).get(rel) {
            return hit.clone();
        }
        let (start, name) = match rel.rsplit_once('/') {
            Some((parent, name)) => (self.resolve_dir(parent), name),
            None => (Some(Vec::new()), rel),
        };
        let parts = start
            .and_then(|start| self.walk(start, components(Path::new(name)).collect(), rel))
            .map(|(parts, _)| parts);
        lock(&self.dirs).insert(rel.to_owned(), parts.clone());
        parts
    }

    /// Walks `todo` from the resolved components `done`, following symlinks inside the root.
    fn walk(
        &self,
        mut done: Vec<String>,
        mut todo: VecDeque<String>,
        rel: &str,
    ) -> Option<(Vec<String>, Seen)> {
        let mut hops = 0;
        let mut last = Seen::NotLooked;
        while let Some(part) = todo.pop_front() {
            last = Seen::NotLooked;
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
                Ok(meta) => {
                    last = Seen::Exists(meta);
                    done.push(part);
                }
                // A missing component ends the walk; the caller's read reports it.
                Err(_) => {
                    last = Seen::Missing;
                    done.push(part);
                }
            }
        }
        Some((done, last))
    }

    fn join(&self, parts: &[String]) -> PathBuf {
        let mut p = self.path.clone();
        p.extend(parts);
        p
    }

    /// Metadata of `rel` (symlinks followed).
    pub fn metadata(&self, rel: &str) -> Option<Metadata> {
        let (path, meta) = self.resolve_with_meta(rel)?;
        if meta.is_none() {
            tracing::debug!(path = %path.display(), "cannot stat");
        }
        meta
    }

    /// Whether `rel` exists (any kind of file).
    pub fn exists(&self, rel: &str) -> bool {
        self.resolve_with_meta(rel)
            .is_some_and(|(_, m)| m.is_some())
    }

    /// Whether `rel` is a directory.
    pub fn is_dir(&self, rel: &str) -> bool {
        self.resolve_with_meta(rel)
            .is_some_and(|(_, m)| m.is_some_and(|m| m.is_dir()))
    }

    /// The first [`MAX_FILE_BYTES`] of a regular file as text (invalid UTF-8 replaced), and
    /// whether that is the whole file.
    pub fn read_prefix(&self, rel: &str) -> Option<(String, bool)> {
        if let Some(hit) = lock(&self.files).get(rel) {
            return hit.clone();
        }
        let read = self.read_prefix_uncached(rel);
        lock(&self.files).insert(rel.to_owned(), read.clone());
        read
    }

    /// Opens a regular file under the root. The last component is opened without following a
    /// symlink (one path lookup instead of an `lstat` and an `open`); only when it is one is the
    /// path walked. Non-blocking, so a FIFO cannot hang the open, and refused after `fstat`.
    fn open_file(&self, rel: &str) -> std::io::Result<Option<(File, usize)>> {
        let rel = rel.trim_matches('/');
        let direct = if self.is_host {
            Some(self.path.join(rel))
        } else {
            let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
            match name {
                "" | "." | ".." => None,
                _ => self.resolve_dir(parent).map(|d| self.join(&d).join(name)),
            }
        };
        let flags = libc::O_NONBLOCK | if self.is_host { 0 } else { libc::O_NOFOLLOW };
        let open = |p: &Path| {
            fs::OpenOptions::new()
                .read(true)
                .custom_flags(flags)
                .open(p)
        };
        let file = match direct.map(|p| open(&p)) {
            Some(Ok(f)) => f,
            Some(Err(e)) if e.raw_os_error() != Some(libc::ELOOP) => return Err(e),
            // A symlink (or an odd path): walk it inside the root.
            _ => match self.resolve(rel) {
                Some(p) => open(&p)?,
                None => return Ok(None),
            },
        };
        let meta = file.metadata()?;
        Ok(meta.is_file().then(|| (file, read_capacity(meta.len()))))
    }

    fn read_prefix_uncached(&self, rel: &str) -> Option<(String, bool)> {
        let path = rel;
        let read = || -> std::io::Result<Option<(Vec<u8>, bool)>> {
            let Some((file, capacity)) = self.open_file(rel)? else {
                return Ok(None);
            };
            let mut buf = Vec::with_capacity(capacity);
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
                tracing::debug!(path, "not a regular file");
                None
            }
            Err(e) => {
                tracing::debug!(path, error = %e, "cannot read");
                None
            }
        }
    }

    /// The first [`MAX_FILE_BYTES`] of a regular file as bytes.
    pub fn read_bytes(&self, rel: &str) -> Option<Vec<u8>> {
        let (file, capacity) = self.open_file(rel).ok()??;
        let mut buf = Vec::with_capacity(capacity);
        match file.take(MAX_FILE_BYTES).read_to_end(&mut buf) {
            Ok(_) => Some(buf),
            Err(e) => {
                tracing::debug!(path = rel, error = %e, "cannot read");
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

/// A buffer size that takes the whole file in one read: its size when the file system knows
/// it (sysfs says 4096, procfs 0), capped, plus one byte to see the end.
fn read_capacity(len: u64) -> usize {
    const PROC_GUESS: u64 = 4096;
    let len = if len == 0 { PROC_GUESS } else { len };
    usize::try_from(len.min(MAX_FILE_BYTES)).unwrap_or(0) + 1
}

/// What a walk learned about the last component of a path.
enum Seen {
    /// It exists (not a symlink): its `lstat`, which is its `stat`.
    Exists(Metadata),
    /// `lstat` failed.
    Missing,
    /// The walk ended on `..` or on nothing: not looked at.
    NotLooked,
}

/// A poisoned cache only means another collector panicked mid-insert; its data is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
