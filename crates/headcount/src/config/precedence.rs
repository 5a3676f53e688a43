//! Which source sets the level.
//!
//! The contract: `off` from any source beats `minimal`/`full` from any source. The sources are
//! the kernel command line (`headcount.level=`, the last one on the line), the old
//! fedora-coreos-pinger opt-out, and every fragment that survived masking. Among
//! `minimal`/`full`, the kernel command line wins over the fragments, and among fragments the
//! later one in lexical order of file name wins, as for every other key.
//!
//! So an `off` written anywhere cannot be undone by a later fragment, and `headcount level off`
//! is effective whatever else the machine has.

use std::path::{Path, PathBuf};

use headcount_report::Level;

use super::inputs::Origin;
use super::{DEFAULT_LEVEL, Diagnostic, cmdline, pinger};

/// One source that names a level, valid or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelSource {
    /// The level it sets.
    pub level: Level,
    /// Where.
    pub origin: Origin,
}

/// A `[collecting] level` value as one fragment wrote it.
#[derive(Debug, Clone)]
pub struct FragmentLevel {
    /// The fragment.
    pub path: PathBuf,
    /// The 1-based line of the key.
    pub line: usize,
    /// The value as written.
    pub value: String,
}

/// The effective level and every source that named one.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The effective level.
    pub level: Level,
    /// The source that set it ([`Origin::Default`] when none did).
    pub origin: Origin,
    /// Every source naming a valid level, in precedence order: the kernel command line, the
    /// pinger opt-outs, then the fragments, later ones first.
    pub sources: Vec<LevelSource>,
}

/// Resolves the level from the command line and pinger opt-outs under `root` and the level
/// values of the fragments (in the order they apply). Invalid values and unreadable sources
/// are added to `errors`; they stop the program unless the result is off.
pub fn resolve(
    root: &Path,
    fragments: &[FragmentLevel],
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> Resolved {
    let mut sources = Vec::new();
    match cmdline::level_arg(root) {
        Err(e) => errors.push(e),
        Ok(None) => {}
        Ok(Some(value)) => match value.parse::<Level>() {
            Ok(level) => sources.push(LevelSource {
                level,
                origin: Origin::KernelCommandLine,
            }),
            Err(e) => errors.push(cmdline::invalid(root, &value, &e.to_string())),
        },
    }
    let pinger = pinger::find(root);
    errors.extend(pinger.errors);
    warnings.extend(pinger.warnings);
    sources.extend(pinger.opt_outs.into_iter().map(|o| LevelSource {
        level: Level::Off,
        origin: Origin::PingerOptOut {
            path: o.path,
            line: o.line,
        },
    }));
    for f in fragments.iter().rev() {
        match f.value.parse::<Level>() {
            Ok(level) => sources.push(LevelSource {
                level,
                origin: Origin::File {
                    path: f.path.clone(),
                    line: f.line,
                },
            }),
            Err(e) => errors.push(Diagnostic::at(
                &f.path,
                Some((f.line, 1)).filter(|(l, _)| *l > 0),
                Some("collecting.level"),
                e.to_string(),
            )),
        }
    }
    // Off anywhere first; otherwise the first source in precedence order.
    let winner = sources
        .iter()
        .find(|s| s.level == Level::Off)
        .or_else(|| sources.first())
        .cloned();
    let (level, origin) = winner.map_or((DEFAULT_LEVEL, Origin::Default), |s| (s.level, s.origin));
    Resolved {
        level,
        origin,
        sources,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(name: &str, value: &str) -> FragmentLevel {
        FragmentLevel {
            path: PathBuf::from(format!("/etc/headcount/config.d/{name}")),
            line: 2,
            value: value.to_owned(),
        }
    }

    fn resolve_in(root: &Path, fragments: &[FragmentLevel]) -> (Resolved, Vec<Diagnostic>) {
        let (mut errors, mut warnings) = (vec![], vec![]);
        let r = resolve(root, fragments, &mut errors, &mut warnings);
        (r, errors)
    }

    fn with_cmdline(cmdline: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("proc")).unwrap();
        std::fs::write(dir.path().join("proc/cmdline"), cmdline).unwrap();
        dir
    }

    #[test]
    fn without_sources_the_default_applies() {
        let dir = tempfile::tempdir().unwrap();
        let (r, errors) = resolve_in(dir.path(), &[]);
        assert_eq!((r.level, r.origin), (DEFAULT_LEVEL, Origin::Default));
        assert!(errors.is_empty() && r.sources.is_empty());
    }

    #[test]
    fn among_fragments_the_later_wins_but_off_anywhere_beats_it() {
        let dir = tempfile::tempdir().unwrap();
        for (levels, level, winner) in [
            (["full", "minimal"], Level::Minimal, "20-b.toml"),
            (["off", "full"], Level::Off, "10-a.toml"),
        ] {
            let fragments = [frag("10-a.toml", levels[0]), frag("20-b.toml", levels[1])];
            let (r, _) = resolve_in(dir.path(), &fragments);
            assert_eq!(r.level, level);
            assert_eq!(
                r.origin,
                Origin::File {
                    path: format!("/etc/headcount/config.d/{winner}").into(),
                    line: 2
                }
            );
            assert_eq!(r.sources.len(), 2);
        }
    }

    #[test]
    fn the_command_line_beats_fragments_except_their_off() {
        let dir = with_cmdline("quiet headcount.level=minimal\n");
        let (r, _) = resolve_in(dir.path(), &[frag("90-level.toml", "full")]);
        assert_eq!(
            (r.level, &r.origin),
            (Level::Minimal, &Origin::KernelCommandLine)
        );
        let (r, _) = resolve_in(dir.path(), &[frag("90-level.toml", "off")]);
        assert_eq!(r.level, Level::Off);
        let dir = with_cmdline("headcount.level=off\n");
        let (r, _) = resolve_in(dir.path(), &[frag("90-level.toml", "full")]);
        assert_eq!(
            (r.level, &r.origin),
            (Level::Off, &Origin::KernelCommandLine)
        );
        // The last one on the line wins.
        let dir = with_cmdline("headcount.level=off headcount.level=full\n");
        let (r, _) = resolve_in(dir.path(), &[frag("90-level.toml", "minimal")]);
        assert_eq!(
            (r.level, &r.origin),
            (Level::Full, &Origin::KernelCommandLine)
        );
    }

    #[test]
    fn the_pinger_opt_out_is_off() {
        let dir = with_cmdline("headcount.level=full\n");
        let d = dir.path().join("etc/fedora-coreos-pinger/config.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("99-disable-reporting.toml"),
            "[reporting]\nenabled = false\n",
        )
        .unwrap();
        let (r, _) = resolve_in(dir.path(), &[frag("90-level.toml", "full")]);
        assert_eq!(r.level, Level::Off);
        assert!(
            matches!(r.origin, Origin::PingerOptOut { line: 2, .. }),
            "{:?}",
            r.origin
        );
    }

    #[test]
    fn invalid_values_are_errors_naming_their_source() {
        let dir = with_cmdline("headcount.level=of\n");
        let (r, errors) = resolve_in(
            dir.path(),
            &[frag("10-a.toml", "maximal"), frag("20-b.toml", "full")],
        );
        assert_eq!(r.level, Level::Full, "the caller fails on the errors");
        let errors: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].contains("kernel command line headcount.level=of: unknown level \"of\""),
            "{errors:?}"
        );
        assert!(errors[1].starts_with("/etc/headcount/config.d/10-a.toml:2:1: [collecting] level: unknown level \"maximal\""), "{errors:?}");
    }
}
