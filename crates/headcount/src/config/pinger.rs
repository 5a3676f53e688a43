//! The old opt-out of `fedora-coreos-pinger`, honoured as level off.
//!
//! Fleets still apply Ignition configs written for Fedora CoreOS's earlier telemetry client,
//! first named `fedora-coreos-metrics-client` and renamed `fedora-coreos-pinger` (2019). Its
//! documented opt-out is a TOML fragment with
//!
//! ```toml
//! [reporting]
//! enabled = false
//! ```
//!
//! in `/etc/<name>/config.d/`. Fragments are found the way that client found them (with
//! liboverdrop 0.0.2): `{usr/lib,run,etc}/<name>/config.d/*.toml`, dotfiles ignored; a file in a
//! later directory replaces the same-named file in an earlier one; a symlink to `/dev/null` masks
//! it; any other symlink or non-file is skipped, as that client skipped it (we say so in a
//! warning). Surviving files apply in lexical order of name, a later `enabled` overriding an
//! earlier one. When the result is `enabled = false`, the level is off. Nothing else of that
//! configuration is read.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::Diagnostic;
use crate::file_read::{Links, read_bounded};

/// The client's names, each with its own three directories.
pub const PINGER_NAMES: [&str; 2] = ["fedora-coreos-pinger", "fedora-coreos-metrics-client"];
/// The directories under the root, lowest precedence first.
const BASE_DIRS: [&str; 3] = ["usr/lib", "run", "etc"];
/// A fragment bigger than this is refused (the opt-out is two lines).
const MAX_BYTES: u64 = 64 * 1024;
/// Directory entries looked at, at most: more is not a config directory.
const MAX_ENTRIES: usize = 4096;

/// An effective `[reporting] enabled = false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOut {
    /// The fragment that set it.
    pub path: PathBuf,
    /// The 1-based line of `enabled`.
    pub line: usize,
}

/// What was found under one root.
#[derive(Debug, Default)]
pub struct Found {
    /// One opt-out per client name whose configuration disables reporting.
    pub opt_outs: Vec<OptOut>,
    /// Fragments that could not be read or parsed: any of them might be the opt-out.
    pub errors: Vec<Diagnostic>,
    /// Fragments skipped the way the old client skipped them.
    pub warnings: Vec<Diagnostic>,
}

/// Looks for the old client's opt-out under `root`.
pub fn find(root: &Path) -> Found {
    let mut found = Found::default();
    for name in PINGER_NAMES {
        if let Some(o) = opt_out(root, name, &mut found) {
            found.opt_outs.push(o);
        }
    }
    found
}

fn opt_out(root: &Path, name: &str, found: &mut Found) -> Option<OptOut> {
    let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
    for base in BASE_DIRS {
        let dir = root.join(base).join(name).join("config.d");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => continue,
            Err(e) => {
                found.errors.push(Diagnostic::file(
                    &dir,
                    format!("cannot list directory: {e}"),
                ));
                continue;
            }
        };
        for (n, entry) in entries.enumerate() {
            if n >= MAX_ENTRIES {
                found.errors.push(Diagnostic::file(
                    &dir,
                    format!("more than {MAX_ENTRIES} entries: not read further"),
                ));
                break;
            }
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    found.errors.push(Diagnostic::file(
                        &dir,
                        format!("cannot list directory: {e}"),
                    ));
                    continue;
                }
            };
            // liboverdrop 0.0.2 skipped names that are not UTF-8, dotfiles and other suffixes.
            let Ok(file_name) = entry.file_name().into_string() else {
                continue;
            };
            if file_name.starts_with('.')
                || Path::new(&file_name).extension() != Some("toml".as_ref())
            {
                continue;
            }
            let path = entry.path();
            // Not following symlinks, as the old client did not.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_file() {
                by_name.insert(file_name, path);
            } else if kind.is_symlink() {
                if fs::read_link(&path).is_ok_and(|t| t == Path::new("/dev/null")) {
                    by_name.remove(&file_name);
                } else {
                    found.warnings.push(Diagnostic::file(
                        &path,
                        format!("a symlink: ignored, as {name} ignored it (only a symlink to /dev/null masks)"),
                    ));
                }
            }
        }
    }
    let mut enabled: Option<(bool, OptOut)> = None;
    for path in by_name.into_values() {
        match read(&path).and_then(|text| reporting_enabled(&path, &text)) {
            Ok(Some((value, line))) => {
                enabled = Some((
                    value,
                    OptOut {
                        path: path.clone(),
                        line,
                    },
                ))
            }
            Ok(None) => {}
            Err(d) => found.errors.push(d),
        }
    }
    match enabled {
        Some((false, o)) => Some(o),
        _ => None,
    }
}

/// Reads a fragment without following a symlink and without blocking on a FIFO.
fn read(path: &Path) -> Result<String, Diagnostic> {
    let bytes = read_bounded(path, MAX_BYTES, Links::Refuse)
        .map_err(|e| Diagnostic::file(path, e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| Diagnostic::file(path, "is not UTF-8 text"))
}

/// `[reporting] enabled` of one fragment with its line, or `None` when it does not set it.
fn reporting_enabled(path: &Path, text: &str) -> Result<Option<(bool, usize)>, Diagnostic> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let doc = DeTable::parse(text).map_err(|e| Diagnostic {
        path: Some(path.to_owned()),
        pos: e.span().map(|s| (line_of(s.start), 1)),
        key: None,
        message: format!(
            "not valid TOML ({}); it may hold the fedora-coreos-pinger opt-out",
            e.message().trim()
        ),
    })?;
    let Some((_, reporting)) = doc
        .get_ref()
        .iter()
        .find(|(k, _)| k.get_ref() == "reporting")
    else {
        return Ok(None);
    };
    let DeValue::Table(table) = reporting.get_ref() else {
        return Err(Diagnostic {
            path: Some(path.to_owned()),
            pos: Some((line_of(reporting.span().start), 1)),
            key: Some("[reporting]".to_owned()),
            message: "must be a table".to_owned(),
        });
    };
    let Some((key, value)) = table.iter().find(|(k, _)| k.get_ref() == "enabled") else {
        return Ok(None);
    };
    let line = line_of(key.span().start);
    match value.get_ref() {
        DeValue::Boolean(b) => Ok(Some((*b, line))),
        other => Err(Diagnostic {
            path: Some(path.to_owned()),
            pos: Some((line, 1)),
            key: Some("[reporting] enabled".to_owned()),
            message: format!(
                "expected true or false (no quotes), found {}",
                other.type_str()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFF: &str = "[reporting]\nenabled = false\n";
    const ON: &str = "[collecting]\nlevel = \"minimal\"\n\n[reporting]\nenabled = true\n";

    fn write(root: &Path, rel: &str, text: &str) -> PathBuf {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn the_documented_opt_out_under_either_name_is_found_with_its_line() {
        for name in PINGER_NAMES {
            let dir = tempfile::tempdir().unwrap();
            let p = write(
                dir.path(),
                &format!("etc/{name}/config.d/99-disable-reporting.toml"),
                OFF,
            );
            let f = find(dir.path());
            assert_eq!(f.opt_outs, vec![OptOut { path: p, line: 2 }], "{name}");
            assert!(f.errors.is_empty() && f.warnings.is_empty());
        }
    }

    #[test]
    fn later_names_override_and_etc_masks_the_vendor_default() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        // The vendor default enables; the administrator's later file disables.
        write(
            r,
            "usr/lib/fedora-coreos-pinger/config.d/10-default-enable.toml",
            ON,
        );
        let off = write(r, "etc/fedora-coreos-pinger/config.d/99-disable.toml", OFF);
        assert_eq!(find(r).opt_outs.len(), 1);
        // A later file enabling again wins, as it did for the pinger.
        write(r, "run/fedora-coreos-pinger/config.d/999-enable.toml", ON);
        assert!(find(r).opt_outs.is_empty());
        // A same-named /etc file replaces the /run one; a table without the key keeps the value.
        write(
            r,
            "etc/fedora-coreos-pinger/config.d/999-enable.toml",
            "[reporting]\n",
        );
        assert_eq!(
            find(r).opt_outs,
            vec![OptOut {
                path: off.clone(),
                line: 2
            }]
        );
        // A symlink to /dev/null masks; the opt-out is gone when its own file is masked.
        fs::remove_file(&off).unwrap();
        write(r, "usr/lib/fedora-coreos-pinger/config.d/50-off.toml", OFF);
        assert_eq!(find(r).opt_outs.len(), 1);
        std::os::unix::fs::symlink(
            "/dev/null",
            r.join("etc/fedora-coreos-pinger/config.d/50-off.toml"),
        )
        .unwrap();
        assert!(find(r).opt_outs.is_empty());
    }

    #[test]
    fn dotfiles_other_suffixes_and_symlinks_are_skipped_as_the_pinger_skipped_them() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(r, "etc/fedora-coreos-pinger/config.d/.99-hidden.toml", OFF);
        write(r, "etc/fedora-coreos-pinger/config.d/99-disable.conf", OFF);
        write(
            r,
            "etc/fedora-coreos-pinger/config.d/99-disable.toml.bak",
            OFF,
        );
        fs::create_dir_all(r.join("etc/fedora-coreos-pinger/config.d/98-dir.toml")).unwrap();
        let target = write(r, "srv/disable.toml", OFF);
        std::os::unix::fs::symlink(
            &target,
            r.join("etc/fedora-coreos-pinger/config.d/97-link.toml"),
        )
        .unwrap();
        let f = find(r);
        assert!(f.opt_outs.is_empty(), "{:?}", f.opt_outs);
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        assert_eq!(f.warnings.len(), 1, "{:?}", f.warnings);
        assert!(f.warnings[0].to_string().contains("97-link.toml"));
    }

    #[test]
    fn nothing_else_of_the_pinger_config_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[collecting]\nlevel = \"full\"\nunknown = 1\n[other]\nx = 2\n";
        write(
            dir.path(),
            "etc/fedora-coreos-pinger/config.d/50-x.toml",
            text,
        );
        let f = find(dir.path());
        assert!(f.opt_outs.is_empty() && f.errors.is_empty() && f.warnings.is_empty());
    }

    #[test]
    fn a_fragment_that_cannot_be_read_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        let bad = write(
            r,
            "etc/fedora-coreos-metrics-client/config.d/99-x.toml",
            "[reporting\nenabled = false\n",
        );
        let typed = write(
            r,
            "etc/fedora-coreos-pinger/config.d/99-x.toml",
            "[reporting]\nenabled = \"false\"\n",
        );
        let f = find(r);
        assert!(f.opt_outs.is_empty());
        let errors: Vec<String> = f.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors.iter().any(|e| e.starts_with(&format!(
                "{}:2:1: [reporting] enabled: expected true or false",
                typed.display()
            ))),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&bad.display().to_string()) && e.contains("not valid TOML")),
            "{errors:?}"
        );
        // A FIFO is refused without blocking.
        let fifo = r.join("etc/fedora-coreos-pinger/config.d/98-fifo.toml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let f = find(r);
        assert_eq!(
            f.errors.len(),
            2,
            "a FIFO is not a file, so it is skipped like one: {:?}",
            f.errors
        );
    }
}
