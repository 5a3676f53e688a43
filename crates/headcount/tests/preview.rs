//! `headcount preview` and `headcount schema` as a user runs them, on fixture roots.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use headcount_report::Window;

mod common;
use common::{Root, has, is_root};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn headcount(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_headcount"))
        .args(args)
        .output()
        .unwrap()
}

fn fixture(kind: &str) -> String {
    repo()
        .join("tests/fixtures")
        .join(kind)
        .to_str()
        .unwrap()
        .to_owned()
}

/// `headcount preview --root <root> <args>`.
fn preview(root: &Root, args: &[&str]) -> Output {
    let root = root.path().to_str().unwrap();
    headcount(&[&["preview", "--root", root], args].concat())
}

/// A copy of a fixture root with a config fragment in /etc.
fn with_config(kind: &str, toml: &str) -> Root {
    let root = Root::empty();
    let status = Command::new("cp")
        .args(["-a", &format!("{}/.", fixture(kind))])
        .arg(root.path())
        .status()
        .unwrap();
    assert!(status.success());
    root.write("etc/headcount/config.d/50-test.toml", toml);
    root
}

fn without_clock(mut v: serde_json::Value) -> serde_json::Value {
    let o = v.as_object_mut().unwrap();
    o.remove("period");
    o.remove("age_bucket");
    v
}

#[test]
fn json_is_the_golden_body_plus_a_newline_and_nothing_else() {
    for kind in ["aws-fcos-x86_64", "debian-plain-x86_64"] {
        for level in ["minimal", "full"] {
            let root = fixture(kind);
            let out = headcount(&["preview", "--root", &root, "--level", level, "--json"]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8(out.stdout).unwrap();
            assert_eq!(stdout.matches('\n').count(), 1);
            assert!(stdout.ends_with("}\n"));
            let body = stdout.trim_end_matches('\n');
            let report = headcount_report::validate(body.as_bytes()).unwrap();
            assert_eq!(report.to_body(), body.as_bytes());
            // The golden was collected at a fixed instant; all but the clock must match.
            let golden = fs::read_to_string(
                repo().join(format!("tests/golden/preview/{kind}.{level}.json")),
            )
            .unwrap();
            assert_eq!(
                without_clock(serde_json::from_str(body).unwrap()),
                without_clock(serde_json::from_str(&golden).unwrap()),
                "{kind} {level}"
            );
        }
    }
}

#[test]
fn readable_preview_describes_every_field() {
    let out = headcount(&["preview", "--root", &fixture("metal-fcos-x86_64")]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(
        "\nplatform.id: metal\n    Platform, tried in this order: the last ignition.platform.id="
    ));
    // The configured level (default minimal) applies: no full-level fields.
    assert!(text.contains("level: minimal") && !text.contains("hardware."));
}

/// `headcount preview --window <window> --json` of a fixture: a valid report of the current
/// period of that window.
fn preview_window(window: Window) -> Output {
    let out = headcount(&[
        "preview",
        "--root",
        &fixture("qemu-fcos-x86_64"),
        "--window",
        window.as_str(),
        "--json",
    ]);
    assert!(out.status.success());
    let body = String::from_utf8(out.stdout.clone()).unwrap();
    let report = headcount_report::validate(body.trim_end().as_bytes()).unwrap();
    assert_eq!(report.window, window);
    assert_eq!(
        report.period,
        headcount_report::Period::containing(window, chrono::Utc::now())
    );
    out
}

#[test]
fn monthly_window_previews_the_current_month() {
    preview_window(Window::Monthly);
}

#[test]
fn weekly_window_previews_the_current_countme_week_and_says_when_it_is_not_configured() {
    let out = preview_window(Window::Weekly);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "the weekly window is not configured ([reporting] windows reports daily and monthly)"
        ),
        "{stderr}"
    );
    let root = with_config(
        "qemu-fcos-x86_64",
        "[reporting]\nwindows = [\"daily\", \"weekly\", \"monthly\"]\n",
    );
    let out = preview(&root, &["--window", "weekly"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("window: weekly\n"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("not configured"));
    let out = headcount(&[
        "preview",
        "--root",
        &fixture("qemu-fcos-x86_64"),
        "--window",
        "yearly",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(r#""daily", "weekly", "monthly""#));
}

#[test]
fn configured_level_off_prints_no_report() {
    let root = with_config("aws-fcos-x86_64", "[collecting]\nlevel = \"off\"\n");
    for extra in [&[][..], &["--json"][..]] {
        let out = preview(&root, extra);
        assert!(out.status.success());
        assert!(out.stdout.is_empty());
        assert!(
            String::from_utf8(out.stderr)
                .unwrap()
                .contains("nothing would be sent")
        );
    }
    // --level overrides the configured level, for looking.
    let out = preview(&root, &["--level", "minimal", "--json"]);
    assert!(out.status.success() && !out.stdout.is_empty());
}

#[test]
fn configured_exclusions_apply_and_invalid_config_exits_78() {
    let root = with_config(
        "aws-fcos-x86_64",
        "[collecting]\nlevel = \"full\"\nexclude = [\"hardware\", \"instance-type\"]\n",
    );
    let out = preview(&root, &["--json"]);
    let body = String::from_utf8(out.stdout).unwrap();
    assert!(
        body.contains("\"level\":\"full\"")
            && !body.contains("hardware")
            && !body.contains("m5.large")
    );
    assert!(body.contains("\"network\""));

    let root = with_config("aws-fcos-x86_64", "[collecting]\nlevel = \"loud\"\n");
    let out = preview(&root, &["--json"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(out.stdout.is_empty());
}

/// Where the instance type came from is shown, and a stock machine whose type only the
/// provider's metadata service knows says why the preview did not ask it.
#[test]
fn the_instance_type_source_is_shown_and_an_unasked_service_is_named() {
    let root = with_config("aws-fcos-x86_64", "");
    let out = preview(&root, &[]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    has(&stdout, "\nplatform.instance_type: m5.large\n");
    has(
        &stdout,
        "    Read from: afterburn's attributes (run/metadata/afterburn).\n",
    );
    // Stock Fedora CoreOS: no afterburn file; on Nitro, DMI names the type.
    fs::remove_file(root.path().join("run/metadata/afterburn")).unwrap();
    let out = preview(&root, &[]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    has(
        &stdout,
        "    Read from: the DMI product name (sys/class/dmi/id/product_name).\n",
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("note:"),
        "nothing left unasked"
    );
    // A Xen-based instance: only the service knows; without an endpoint it is not asked.
    fs::write(root.path().join("sys/class/dmi/id/sys_vendor"), "Xen\n").unwrap();
    fs::write(
        root.path().join("sys/class/dmi/id/product_name"),
        "HVM domU\n",
    )
    .unwrap();
    let out = preview(&root, &[]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains("platform.instance_type"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.ends_with(
            "note: no file holds the instance type; the daemon would ask the aws metadata service \
         for it, but this preview did not: no endpoint is configured ([reporting] endpoint): \
         headcount asks it only when it reports.\n"
        ),
        "{stderr}"
    );
    // With an endpoint, a fixture root is still not this host.
    fs::write(
        root.path().join("etc/headcount/config.d/50-test.toml"),
        "[reporting]\nendpoint = \"https://counter.example/report\"\n",
    )
    .unwrap();
    let out = preview(&root, &["--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.ends_with("did not: --root is not /, and the service would describe this host.\n"),
        "{stderr}"
    );
}

/// `headcount preview --level full` on this very machine, as an unprivileged user (the daemon
/// runs as a dynamic user, and an operator tries preview without sudo): every file it reads is
/// world-readable, or its absence only leaves a field out.
#[test]
fn full_preview_of_this_machine_works_unprivileged() {
    for json in [true, false] {
        let mut cmd = if is_root() {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_headcount"));
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_headcount"))
        };
        cmd.args(["preview", "--level", "full"]);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(!stderr.contains("ermission denied"), "{stderr}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        if json {
            let report = headcount_report::validate(stdout.trim_end().as_bytes()).unwrap();
            assert_eq!(report.level, headcount_report::ReportLevel::Full);
            // Minimal facts every Linux has, whatever the kernel's age or the machine's kind.
            assert!(report.arch.is_some(), "{stdout}");
            assert!(report.platform.is_some() && report.age_bucket.is_some());
            assert!(report.hardware.is_some() && report.network.is_some());
        } else {
            assert!(stdout.contains("\narch: ") && stdout.contains("\nplatform.id: "));
        }
    }
}

#[test]
fn schema_is_the_contract_schema() {
    let out = headcount(&["schema"]);
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, headcount_report::schema());
}

/// A derivative's own os-release names are reported only when its vendor fragment adds them
/// to the known names; otherwise they are `other`, and its version and builds are left out.
/// `headcount schema` states the same names.
#[test]
fn a_vendors_known_os_names_are_reported_and_in_the_schema() {
    let derivative = "ID=acme\nVARIANT_ID=edge\nVERSION_ID=2\nOSTREE_VERSION='2.20261102.0'\n";
    let report = |toml: &str| -> serde_json::Value {
        let root = with_config("qemu-fcos-x86_64", toml);
        fs::remove_file(root.path().join("usr/lib/os-release")).unwrap();
        root.write("usr/lib/os-release", derivative);
        let out = preview(&root, &["--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let schema = headcount(&["schema", "--root", root.path().to_str().unwrap()]);
        assert!(schema.status.success());
        let schema: serde_json::Value = serde_json::from_slice(&schema.stdout).unwrap();
        let names = schema["$defs"]["OsName"]["enum"]
            .as_array()
            .unwrap()
            .clone();
        let acme = serde_json::Value::from("acme");
        assert_eq!(names.contains(&acme), toml.contains("acme"), "{names:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let known = report("[collecting]\nknown_os_names = [\"acme\", \"edge\"]\n");
    assert_eq!(
        known["os"],
        serde_json::json!({"id":"acme","variant_id":"edge","version_id":"2","build":"2.20261102.0"})
    );
    assert_eq!(known["original_os"]["build"], "44.20261115.1.0");
    let unknown = report("");
    assert_eq!(
        unknown["os"],
        serde_json::json!({"id":"other","variant_id":"other"})
    );
    assert!(unknown.get("original_os").is_none(), "{unknown}");
}
