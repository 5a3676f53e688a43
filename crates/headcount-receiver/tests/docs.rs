//! The receiver's pages against the code: the figures privacy.md states are the calibration's,
//! the JSON shapes protocol.md shows are what the views write, and every command and option of
//! the binary is in receiver.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use headcount_receiver::Settings;
use headcount_receiver::release::{calibrate, params};
use headcount_receiver::store::{Release, ReleasedField, SeriesPoint};
use headcount_receiver::views::{counts_view, series_view};
use headcount_report::Window;
use serde_json::Value;

const PRIVACY: &str = include_str!("../../../docs/usage/privacy.md");
const PROTOCOL: &str = include_str!("../../../docs/development/protocol.md");
const RECEIVER: &str = include_str!("../../../docs/usage/receiver.md");
const COUNTME: &str = include_str!("../../../docs/usage/countme.md");

fn with_crosstab() -> Settings {
    Settings {
        crosstabs: vec![vec![
            "os.version_id".into(),
            "platform.id".into(),
            "arch".into(),
        ]],
        ..Settings::default()
    }
}

#[test]
fn privacy_page_states_the_calibrations_figures() {
    let c = calibrate(&Settings::default(), Window::Daily).unwrap();
    let sentence = format!(
        "the noise has a scale of {:.1} and the threshold is {}",
        c.noise_scale, c.threshold
    );
    assert!(PRIVACY.contains(&sentence), "privacy.md lacks {sentence:?}");
    let month = c.epsilon_over(31, 1e-5).unwrap();
    let year = c.epsilon_over(365 + 12, 1e-4).unwrap();
    let weekly = calibrate(&Settings::default(), Window::Weekly).unwrap();
    assert_eq!(weekly.value_cells, c.value_cells + 1, "the countme tuple");
    let with_weeks = headcount_receiver::dp::Calibration::epsilon_over_all(
        &[(&c, 365 + 12), (&weekly, 52)],
        1e-4,
    )
    .unwrap();
    for claim in [
        format!("(31 releases) are together (ε ≈ {month:.1}, δ = 10⁻⁵)"),
        format!("is (ε ≈ {year:.1}, δ = 10⁻⁴)"),
        format!("one more cell) (ε ≈ {with_weeks:.1}, δ = 10⁻⁴)"),
        format!(
            "about ±{:.0} with the defaults",
            (6.0 * c.noise_scale / 10.0).round() * 10.0
        ),
    ] {
        assert!(PRIVACY.contains(&claim), "privacy.md lacks {claim:?}");
    }
    let fields = format!(
        "({} fields)",
        headcount_receiver::fields::known_fields().len()
    );
    assert!(PRIVACY.contains(&fields), "privacy.md lacks {fields:?}");
    let (epsilon, _, _) = c.spent().unwrap();
    assert!(epsilon <= 1.0);
    // The start-up line receiver.md quotes, for its one cross-tabulation.
    let c = calibrate(&with_crosstab(), Window::Daily).unwrap();
    let w = calibrate(&with_crosstab(), Window::Weekly).unwrap();
    let line = format!(
        "releasing each closed period with epsilon 1 delta 1e-7: noise scale {:.2},\nthreshold {} \
         (weekly periods, with the countme tuple: noise scale {:.2}, threshold {})",
        c.noise_scale, c.threshold, w.noise_scale, w.threshold
    );
    assert!(RECEIVER.contains(&line), "receiver.md lacks {line:?}");
}

/// Every ```json block after `heading` in protocol.md, parsed.
fn json_blocks_after(heading: &str) -> Vec<Value> {
    let start = PROTOCOL
        .find(heading)
        .unwrap_or_else(|| panic!("{heading}"));
    let rest = &PROTOCOL[start + heading.len()..];
    let end = rest.find("\n### ").unwrap_or(rest.len());
    rest[..end]
        .split("```json\n")
        .skip(1)
        .map(|b| serde_json::from_str(&b[..b.find("```").unwrap()]).unwrap())
        .collect()
}

/// The keys of every object in `v`, with their paths (array elements share their array's path).
fn shape(v: &Value, path: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                // Field names and values are data, not shape.
                let key = if path.ends_with(".fields") || path.ends_with(".values") {
                    "*"
                } else {
                    k
                };
                let p = format!("{path}.{key}");
                out.insert(p.clone());
                shape(c, &p, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| shape(c, &format!("{path}[]"), out)),
        _ => {}
    }
}

fn shape_of(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    shape(v, "", &mut out);
    out
}

fn release() -> Release {
    let s = with_crosstab();
    Release {
        window: headcount_report::Window::Daily,
        period: "2026-11-23".parse().unwrap(),
        reports: 1000,
        params: params(&calibrate(&s, Window::Daily).unwrap(), &s),
        fields: vec![ReleasedField {
            field: "arch".into(),
            other: 3,
            values: r#"{"x86_64":997}"#.into(),
        }],
    }
}

#[test]
fn protocol_shows_the_views_shapes_and_parameters() {
    let r = release();
    let real = serde_json::to_value(counts_view(&r).unwrap()).unwrap();
    let blocks = json_blocks_after("### Released periods");
    assert_eq!(
        blocks[0], real["privacy"],
        "the privacy example is not the calibration's"
    );
    let counts = &json_blocks_after("### GET /v1/counts")[0];
    assert_eq!(shape_of(counts), shape_of(&real));
    assert_eq!(counts["privacy"], real["privacy"]);

    let points = vec![SeriesPoint {
        period: r.period,
        reports: r.reports,
        params: r.params,
        field: Some((3, r#"{"x86_64":997}"#.into())),
    }];
    let real =
        serde_json::to_value(series_view(r.window, "arch", r.period, r.period, &points).unwrap())
            .unwrap();
    let series = &json_blocks_after("### GET /v1/series")[0];
    assert_eq!(shape_of(series), shape_of(&real));
    let mut documented = series["privacy"][0].clone();
    let mut computed = real["privacy"][0].clone();
    for v in [&mut documented, &mut computed] {
        let m = v.as_object_mut().unwrap();
        m.remove("from");
        m.remove("to");
    }
    assert_eq!(documented, computed);
}

#[test]
fn receiver_page_names_every_command_and_option() {
    let help = |args: &[&str]| {
        let out = std::process::Command::new(common::BIN)
            .args(args)
            .arg("--help")
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    let top = help(&[]);
    let commands: Vec<&str> = top
        .split("Commands:")
        .nth(1)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .take_while(|c| *c != "Options:")
        .filter(|c| *c != "help")
        .collect();
    assert_eq!(commands, ["serve", "publish", "import", "export"]);
    for c in commands {
        assert!(
            RECEIVER.contains(&format!("headcount-receiver {c} ")),
            "receiver.md does not show `headcount-receiver {c}`"
        );
        for option in help(&[c])
            .split_whitespace()
            .filter(|w| w.starts_with("--") && *w != "--help")
        {
            let option = option.trim_end_matches(|ch: char| !ch.is_ascii_alphanumeric());
            assert!(
                RECEIVER.contains(&format!("`{option}"))
                    || RECEIVER.contains(&format!("{option} ")),
                "receiver.md does not document {c} {option}"
            );
        }
    }
    for endpoint in ["/v1/report", "/v1/counts", "/v1/series"] {
        assert!(
            PROTOCOL.contains(&format!("### POST {endpoint}"))
                || PROTOCOL.contains(&format!("### GET {endpoint}")),
            "{endpoint}"
        );
    }
}

/// The rows of the first Markdown table after `heading` in countme.md, cells unquoted.
fn table_after(heading: &str) -> Vec<Vec<String>> {
    let start = COUNTME.find(heading).unwrap_or_else(|| panic!("{heading}"));
    COUNTME[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect()
        })
        .collect()
}

/// countme.md's os_name and architecture tables are the code's, and its join recipe's header
/// is the export's.
#[test]
fn countme_page_states_the_codes_spellings() {
    use headcount_receiver::countme::names::{basearch, builtin};
    let names: Vec<(String, Option<String>, String)> = table_after("The built-in os_name table")
        .into_iter()
        .map(|r| {
            (
                r[0].clone(),
                Some(r[1].clone()).filter(|v| !v.is_empty()),
                r[2].clone(),
            )
        })
        .collect();
    let code: Vec<(String, Option<String>, String)> = builtin()
        .map(|(id, from, name)| (id.to_string(), from.map(str::to_owned), name.to_string()))
        .collect();
    assert_eq!(names, code);
    let arches: Vec<(String, String)> = table_after("The architectures, as `arch` reports them")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let code: Vec<(String, String)> = headcount_report::Arch::ALL
        .iter()
        .map(|a| (a.as_str().to_owned(), basearch(*a).to_owned()))
        .collect();
    assert_eq!(arches, code);
    let header = headcount_receiver::countme::totals::HEADER.join(",");
    assert!(
        COUNTME.contains(&format!("```text\n{header}\n")),
        "{header}"
    );
    assert!(COUNTME.contains(&format!("`{}`", headcount_receiver::countme::FIELD)));
    assert!(COUNTME.contains(&format!(
        "| `repo_tag` | always `{}`",
        headcount_receiver::countme::totals::REPO_TAG
    )));
}

/// The metrics table of receiver.md is what `/metrics` exposes, name for name and type for type,
/// and its scrape config points at the packaged config's metrics listener.
#[test]
fn receiver_page_lists_every_metric_and_scrapes_the_packaged_listener() {
    use headcount_receiver::metrics::{Cut, Folded, Metrics, Operation, Released};
    let m = Metrics::new();
    // A labelled family shows once it has a series.
    m.refuse(axum::http::StatusCode::BAD_REQUEST, "invalid_report");
    m.database_error(Operation::Commit);
    m.folded
        .get_or_create(&Folded {
            field: "arch".into(),
        })
        .inc();
    m.connections_cut
        .get_or_create(&Cut { reason: "at_cap" })
        .inc();
    m.releases
        .get_or_create(&Released { window: "daily" })
        .inc();
    let exposed: BTreeSet<(String, String)> = m
        .encode()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| {
            let (name, kind) = l.split_once(' ').unwrap();
            (name.to_owned(), kind.to_owned())
        })
        .collect();
    let section = RECEIVER
        .split("\n## Metrics\n")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let documented: BTreeSet<(String, String)> = section
        .lines()
        .filter(|l| l.starts_with("| `headcount_receiver_"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`');
            let name = name.split('{').next().unwrap().to_owned();
            (name, cells[2].to_owned())
        })
        .collect();
    assert_eq!(documented, exposed);
    let packaged = Settings::parse(
        std::path::Path::new("receiver.toml"),
        include_str!("../../../dist/receiver.toml"),
    )
    .unwrap();
    let target = format!("- targets: [\"{}\"]", packaged.metrics_listen.unwrap());
    assert!(
        section.contains(&target),
        "the scrape config lacks {target}"
    );
    assert!(section.contains(&format!(
        "metrics_path: {}",
        headcount_receiver::metrics::METRICS_PATH
    )));
    assert!(section.contains(&format!(
        "at most {} connections",
        headcount_receiver::METRICS_MAX_CONNECTIONS
    )));
}
