//! The configuration page documents exactly the keys the code accepts.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use headcount::config::SECTIONS;

const PAGE: &str = include_str!("../../../docs/usage/configuration.md");

/// `(section, key)` for every row of a key table under a "### `[section]`" heading.
fn documented_keys() -> BTreeSet<(String, String)> {
    let mut section = None;
    let mut keys = BTreeSet::new();
    for line in PAGE.lines() {
        if let Some(rest) = line.strip_prefix("### `[") {
            section = rest.strip_suffix("]`").map(str::to_owned);
        } else if line.starts_with('#') {
            // Any other heading ends the key tables (later tables are about something else).
            section = None;
        } else if let (Some(s), Some(rest)) = (&section, line.strip_prefix("| `")) {
            let key = rest.split('`').next().unwrap();
            keys.insert((s.clone(), key.to_owned()));
        }
    }
    keys
}

#[test]
fn every_key_is_documented_and_every_documented_key_exists() {
    let code: BTreeSet<(String, String)> = SECTIONS
        .iter()
        .flat_map(|(s, ks)| ks.iter().map(move |k| (s.to_string(), k.to_string())))
        .collect();
    assert_eq!(documented_keys(), code);
}

#[test]
fn documented_defaults_match_the_code() {
    use headcount::config::*;
    for (key, default) in [
        ("timeout_secs", DEFAULT_TIMEOUT_SECS),
        ("max_startup_delay_secs", DEFAULT_MAX_STARTUP_DELAY_SECS),
        ("max_rollover_delay_secs", DEFAULT_MAX_ROLLOVER_DELAY_SECS),
    ] {
        let row = PAGE
            .lines()
            .find(|l| l.starts_with(&format!("| `{key}` |")))
            .unwrap();
        assert!(row.contains(&format!("| `{default}` |")), "{row}");
    }
    let level = PAGE.lines().find(|l| l.starts_with("| `level` |")).unwrap();
    assert!(level.contains(&format!("`\"{DEFAULT_LEVEL}\"`")), "{level}");
}

#[test]
fn the_ignition_example_sets_level_off() {
    let line = PAGE
        .lines()
        .find(|l| l.starts_with("{\"ignition\""))
        .unwrap();
    assert!(line.contains("/etc/headcount/config.d/90-level.toml"));
    assert!(line.contains("%5Bcollecting%5D%0Alevel%20%3D%20%22off%22"));
}

const README: &str = include_str!("../../../README.md");

#[test]
fn readme_links_and_example_paths_exist() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for link in README.split("](").skip(1) {
        let target = link.split(')').next().unwrap();
        if !target.starts_with("http") {
            assert!(
                repo.join(target).exists(),
                "README links to missing {target}"
            );
        }
    }
    for word in README
        .split_whitespace()
        .filter(|w| w.starts_with("docs/") || w.starts_with("tests/"))
    {
        assert!(repo.join(word).exists(), "README names missing {word}");
    }
}

/// Every link into this repository (log lines, units, catalog, spec, docs) names a file that exists.
#[test]
fn links_into_the_repository_point_at_existing_files() {
    const PREFIX: &str = "headcount-project/headcount/blob/main/";
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut stack = vec![
        repo.join("crates"),
        repo.join("systemd"),
        repo.join("dist"),
        repo.join("docs"),
        repo.join("README.md"),
    ];
    let mut checked = 0;
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            if path.ends_with("target") || path.ends_with("fixtures") {
                continue;
            }
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for link in text.split(PREFIX).skip(1) {
            let target: String = link
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "/._-".contains(*c))
                .collect();
            let target = target.trim_end_matches('.');
            assert!(
                repo.join(target).exists(),
                "{} links to missing {target}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} links found");
}

/// The worked example of configuration.md is a real tree, and resolves as the page says.
#[test]
fn the_worked_example_resolves_as_documented() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/root");
    assert!(PAGE.contains("check-config --root docs/examples/root"));
    let loaded = headcount::config::load(&root, &[]).unwrap();
    let s = &loaded.settings;
    assert_eq!(s.level, headcount_report::Level::Full);
    assert_eq!(
        s.endpoint.as_ref().map(|u| u.as_str()),
        Some("https://counts.example.org/v1/report")
    );
    assert_eq!(
        s.proxy, None,
        "the /dev/null symlink in /etc masks the vendor's proxy"
    );
    let names: Vec<String> = loaded
        .fragments
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["10-defaults.toml", "50-proxy.toml", "90-level.toml"]
    );
}

const OPERATIONS: &str = include_str!("../../../docs/usage/operations.md");

/// operations.md opens with how to turn headcount off, every way, in order of precedence, with
/// the names the code uses.
#[test]
fn operations_opens_with_every_way_to_turn_it_off_in_order_of_precedence() {
    use headcount::config::{cmdline::LEVEL_PARAM, pinger::PINGER_NAMES};
    let first = OPERATIONS.lines().find(|l| l.starts_with("## ")).unwrap();
    assert_eq!(first, "## Turn it off");
    let start = OPERATIONS.find("## Turn it off").unwrap();
    let section = &OPERATIONS[start..start + OPERATIONS[start + 3..].find("\n## ").unwrap() + 3];
    let ways = [
        format!("`{LEVEL_PARAM}=off`"),
        format!("`/etc/{}/config.d/`", PINGER_NAMES[0]),
        "`sudo headcount level off`".to_owned(),
        "`[collecting] level = \"off\"`".to_owned(),
    ];
    let positions: Vec<usize> = ways
        .iter()
        .map(|w| {
            section
                .find(w.as_str())
                .unwrap_or_else(|| panic!("{w} missing from the \"Turn it off\" section"))
        })
        .collect();
    let mut sorted = positions.clone();
    sorted.sort();
    assert_eq!(positions, sorted, "not in order of precedence: {ways:?}");
    for needle in [
        format!("`/etc/{}/config.d/`", PINGER_NAMES[1]),
        "`[reporting] enabled = false`".to_owned(),
        format!("`/{}`", headcount::level::LEVEL_FRAGMENT),
    ] {
        assert!(section.contains(&needle), "{needle} missing");
    }
    // The Butane example for the kernel command line.
    assert!(
        OPERATIONS.contains(&format!(
            "kernel_arguments:\n  should_exist:\n    - {LEVEL_PARAM}=off\n"
        )),
        "no Butane kernel_arguments example"
    );
}

#[test]
fn the_proxy_row_names_every_proxy_scheme() {
    let row = PAGE.lines().find(|l| l.starts_with("| `proxy` |")).unwrap();
    for scheme in headcount::config::PROXY_SCHEMES {
        assert!(row.contains(&format!("`{scheme}://`")), "{scheme}: {row}");
    }
}
