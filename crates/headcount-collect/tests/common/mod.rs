//! Shared helpers of the integration tests: fixture roots, their metadata, golden files.
#![allow(clippy::unwrap_used, dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};

/// The instant every golden report is collected at.
pub const NOW: &str = "2026-11-23T12:00:00Z";

pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .with_timezone(&Utc)
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixtures_dir() -> PathBuf {
    repo().join("tests/fixtures")
}

/// Every fixture root, sorted by name.
pub fn fixtures() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| (p.file_name().unwrap().to_str().unwrap().to_owned(), p))
        .collect();
    out.sort();
    out
}

/// A fixture's test metadata (tests/fixtures/<kind>.meta).
pub struct Meta {
    pub installed: SystemTime,
    /// (identifying value, same-shaped replacement)
    pub secrets: Vec<(String, String)>,
}

pub fn meta(kind: &str) -> Meta {
    let text = fs::read_to_string(fixtures_dir().join(format!("{kind}.meta"))).unwrap();
    let mut installed = None;
    let mut secrets = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some(v) = line.strip_prefix("installed=") {
            installed = Some(SystemTime::from(DateTime::parse_from_rfc3339(v).unwrap()));
        } else if let Some(v) = line.strip_prefix("secret=") {
            let (a, b) = v.split_once('\t').unwrap();
            secrets.push((a.to_owned(), b.to_owned()));
        }
    }
    Meta {
        installed: installed.unwrap(),
        secrets,
    }
}

/// Git keeps no modification times: give etc/machine-id the fixture's install time.
pub fn set_installed(root: &Path, t: SystemTime) {
    let f = fs::File::options()
        .write(true)
        .open(root.join("etc/machine-id"))
        .unwrap();
    f.set_modified(t).unwrap();
}

/// Copies a tree, keeping symlinks as symlinks.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let ty = e.file_type().unwrap();
        let dest = to.join(e.file_name());
        if ty.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(e.path()).unwrap(), dest).unwrap();
        } else if ty.is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// A scratch directory of one test, removed when dropped (also when the test fails); it reads
/// as the path it is.
pub struct Scratch(tempfile::TempDir);

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        self.0.path()
    }
}

/// A fresh scratch directory for one test, named after it.
pub fn scratch(name: &str) -> Scratch {
    Scratch(
        tempfile::Builder::new()
            .prefix(&format!("headcount-collect-{name}-"))
            .tempdir()
            .unwrap(),
    )
}

/// A scratch copy of the fixture root `kind`, to change one fact of it.
pub fn copy_of(kind: &str) -> Scratch {
    let root = scratch(kind);
    copy_tree(&fixtures_dir().join(kind), &root);
    root
}

/// Compares `actual` with the golden file, or rewrites it under UPDATE_GOLDEN=1.
pub fn check_golden(path: &Path, actual: &str) -> Result<(), String> {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, actual).unwrap();
        return Ok(());
    }
    let expected = fs::read_to_string(path).unwrap_or_default();
    if expected == actual {
        return Ok(());
    }
    // One-line JSON bodies are compared field by field: pretty-print both before diffing.
    let pretty = |s: &str| {
        serde_json::from_str::<serde_json::Value>(s)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| s.to_owned())
    };
    let (e, a) = if path.extension().is_some_and(|x| x == "json") {
        (pretty(&expected), pretty(actual))
    } else {
        (expected, actual.to_owned())
    };
    Err(format!(
        "{} differs (regenerate with UPDATE_GOLDEN=1 cargo test -p headcount-collect):\n{}",
        path.display(),
        diff(&e, &a)
    ))
}

/// A unified line diff: `-` expected, `+` actual.
pub fn diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(2)
        .header("golden", "made")
        .to_string()
}
