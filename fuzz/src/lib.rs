//! What the fuzz targets share: a scratch root directory the collectors read, a fixed clock, the
//! one property every collector target checks (whatever the files say, the report is one the
//! receiver accepts unchanged), and [`Input`], the byte layout of the targets that take more than
//! one value (simple enough that fuzz/seeds.py writes seeds from real files).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use headcount_report::{Level, Window};

/// The instant every target collects at: fixed, so that a crash reproduces.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_435_200, 0).unwrap_or(DateTime::UNIX_EPOCH) // 2026-11-23 12:00 UTC
}

/// A fixture root of the repository (tests/fixtures/NAME).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

/// A root directory of this process under `$TMPDIR` (tests/fuzz.sh points it at a directory it
/// removes afterwards), optionally a copy of a fixture, whose files each input overwrites.
pub struct Scratch {
    path: PathBuf,
    /// Per tracked file: its path relative to the root, the template's content (`None` when it
    /// had none) and the first of its directories the template lacks (removed on reset).
    originals: Vec<(String, Option<Vec<u8>>, Option<PathBuf>)>,
}

impl Scratch {
    /// An empty root, or a copy of the fixture `from`.
    pub fn new(target: &str, from: Option<&str>) -> Scratch {
        let path =
            std::env::temp_dir().join(format!("headcount-fuzz-{target}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("scratch root");
        if let Some(name) = from {
            copy_tree(&fixture(name), &path);
        }
        Scratch {
            path,
            originals: Vec::new(),
        }
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Declares the files inputs may overwrite; [`Scratch::reset`] gives them back their
    /// template content (or removes them), so every input starts from the same tree.
    pub fn track(&mut self, files: &[&str]) {
        for rel in files {
            let content = fs::read(self.path.join(rel)).ok();
            let missing_dir = Path::new(rel)
                .ancestors()
                .skip(1)
                .filter(|a| !a.as_os_str().is_empty() && !self.path.join(a).exists())
                .last()
                .map(|a| self.path.join(a));
            self.originals
                .push(((*rel).to_owned(), content, missing_dir));
        }
    }

    /// Every tracked file back as in the template.
    pub fn reset(&self) {
        for (rel, content, missing_dir) in &self.originals {
            match content {
                Some(c) => self.write(rel, c),
                None => {
                    let _ = fs::remove_file(self.path.join(rel));
                }
            }
            if let Some(dir) = missing_dir {
                let _ = fs::remove_dir_all(dir);
            }
        }
    }

    /// Writes `bytes` to `rel` under the root, creating its directory.
    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let p = self.path.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("scratch directory");
        }
        fs::write(&p, bytes).expect("scratch file");
    }
}

/// The scratch root of this target (each target is its own process, so one per process): made on
/// the first input as [`Scratch::new`]`(target, from)` tracking `track`, and on every input given
/// back its tracked files' template content, so every input starts from the same tree.
pub fn root(target: &str, from: Option<&str>, track: &[&str]) -> &'static Scratch {
    static ROOT: OnceLock<Scratch> = OnceLock::new();
    let root = ROOT.get_or_init(|| {
        let mut s = Scratch::new(target, from);
        s.track(track);
        s
    });
    root.reset();
    root
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).expect("fixture") {
        let entry = entry.expect("fixture entry");
        let dest = to.join(entry.file_name());
        let kind = entry.file_type().expect("fixture entry type");
        if kind.is_symlink() {
            let target = fs::read_link(entry.path()).expect("fixture link");
            std::os::unix::fs::symlink(target, &dest).expect("scratch link");
        } else if kind.is_dir() {
            fs::create_dir_all(&dest).expect("scratch directory");
            copy_tree(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), &dest).expect("scratch file");
        }
    }
}

/// Collects a report of `level` under `root` with only the collectors named in `only`, for the
/// daily window, and checks the property every collector keeps: the body it posts is one the receiver
/// validates, and reads back as the same report. A value of the wrong shape, a panic or a body
/// the receiver refuses is a crash.
pub fn collect_and_check(root: &Path, level: Level, only: &[&str]) {
    let exclude: Vec<String> = headcount_collect::collector_names()
        .filter(|n| !only.contains(n))
        .map(str::to_owned)
        .collect();
    // One window: the collectors do not look at it (it only names the period).
    for window in [Window::Daily] {
        let Some(report) = headcount_collect::build_report(root, level, &exclude, window, now())
        else {
            panic!("no report at level {level}");
        };
        let body = report.to_body();
        match headcount_report::validate(&body) {
            Ok(back) => assert_eq!(
                back,
                report,
                "the report read back differs: {}",
                String::from_utf8_lossy(&body)
            ),
            Err(e) => panic!(
                "the receiver refuses what the collectors built ({e}): {}",
                String::from_utf8_lossy(&body)
            ),
        }
    }
}

/// A fuzz input read as a few values: bytes, little-endian `u16`s and length-prefixed records.
/// Reading past the end yields zeros and empty records, so every input is some valid layout.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// The input `data`.
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }

    /// The next byte (0 past the end).
    pub fn byte(&mut self) -> u8 {
        let (first, rest) = self
            .data
            .split_first()
            .map_or((0, &[][..]), |(b, r)| (*b, r));
        self.data = rest;
        first
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// A record: a `u16` length, then that many bytes (fewer at the end); `None` for the length
    /// 0xFFFF or when nothing is left.
    pub fn record(&mut self) -> Option<&'a [u8]> {
        if self.data.is_empty() {
            return None;
        }
        let len = self.u16();
        if len == u16::MAX {
            return None;
        }
        let (record, rest) = self.data.split_at(usize::from(len).min(self.data.len()));
        self.data = rest;
        Some(record)
    }

    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// All that is left.
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}
