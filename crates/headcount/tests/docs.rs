//! The configuration page documents exactly the keys the code accepts.
#![allow(clippy::unwrap_used)]

mod common;

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
    for (key, default) in common::NUMERIC_DEFAULTS {
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

const DAEMON_PAGE: &str = include_str!("../../../docs/usage/daemon.md");
const PROTOCOL_PAGE: &str = include_str!("../../../docs/development/protocol.md");

/// A page's text with every run of whitespace made one space (lines wrap anywhere).
fn flat(page: &str) -> String {
    page.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The limits the daemon page and the protocol state are the code's.
#[test]
fn the_daemon_and_protocol_pages_state_the_codes_limits() {
    use headcount::config::fragments::MAX_FRAGMENT_BYTES;
    use headcount::send::MAX_REDIRECTS;
    use headcount::send::redirect::MAX_LOCATION_BYTES;
    use headcount::state::{MAX_STATE_BYTES, TEMP_PREFIX};
    let daemon = flat(DAEMON_PAGE);
    for needle in [
        format!("larger than {MAX_STATE_BYTES} bytes"),
        format!("unpredictable name starting `{TEMP_PREFIX}`"),
        format!("at most {MAX_REDIRECTS} times per send"),
        format!("larger than {} KiB", MAX_FRAGMENT_BYTES / 1024),
    ] {
        assert!(daemon.contains(&needle), "daemon.md lacks {needle:?}");
    }
    let protocol = flat(PROTOCOL_PAGE);
    for needle in [
        format!("at most {MAX_LOCATION_BYTES} bytes"),
        format!("at most {MAX_REDIRECTS} redirects per send"),
    ] {
        assert!(protocol.contains(&needle), "protocol.md lacks {needle:?}");
    }
}

/// The three `Retry-After` date forms the protocol shows are the ones the daemon accepts.
#[test]
fn the_documented_retry_after_dates_parse() {
    let now = chrono::DateTime::parse_from_rfc3339("1994-11-06T08:47:37Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let sentence = PROTOCOL_PAGE
        .split("IMF-fixdate (")
        .nth(1)
        .unwrap()
        .split(". A date")
        .next()
        .unwrap();
    let dates: Vec<&str> = sentence.split('`').skip(1).step_by(2).collect();
    assert_eq!(dates.len(), 3, "{sentence}");
    for date in dates {
        assert_eq!(
            headcount::send::parse_retry_after(date, now),
            Some(std::time::Duration::from_secs(120)),
            "{date:?}"
        );
    }
}

/// The status line and `status --json` look as the daemon page shows them.
#[test]
fn the_documented_status_line_and_json_keys_are_the_codes() {
    use chrono::{DateTime, Utc};
    use headcount::daemon::status_line;
    use headcount::schedule::{Action, Schedule, plausible_from};
    use headcount::state::{State, StateFile};
    use headcount_report::Window;

    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let mut state = State::default();
    state.set(Window::Daily, "2026-11-23".parse().unwrap());
    state.set(Window::Monthly, "2026-11".parse().unwrap());
    let settings = headcount::config::Settings::default();
    let schedule = Schedule::new(plausible_from());
    let until = at("2026-11-24T03:12:09Z");
    let line = status_line(
        &settings,
        &state,
        &schedule,
        Action::Sleep { until },
        at("2026-11-23T10:00:00Z"),
    );
    assert!(
        DAEMON_PAGE.contains(&format!("Status: \"{line}\"")),
        "daemon.md does not show {line:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let s = headcount::status::status(
        &settings,
        &StateFile::at(dir.path().join("state.json")),
        at("2026-11-23T10:00:00Z"),
        plausible_from(),
    );
    let value = serde_json::to_value(&s).unwrap();
    let code: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let shown = DAEMON_PAGE
        .lines()
        .find_map(|l| l.strip_prefix("headcount status --json   # "))
        .unwrap();
    let documented: Vec<&str> = shown.split('"').skip(1).step_by(2).collect();
    let mut code_sorted = code.clone();
    code_sorted.sort_unstable();
    let mut documented_sorted = documented.clone();
    documented_sorted.sort_unstable();
    assert_eq!(documented_sorted, code_sorted, "{shown}");
    for key in value["clock"].as_object().unwrap().keys() {
        assert!(
            DAEMON_PAGE.contains(&format!("`{key}`")),
            "daemon.md does not name clock.{key}"
        );
    }
}

const PRIVACY_PAGE: &str = include_str!("../../../docs/usage/privacy.md");

/// privacy.md shows exactly what the metadata client asks, with the code's headers and limits,
/// and the pages that link to its section find it.
#[test]
fn the_privacy_page_states_the_metadata_query_as_coded() {
    use headcount::metadata::*;
    let page = flat(PRIVACY_PAGE);
    let base = METADATA_BASE;
    for needle in [
        format!("PUT {base}{AWS_TOKEN_PATH}"),
        format!("GET {base}{AWS_INSTANCE_TYPE_PATH}"),
        format!("GET {base}{AZURE_VMSIZE_PATH}"),
        format!("GET {base}{GCP_MACHINE_TYPE_PATH}"),
        format!("{AWS_TOKEN_TTL_HEADER}: {AWS_TOKEN_TTL_SECS}"),
        format!("{AWS_TOKEN_HEADER}: <that token>"),
        format!("{}: {}", AZURE_HEADER.0, AZURE_HEADER.1),
        format!("{}: {}", GCP_HEADER.0, GCP_HEADER.1),
        format!("for at most {} seconds", TIMEOUT.as_secs()),
        format!("at most {MAX_ANSWER_BYTES} bytes"),
    ] {
        assert!(
            page.to_lowercase().contains(&needle.to_lowercase()),
            "privacy.md lacks {needle:?}"
        );
    }
    assert!(PRIVACY_PAGE.contains("\n## The cloud metadata query\n"));
    for page in [DAEMON_PAGE, PAGE] {
        assert!(page.contains("privacy.md#the-cloud-metadata-query"));
    }
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

/// architecture.md names modules, paths and pages: each one exists, so the map cannot drift from
/// the tree.
#[test]
fn the_architecture_page_names_only_what_exists() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let page = include_str!("../../../docs/development/architecture.md");
    let mut checked = 0;
    // Relative links, from the page's folder.
    for link in page.split("](").skip(1) {
        let target: String = link.chars().take_while(|c| *c != ')').collect();
        if target.starts_with("http") {
            continue;
        }
        let path = repo.join("docs/development").join(&target);
        assert!(path.exists(), "architecture.md links to missing {target}");
        checked += 1;
    }
    // Modules in each crate's table, under the heading that names the crate's `src`.
    let mut src: Option<std::path::PathBuf> = None;
    for line in page.lines() {
        if line.starts_with('#') {
            src = line
                .split('`')
                .nth(1)
                .filter(|p| p.starts_with("crates/"))
                .map(|p| repo.join(p));
        }
        let backticked = line.split('`').skip(1).step_by(2);
        for name in backticked {
            if name.starts_with("crates/") || name.starts_with("tests/") {
                let path = name.split_whitespace().next().unwrap_or(name);
                assert!(
                    repo.join(path).exists(),
                    "architecture.md names missing {path}"
                );
                checked += 1;
            } else if let Some(src) = &src
                && line.starts_with("| `")
                && (name.ends_with(".rs") || name.ends_with('/'))
            {
                assert!(
                    exists_below(src, name),
                    "architecture.md names missing {}/{name}",
                    src.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 40, "only {checked} names checked");
}

/// Whether `name` (a file, or a folder ending in `/`) is `dir` itself's child or lies below it.
fn exists_below(dir: &std::path::Path, name: &str) -> bool {
    if dir.join(name).exists() {
        return true;
    }
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .any(|p| p.is_dir() && exists_below(&p, name))
}
