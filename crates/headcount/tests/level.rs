//! `headcount level`, the kernel command line and the old pinger opt-out, through the real
//! binary against miniature roots. (With `--root /` under systemd: tests/system/test_systemd.py.)
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

mod common;
use common::{Root, has, is_root, stderr, stdout};

const VENDOR: &str = "[collecting]\nlevel = \"minimal\"\n\n[reporting]\n\
                      endpoint = \"https://counts.example.org/v1/report\"\n";
const LEVEL: &str = "etc/headcount/config.d/90-level.toml";
const PINGER_OFF: &str = "[reporting]\nenabled = false\n";

/// A root with the vendor's defaults, as the package installs them.
fn vendor_root() -> Root {
    let r = Root::empty();
    r.write("usr/lib/headcount/config.d/10-defaults.toml", VENDOR);
    r
}

/// Writes the old pinger's opt-out; returns the origin the commands name for it.
fn pinger_off(root: &Root) -> String {
    let path = root.write(
        "etc/fedora-coreos-pinger/config.d/99-disable-reporting.toml",
        PINGER_OFF,
    );
    format!("{}:2 (the fedora-coreos-pinger opt-out", path.display())
}

fn cmdline(root: &Root, line: &str) {
    root.write("proc/cmdline", line);
}

/// The effective level, as check-config prints it.
fn effective(root: &Root) -> String {
    let out = root.cli(&["check-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .find(|l| l.starts_with("level = "))
        .unwrap()
        .to_owned()
}

#[test]
fn level_shows_the_level_its_source_and_what_it_sends() {
    let root = vendor_root();
    let out = root.cli(&["level"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let vendor = root
        .path()
        .join("usr/lib/headcount/config.d/10-defaults.toml");
    assert!(text.starts_with("level:    minimal\n"), "{text}");
    has(&text, &format!("set by:   {}:2\n", vendor.display()));
    has(
        &text,
        "one report per period of the daily and monthly windows to counts.example.org, \
         from the collectors os,",
    );
    assert!(
        !text.contains("hardware"),
        "full's collectors at minimal: {text}"
    );
    has(&text, "headcount level off|minimal|full");

    cmdline(&root, "BOOT_IMAGE=/vmlinuz headcount.level=full quiet\n");
    let text = stdout(&root.cli(&["level"]));
    assert!(
        text.starts_with("level:    full\nset by:   kernel command line\n"),
        "{text}"
    );
    has(&text, "(minimal, overridden)");
    has(&text, "hardware");

    let pinger = pinger_off(&root);
    let text = stdout(&root.cli(&["level"]));
    assert!(text.starts_with("level:    off\n"), "{text}");
    has(&text, &format!("set by:   {pinger}"));
    has(&text, "sends:    nothing");
}

#[test]
fn level_names_the_windows_the_vendor_configured() {
    let root = vendor_root();
    root.write(
        "usr/lib/headcount/config.d/20-weekly.toml",
        "[reporting]\nwindows = [\"daily\", \"weekly\", \"monthly\"]\n",
    );
    let text = stdout(&root.cli(&["level"]));
    has(
        &text,
        "one report per period of the daily, weekly and monthly windows to",
    );
}

#[test]
fn level_off_writes_the_fragment_atomically_keeping_its_other_keys() {
    let root = vendor_root();
    root.write(
        LEVEL,
        "# site policy, see the wiki\n[collecting]\nlevel = \"full\"  # opted in\n\n[reporting]\ntimeout_secs = 9\n",
    );
    let out = root.cli(&["level", "off"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        root.read(LEVEL).unwrap(),
        "# site policy, see the wiki\n[collecting]\nlevel = \"off\"  # opted in\n\n[reporting]\ntimeout_secs = 9\n"
    );
    let path = root.path().join(LEVEL);
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o644
    );
    // Nothing but the fragment in the directory: the temp file was renamed into place.
    let names: Vec<String> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["90-level.toml"]);
    let text = stdout(&out);
    has(&text, &format!("level off written to {}", path.display()));
    has(&text, "--root is not /: only the file was written");
    assert!(effective(&root).starts_with("level = \"off\""));
    // The other key still applies.
    assert!(stdout(&root.cli(&["check-config"])).contains("timeout_secs = 9"));

    // From nothing: the directories are made world-readable for the service's transient user.
    let root = vendor_root();
    assert_eq!(root.cli(&["level", "full"]).status.code(), Some(0));
    for d in ["etc", "etc/headcount", "etc/headcount/config.d"] {
        let mode = fs::metadata(root.path().join(d))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755, "{d}");
    }
    assert!(effective(&root).starts_with("level = \"full\""));
    assert!(
        root.read(LEVEL)
            .unwrap()
            .contains("written by `headcount level`")
    );
}

#[test]
fn level_off_is_never_refused() {
    let root = vendor_root();
    cmdline(&root, "headcount.level=full\n");
    root.write(
        "etc/headcount/config.d/95-site.toml",
        "[collecting]\nlevel = \"full\"\n",
    );
    root.write(
        "etc/headcount/config.d/50-bad.toml",
        "[reportng]\nendpoint = 3\n",
    );
    let out = root.cli(&["level", "off"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let check = root.cli(&["check-config"]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    assert!(stdout(&check).contains(&format!(
        "level = \"off\"  # {}:",
        root.path().join(LEVEL).display()
    )));
    assert!(
        stderr(&check).contains("ignored: level is \"off\""),
        "{}",
        stderr(&check)
    );
}

/// Puts a source of higher precedence under a root and says how the refusal names it.
type MakeSource = fn(&Root) -> String;

#[test]
fn minimal_or_full_is_refused_naming_the_source_that_would_win() {
    let cases: [(&str, MakeSource); 4] = [
        ("an off anywhere", |r| {
            r.write(
                "etc/headcount/config.d/10-site.toml",
                "[collecting]\nlevel = \"off\"\n",
            )
            .display()
            .to_string()
        }),
        ("a later fragment", |r| {
            r.write(
                "run/headcount/config.d/95-runtime.toml",
                "[collecting]\nlevel = \"minimal\"\n",
            )
            .display()
            .to_string()
        }),
        ("the kernel command line", |r| {
            cmdline(r, "quiet headcount.level=minimal\n");
            "kernel command line".to_owned()
        }),
        ("the pinger opt-out", |r| {
            r.write(
                "etc/fedora-coreos-metrics-client/config.d/99-off.toml",
                PINGER_OFF,
            )
            .display()
            .to_string()
        }),
    ];
    for (what, make) in cases {
        let root = vendor_root();
        root.write(LEVEL, "[collecting]\nlevel = \"off\"\n");
        let source = make(&root);
        let out = root.cli(&["level", "full"]);
        assert_eq!(out.status.code(), Some(78), "{what}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("level full not written"), "{what}: {err}");
        assert!(err.contains(&source), "{what}: {err} should name {source}");
        assert_eq!(
            root.read(LEVEL).unwrap(),
            "[collecting]\nlevel = \"off\"\n",
            "{what}"
        );
        assert!(stdout(&out).is_empty(), "{what}");
    }
}

#[test]
fn a_level_is_refused_when_the_configuration_would_be_invalid() {
    let root = vendor_root();
    root.write(
        "etc/headcount/config.d/50-x.toml",
        "[reporting]\ntimeout_secs = \"soon\"\n",
    );
    let out = root.cli(&["level", "minimal"]);
    assert_eq!(out.status.code(), Some(78));
    let err = stderr(&out);
    assert!(
        err.contains("level minimal not written")
            && err.contains("50-x.toml")
            && err.contains("timeout_secs"),
        "{err}"
    );
    assert_eq!(root.read(LEVEL), None);
    // The same kernel command line error check-config reports.
    let root = vendor_root();
    cmdline(&root, "headcount.level=maximal\n");
    let out = root.cli(&["check-config"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        stderr(&out).contains("kernel command line headcount.level=maximal: unknown level"),
        "{}",
        stderr(&out)
    );
    assert_eq!(root.cli(&["level", "full"]).status.code(), Some(78));
    // ... which an opt-out overrides.
    assert_eq!(root.cli(&["level", "off"]).status.code(), Some(0));
    let out = root.cli(&["check-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("headcount.level=maximal"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unusable_level_fragment_blocks_a_level_but_not_off_which_keeps_its_content() {
    let root = vendor_root();
    let broken = "[collecting\nlevel = \"full\"\n";
    root.write(LEVEL, broken);
    let out = root.cli(&["level", "full"]);
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).contains("not valid TOML"), "{}", stderr(&out));
    assert_eq!(root.read(LEVEL).unwrap(), broken);
    let out = root.cli(&["level", "off"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("90-level.toml.invalid"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        root.read("etc/headcount/config.d/90-level.toml.invalid")
            .unwrap(),
        broken
    );
    assert!(effective(&root).starts_with("level = \"off\""));
}

#[test]
fn a_symlinked_level_fragment_is_replaced_never_written_through() {
    // A mask (symlink to /dev/null) becomes a real fragment.
    let root = vendor_root();
    fs::create_dir_all(root.path().join("etc/headcount/config.d")).unwrap();
    std::os::unix::fs::symlink("/dev/null", root.path().join(LEVEL)).unwrap();
    assert_eq!(root.cli(&["level", "off"]).status.code(), Some(0));
    let meta = fs::symlink_metadata(root.path().join(LEVEL)).unwrap();
    assert!(meta.file_type().is_file());
    // A link to another file: its keys are kept, the target is left alone.
    let root = vendor_root();
    let target = root.write("srv/site/level.toml", "[reporting]\ntimeout_secs = 11\n");
    fs::create_dir_all(root.path().join("etc/headcount/config.d")).unwrap();
    std::os::unix::fs::symlink("/srv/site/level.toml", root.path().join(LEVEL)).unwrap();
    assert_eq!(root.cli(&["level", "off"]).status.code(), Some(0));
    assert_eq!(
        fs::read_to_string(&target).unwrap(),
        "[reporting]\ntimeout_secs = 11\n"
    );
    let now = root.read(LEVEL).unwrap();
    assert!(
        now.contains("timeout_secs = 11") && now.contains("level = \"off\""),
        "{now}"
    );
}

#[test]
fn without_permission_to_write_it_exits_77() {
    let root = vendor_root();
    root.write(LEVEL, "[collecting]\nlevel = \"full\"\n");
    for d in ["", "etc", "etc/headcount", "etc/headcount/config.d"] {
        fs::set_permissions(root.path().join(d), fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        c.arg(env!("CARGO_BIN_EXE_headcount"));
        c
    } else {
        fs::set_permissions(
            root.path().join("etc/headcount/config.d"),
            fs::Permissions::from_mode(0o555),
        )
        .unwrap();
        Command::new(env!("CARGO_BIN_EXE_headcount"))
    };
    let out = cmd
        .arg("--root")
        .arg(root.path())
        .args(["level", "off"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("90-level.toml") && err.contains("ermission denied") && err.contains("root"),
        "{err}"
    );
    assert_eq!(
        root.read(LEVEL).unwrap(),
        "[collecting]\nlevel = \"full\"\n"
    );
}

#[test]
fn an_unknown_level_is_a_usage_error() {
    let root = vendor_root();
    let out = root.cli(&["level", "maximal"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("off"), "{}", stderr(&out));
    assert_eq!(root.read(LEVEL), None);
}

#[test]
fn check_config_names_the_kernel_command_line_and_the_pinger_file_as_origins() {
    let root = vendor_root();
    cmdline(&root, "headcount.level=off headcount.level=\"full\"\n");
    let out = stdout(&root.cli(&["check-config"]));
    has(&out, "level = \"full\"  # kernel command line\n");
    let pinger = pinger_off(&root);
    let out = stdout(&root.cli(&["check-config"]));
    has(&out, &format!("level = \"off\"  # {pinger}"));
    has(&out, "#   kernel command line: full\n");
    has(&out, "Nothing will be sent: level is \"off\"");
}
