//! Golden reports of every fixture root, the leak test and the age bucket end to end.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use headcount_collect::{Collection, build_collection, build_report, render_text};
use headcount_report::{Level, Report, Rules, Window, validate};

fn collect(root: &Path, level: Level) -> Report {
    build_report(root, level, &[], Window::Daily, now()).unwrap()
}

/// The report with where its values came from, as `headcount preview` renders it.
fn collection(root: &Path, level: Level) -> Collection {
    build_collection(
        root,
        level,
        &[],
        &Rules::default(),
        Window::Daily,
        now(),
        None,
    )
    .unwrap()
}

/// `headcount preview --json` prints the body plus a newline; the readable preview prints
/// render_text. Both are golden for every fixture at both levels.
#[test]
fn golden_previews() {
    let mut failures = Vec::new();
    let fixtures = fixtures();
    assert!(fixtures.len() >= 15, "fixtures: {}", fixtures.len());
    for (kind, root) in fixtures {
        set_installed(&root, meta(&kind).installed);
        for level in [Level::Minimal, Level::Full] {
            let collection = collection(&root, level);
            let report = &collection.report;
            let body = report.to_body();
            assert_eq!(&validate(&body).unwrap(), report, "{kind} {level}");
            let json = format!("{}\n", String::from_utf8(body).unwrap());
            let golden = repo().join("tests/golden/preview");
            for (ext, text) in [("json", json), ("txt", render_text(&collection))] {
                let path = golden.join(format!("{kind}.{level}.{ext}"));
                if let Err(e) = check_golden(&path, &text) {
                    failures.push(e);
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every root says where its facts come from, and has the metadata the leak and twin tests use.
#[test]
fn every_root_has_sources_and_metadata() {
    let sources = fs::read_to_string(fixtures_dir().join("SOURCES.md")).unwrap();
    for (kind, _) in fixtures() {
        assert!(
            sources.contains(&format!("\n## {kind}\n")),
            "tests/fixtures/SOURCES.md has no section for {kind}"
        );
        assert!(
            fixtures_dir().join(format!("{kind}.meta")).is_file(),
            "{kind}"
        );
    }
    for section in sources.lines().filter_map(|l| l.strip_prefix("## ")) {
        assert!(
            section == "Shared formats" || fixtures_dir().join(section).exists(),
            "SOURCES.md names {section}, which is no fixture root or file"
        );
    }
}

#[test]
fn reports_carry_nothing_identifying() {
    for (kind, root) in fixtures() {
        let meta = meta(&kind);
        set_installed(&root, meta.installed);
        let collection = collection(&root, Level::Full);
        let body = String::from_utf8(collection.report.to_body())
            .unwrap()
            .to_lowercase();
        let text = render_text(&collection).to_lowercase();
        assert!(
            meta.secrets.len() >= 5,
            "{kind} names too few identifying values"
        );
        for (secret, _) in &meta.secrets {
            let s = secret.to_lowercase();
            assert!(!body.contains(&s), "{kind}: report carries {secret:?}");
            assert!(!text.contains(&s), "{kind}: preview carries {secret:?}");
        }
    }
}

/// Replaces every identifying value in file contents, link targets and file names.
fn rewrite(dir: &Path, secrets: &[(String, String)]) {
    let swap = |s: &str| {
        secrets
            .iter()
            .fold(s.to_owned(), |acc, (a, b)| acc.replace(a.as_str(), b))
    };
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let path = e.path();
        let ty = e.file_type().unwrap();
        if ty.is_symlink() {
            let target = fs::read_link(&path).unwrap();
            fs::remove_file(&path).unwrap();
            std::os::unix::fs::symlink(swap(target.to_str().unwrap()), &path).unwrap();
        } else if ty.is_dir() {
            rewrite(&path, secrets);
        } else if let Ok(text) = fs::read_to_string(&path) {
            fs::write(&path, swap(&text)).unwrap();
        }
        let name = e.file_name().into_string().unwrap();
        if swap(&name) != name {
            fs::rename(&path, dir.join(swap(&name))).unwrap();
        }
    }
}

#[test]
fn machines_differing_only_in_identity_report_the_same_bytes() {
    for (kind, root) in fixtures() {
        let meta = meta(&kind);
        let twin = copy_of(&kind);
        rewrite(&twin, &meta.secrets);
        // The twin really differs: none of the original values is left in it.
        let mut changed = 0;
        for (a, _) in &meta.secrets {
            let hostname = fs::read_to_string(twin.join("etc/hostname")).unwrap();
            let machine_id = fs::read_to_string(twin.join("etc/machine-id")).unwrap();
            assert!(!hostname.contains(a.as_str()) && !machine_id.contains(a.as_str()));
            changed += 1;
        }
        assert!(changed > 0);
        set_installed(&root, meta.installed);
        set_installed(&twin, meta.installed);
        for level in [Level::Minimal, Level::Full] {
            let a = collection(&root, level);
            let b = collection(&twin, level);
            assert_eq!(
                String::from_utf8(a.report.to_body()).unwrap(),
                String::from_utf8(b.report.to_body()).unwrap(),
                "{kind} {level}"
            );
            assert_eq!(render_text(&a), render_text(&b));
        }
    }
}

#[test]
fn age_bucket_follows_machine_id_mtime_at_each_boundary() {
    let root = copy_of("qemu-fcos-x86_64");
    // NOW is Monday 2026-11-23 12:00 UTC; its countme window started that Monday 00:00.
    let monday = 1_795_392_000u64;
    let week = 604_800u64;
    let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
    for (installed, bucket) in [
        (at(monday + 3600), 1),
        (at(monday - week), 1),
        (at(monday - week - 1), 2),
        (at(monday - 4 * week), 2),
        (at(monday - 4 * week - 1), 3),
        (at(monday - 24 * week), 3),
        (at(monday - 24 * week - 1), 4),
        (at(monday + 5 * week), 1),
        (SystemTime::UNIX_EPOCH, 4),
    ] {
        set_installed(&root, installed);
        let report = collect(&root, Level::Minimal);
        assert_eq!(
            report.age_bucket.map(|b| b.get()),
            Some(bucket),
            "installed {installed:?}"
        );
    }
    set_installed(&root, at(monday));
    // A broken clock at install: before 1970 is "unknown" (4); a future install time counts as
    // new (1), as in countme. Neither panics, whatever the filesystem stores.
    for (extreme, bucket) in [
        (
            SystemTime::UNIX_EPOCH - std::time::Duration::from_secs(2_000_000_000),
            4,
        ),
        (
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(13_000_000_000),
            1,
        ),
    ] {
        set_installed(&root, extreme);
        assert_eq!(
            collect(&root, Level::Minimal).age_bucket.map(|b| b.get()),
            Some(bucket),
            "installed {extreme:?}"
        );
    }
    // As DNF's get_system_epoch: unknown when the file is empty or its first word is
    // "uninitialized"; any other content, even blanks, gives the mtime.
    let a_week_ago = at(monday - week);
    for (content, bucket) in [
        ("uninitialized\n", 4),
        ("  uninitialized trailing words\n", 4),
        ("", 4),
        ("\n", 1),
        ("uninitializedX\n", 1),
        ("0123456789abcdef0123456789abcdef\n", 1),
    ] {
        fs::write(root.join("etc/machine-id"), content).unwrap();
        set_installed(&root, a_week_ago);
        assert_eq!(
            collect(&root, Level::Minimal).age_bucket.map(|b| b.get()),
            Some(bucket),
            "machine-id {content:?}"
        );
    }
    fs::remove_file(root.join("etc/machine-id")).unwrap();
    assert_eq!(
        collect(&root, Level::Minimal).age_bucket.map(|b| b.get()),
        Some(4)
    );
}

#[test]
fn excluded_collectors_leave_their_fields_out() {
    let root = fixtures_dir().join("aws-fcos-x86_64");
    let exclude: Vec<String> = ["instance-type", "hardware", "age"]
        .map(String::from)
        .to_vec();
    let r = build_report(&root, Level::Full, &exclude, Window::Monthly, now()).unwrap();
    assert_eq!(r.period.to_string(), "2026-11");
    assert!(r.hardware.is_none() && r.age_bucket.is_none());
    assert_eq!(r.platform.unwrap().instance_type, None);
    assert!(r.network.is_some());
    let no_platform = build_report(
        &root,
        Level::Minimal,
        &["platform".into()],
        Window::Daily,
        now(),
    )
    .unwrap();
    assert!(
        no_platform.platform.is_none(),
        "the instance type never stands alone"
    );
}

/// os-release `NAME` is free text a derived image fills with anything, a site's own label
/// included: no report carries it (a receiver derives Fedora's countme os_name from the ID and
/// version instead).
#[test]
fn os_release_name_is_never_sent() {
    let root = copy_of("aws-fcos-x86_64");
    let os_release = root.join("usr/lib/os-release");
    let text = fs::read_to_string(&os_release).unwrap();
    let renamed: String = text
        .lines()
        .map(|l| {
            if l.starts_with("NAME=") {
                "NAME=\"Acme Payments Fleet West\"".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(renamed, text, "the fixture has a NAME");
    fs::write(&os_release, renamed + "\n").unwrap();
    for level in [Level::Minimal, Level::Full] {
        for window in Window::ALL {
            let body = build_report(&root, level, &[], window, now())
                .unwrap()
                .to_body();
            let body = String::from_utf8(body).unwrap();
            assert!(!body.contains("Acme"), "{body}");
            assert!(body.contains(r#""id":"fedora""#), "{body}");
        }
    }
}
