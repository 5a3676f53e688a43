//! Config fragments: precedence, masking, ordering and one test per error class.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::PathBuf;
use std::process::Command;
mod common;
use common::{Root, has};
use std::time::Duration;

use headcount::config::{self, ConfigError, Loaded, Origin};
use headcount_report::Level;

const ENDPOINT: &str = "[reporting]\nendpoint = \"https://counts.example.org/v1/report\"\n";

/// Config fragments in a miniature root.
trait Fragments {
    /// Writes `dir/headcount/config.d/name` where dir is "etc", "run" or "usr/lib".
    fn fragment(&self, dir: &str, name: &str, text: &str) -> PathBuf;
    fn mask_with_dev_null(&self, dir: &str, name: &str);
    fn load(&self) -> Result<Loaded, ConfigError>;
    fn ok(&self) -> Loaded {
        self.load().unwrap()
    }
    fn errors(&self) -> Vec<String> {
        self.load()
            .unwrap_err()
            .errors
            .iter()
            .map(|e| e.to_string())
            .collect()
    }
}

impl Fragments for Root {
    fn fragment(&self, dir: &str, name: &str, text: &str) -> PathBuf {
        Root::write(self, &format!("{dir}/headcount/config.d/{name}"), text)
    }
    fn mask_with_dev_null(&self, dir: &str, name: &str) {
        let d = self.path().join(dir).join("headcount/config.d");
        fs::create_dir_all(&d).unwrap();
        std::os::unix::fs::symlink("/dev/null", d.join(name)).unwrap();
    }
    fn load(&self) -> Result<Loaded, ConfigError> {
        config::load(self.path(), &["os", "platform", "hardware"])
    }
}

/// A root with the single fragment `/etc/headcount/config.d/50-x.toml` holding `text`.
fn one_fragment(text: &str) -> Root {
    let root = Root::empty();
    root.fragment("etc", "50-x.toml", text);
    root
}

/// The one error of [`one_fragment`].
fn error_in(text: &str) -> String {
    only_error(&one_fragment(text))
}

fn only_error(root: &Root) -> String {
    let errors = root.errors();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().unwrap()
}

// ---- precedence and masking ----

#[test]
fn no_fragment_means_minimal_and_no_endpoint() {
    let root = Root::empty();
    let loaded = root.ok();
    assert_eq!(loaded.settings.level, Level::Minimal);
    assert_eq!(loaded.settings.endpoint, None);
    assert!(!loaded.settings.sends());
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.to_string().contains("nothing will be sent"))
    );
}

#[test]
fn etc_masks_same_name_in_usr_lib() {
    let root = Root::empty();
    root.fragment(
        "usr/lib",
        "10-defaults.toml",
        "[collecting]\nlevel = \"full\"\n",
    );
    root.fragment(
        "etc",
        "10-defaults.toml",
        "[collecting]\nexclude = [\"os\"]\n",
    );
    let s = root.ok().settings;
    // The /usr/lib file is masked whole: its level does not apply.
    assert_eq!(s.level, Level::Minimal);
    assert_eq!(s.exclude, vec!["os".to_owned()]);
}

#[test]
fn run_masks_usr_lib_and_etc_masks_run() {
    let root = Root::empty();
    root.fragment("usr/lib", "50-x.toml", "[collecting]\nlevel = \"off\"\n");
    root.fragment("run", "50-x.toml", "[collecting]\nlevel = \"full\"\n");
    assert_eq!(root.ok().settings.level, Level::Full);
    let etc = root.fragment("etc", "50-x.toml", "[reporting]\ntimeout_secs = 7\n");
    let loaded = root.ok();
    assert_eq!(loaded.settings.level, Level::Minimal);
    assert_eq!(loaded.settings.timeout, Duration::from_secs(7));
    assert_eq!(loaded.fragments, vec![etc]);
}

#[test]
fn symlink_to_dev_null_masks_without_content() {
    let root = Root::empty();
    root.fragment("usr/lib", "10-defaults.toml", ENDPOINT);
    root.mask_with_dev_null("etc", "10-defaults.toml");
    assert_eq!(root.ok().settings.endpoint, None);
}

#[test]
fn empty_file_masks_without_content() {
    let root = Root::empty();
    root.fragment("usr/lib", "10-defaults.toml", ENDPOINT);
    root.fragment("run", "10-defaults.toml", "");
    assert_eq!(root.ok().settings.endpoint, None);
}

#[test]
fn lexical_order_across_directories() {
    let root = Root::empty();
    // 20 in /usr/lib is applied after 10 in /etc: order is by name, not by directory.
    root.fragment("etc", "10-site.toml", "[collecting]\nlevel = \"full\"\n");
    let later = root.fragment(
        "usr/lib",
        "20-vendor.toml",
        "[collecting]\nlevel = \"minimal\"\n",
    );
    let loaded = root.ok();
    assert_eq!(loaded.settings.level, Level::Minimal);
    assert_eq!(
        loaded.origin("collecting", "level"),
        &Origin::File {
            path: later,
            line: 2
        }
    );
}

#[test]
fn later_table_without_a_key_keeps_the_earlier_value() {
    let root = Root::empty();
    let first = root.fragment(
        "usr/lib",
        "10-a.toml",
        &format!("{ENDPOINT}timeout_secs = 9\n"),
    );
    root.fragment(
        "etc",
        "20-b.toml",
        "[reporting]\nmax_startup_delay_secs = 0\n",
    );
    let loaded = root.ok();
    assert_eq!(loaded.settings.timeout, Duration::from_secs(9));
    assert_eq!(loaded.settings.max_startup_delay, Duration::ZERO);
    assert_eq!(
        loaded.origin("reporting", "endpoint"),
        &Origin::File {
            path: first,
            line: 2
        }
    );
    assert_eq!(loaded.origin("reporting", "proxy"), &Origin::Default);
}

#[test]
fn dotfiles_and_other_suffixes_are_ignored() {
    let root = Root::empty();
    root.fragment("etc", ".90-hidden.toml", "[collecting]\nlevel = \"off\"\n");
    root.fragment(
        "etc",
        "90-level.toml.rpmsave",
        "[collecting]\nlevel = \"off\"\n",
    );
    root.fragment("etc", "README", "not toml at all [");
    assert_eq!(root.ok().settings.level, Level::Minimal);
}

// ---- one test per error class: each names the file and the key ----

#[test]
fn unknown_section_suggests_the_nearest() {
    let root = Root::empty();
    let p = root.fragment(
        "etc",
        "50-x.toml",
        "[reportng]\nendpoint = \"https://a.example\"\n",
    );
    let e = only_error(&root);
    assert!(e.starts_with(&format!("{}:1:", p.display())), "{e}");
    assert!(
        e.contains("unknown section [reportng]") && e.contains("did you mean [reporting]?"),
        "{e}"
    );
}

#[test]
fn unknown_key_suggests_the_nearest() {
    let root = Root::empty();
    let p = root.fragment("etc", "50-x.toml", "[collecting]\nlevle = \"full\"\n");
    let e = only_error(&root);
    assert!(
        e.starts_with(&format!("{}:2:1: [collecting] levle:", p.display())),
        "{e}"
    );
    has(&e, "did you mean \"level\"?");
}

#[test]
fn key_in_the_wrong_section_points_to_the_right_one() {
    let e = error_in("[collecting]\nendpoint = \"https://a.example\"\n");
    assert!(
        e.contains("[collecting] endpoint:") && e.contains("\"endpoint\" in [reporting]"),
        "{e}"
    );
}

#[test]
fn wrong_type_names_the_expected_type() {
    let root = Root::empty();
    let p = root.fragment(
        "etc",
        "50-x.toml",
        "[reporting]\ntimeout_secs = \"30\"\nallow_plain_http = 1\n",
    );
    let errors = root.errors();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].starts_with(&format!("{}:2:1: [reporting] timeout_secs:", p.display())));
    assert!(
        errors[0].contains("expected a whole number"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains("[reporting] allow_plain_http:") && errors[1].contains("true or false")
    );
}

#[test]
fn bad_level_lists_the_allowed_values() {
    let root = Root::empty();
    let p = root.fragment(
        "etc",
        "90-level.toml",
        "[collecting]\nlevel = \"Minimal\"\n",
    );
    let e = only_error(&root);
    assert!(
        e.starts_with(&format!("{}:2:1: [collecting] level:", p.display())),
        "{e}"
    );
    has(&e, r#""off", "minimal", "full""#);
}

#[test]
fn windows_default_to_daily_and_monthly_and_a_vendor_adds_weekly() {
    use headcount::config::Windows;
    use headcount_report::Window;
    let root = Root::empty();
    assert_eq!(root.ok().settings.windows, Windows::DEFAULT);
    let vendor = root.fragment(
        "usr/lib",
        "10-defaults.toml",
        &format!("{ENDPOINT}windows = [\"daily\", \"weekly\", \"monthly\"]\n"),
    );
    let loaded = root.ok();
    assert_eq!(
        loaded.settings.windows.iter().collect::<Vec<_>>(),
        Window::ALL
    );
    assert_eq!(
        loaded.origin("reporting", "windows"),
        &Origin::File {
            path: vendor,
            line: 3
        }
    );
    let out = root.cli(&["check-config"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    has(
        &stdout,
        "windows = [\"daily\", \"weekly\", \"monthly\"]  # ",
    );
    has(
        &stdout,
        "# One report per daily, weekly and monthly period at level minimal",
    );
    // A later fragment replaces the list as a whole.
    root.fragment(
        "etc",
        "50-weekly-only.toml",
        "[reporting]\nwindows = [\"weekly\"]\n",
    );
    assert_eq!(
        root.ok().settings.windows.iter().collect::<Vec<_>>(),
        [Window::Weekly]
    );
}

#[test]
fn an_unknown_window_is_an_error_naming_the_allowed_ones_and_exits_78() {
    let root = Root::empty();
    root.fragment("usr/lib", "10-defaults.toml", ENDPOINT);
    let p = root.fragment(
        "etc",
        "50-windows.toml",
        "[reporting]\nwindows = [\"daily\", \"weekley\"]\n",
    );
    let e = only_error(&root);
    assert!(
        e.starts_with(&format!("{}:2:1: [reporting] windows:", p.display())),
        "{e}"
    );
    has(&e, r#""daily", "weekly", "monthly""#);
    has(&e, r#"did you mean "weekly"?"#);
    let out = root.cli(&["check-config"]);
    assert_eq!(out.status.code(), Some(78));
    // Repeated and empty lists are errors too; a string instead of a list is a type error.
    for (text, needle) in [
        (
            "windows = [\"weekly\", \"weekly\"]",
            "\"weekly\" is listed twice",
        ),
        ("windows = []", "is empty: list at least one of"),
        ("windows = \"weekly\"", "expected a list of strings"),
    ] {
        root.fragment("etc", "50-windows.toml", &format!("[reporting]\n{text}\n"));
        let e = only_error(&root);
        assert!(e.contains(needle), "{text}: {e}");
    }
    // The opt-out still wins.
    root.fragment("etc", "90-off.toml", "[collecting]\nlevel = \"off\"\n");
    assert_eq!(root.ok().settings.level, Level::Off);
}

#[test]
fn endpoint_must_be_an_absolute_http_url() {
    for bad in [
        "counts.example.org/v1/report",
        "ftp://counts.example.org/",
        "https://",
    ] {
        let e = error_in(&format!("[reporting]\nendpoint = \"{bad}\"\n"));
        assert!(e.contains("[reporting] endpoint:"), "{bad}: {e}");
    }
}

#[test]
fn plain_http_only_to_loopback_unless_allowed() {
    let e = error_in("[reporting]\nendpoint = \"http://counts.example.org/r\"\n");
    assert!(
        e.contains("[reporting] endpoint:") && e.contains("allow_plain_http"),
        "{e}"
    );

    for loopback in [
        "http://127.0.0.1:8080/r",
        "http://[::1]/r",
        "http://localhost/r",
    ] {
        let root = one_fragment(&format!("[reporting]\nendpoint = \"{loopback}\"\n"));
        assert!(root.ok().settings.sends(), "{loopback}");
    }

    let root = one_fragment(
        "[reporting]\nendpoint = \"http://counts.example.org/r\"\nallow_plain_http = true\n",
    );
    assert!(root.ok().settings.sends());
}

#[test]
fn endpoint_must_not_carry_credentials() {
    let e = error_in("[reporting]\nendpoint = \"https://me:pw@counts.example.org/\"\n");
    assert!(e.contains("credentials") && !e.contains("pw@"), "{e}");
}

#[test]
fn bad_proxy_is_rejected_without_echoing_it() {
    // The second would be mangled by quoting, so a search-and-replace of the raw text would
    // miss them: the message must never contain the value at all.
    // (socks5:// is a valid proxy; socks4:// is not.)
    for bad in [
        "socks4://user:hunter2@proxy:1080",
        "socks4://u:hunter2\\\\w\\\"@h",
        "hunter2",
    ] {
        let e = error_in(&format!("[reporting]\nproxy = \"{bad}\"\n"));
        assert!(
            e.contains("[reporting] proxy:") && !e.contains("hunter2"),
            "{e}"
        );
    }
}

#[test]
fn absurd_numbers_are_rejected_and_zero_delay_is_valid() {
    for (key, value) in [
        ("timeout_secs", 0),
        ("timeout_secs", 601),
        ("max_startup_delay_secs", 86_400),
        ("max_rollover_delay_secs", 86_400),
    ] {
        let e = error_in(&format!("[reporting]\n{key} = {value}\n"));
        assert!(
            e.contains(&format!("[reporting] {key}:")) && e.contains("out of range"),
            "{e}"
        );
    }
    let root = one_fragment(
        "[reporting]\nmax_startup_delay_secs = 0\nmax_rollover_delay_secs = 0\ntimeout_secs = 600\n",
    );
    let s = root.ok().settings;
    assert_eq!(
        (s.max_startup_delay, s.max_rollover_delay),
        (Duration::ZERO, Duration::ZERO)
    );
}

#[test]
fn ca_file_must_be_an_existing_absolute_path() {
    let root = one_fragment("[reporting]\nca_file = \"etc/pki/ca.pem\"\n");
    assert!(only_error(&root).contains("[reporting] ca_file:"));
    root.fragment(
        "etc",
        "50-x.toml",
        "[reporting]\nca_file = \"/etc/pki/ca.pem\"\n",
    );
    assert!(only_error(&root).contains("cannot read"));
    fs::create_dir_all(root.path().join("etc/pki")).unwrap();
    fs::write(
        root.path().join("etc/pki/ca.pem"),
        "-----BEGIN CERTIFICATE-----\n",
    )
    .unwrap();
    assert_eq!(
        root.ok().settings.ca_file,
        Some(PathBuf::from("/etc/pki/ca.pem"))
    );
}

#[test]
fn syntax_error_has_file_line_and_column() {
    let root = Root::empty();
    let p = root.fragment("etc", "50-x.toml", "[collecting]\nlevel = = \"off\"\n");
    let e = only_error(&root);
    assert!(
        e.starts_with(&format!("{}:2:", p.display())) && e.contains("TOML syntax error"),
        "{e}"
    );
}

#[test]
fn unreadable_fragment_is_an_error_not_skipped() {
    let root = Root::empty();
    fs::create_dir_all(root.path().join("etc/headcount/config.d/90-level.toml")).unwrap();
    let e = only_error(&root);
    assert!(
        e.contains("90-level.toml") && e.contains("directory"),
        "{e}"
    );

    let root = Root::empty();
    root.fragment("etc", "90-level.toml", "[collecting]\nlevel = \"\u{0}\"\n");
    fs::write(
        root.path().join("etc/headcount/config.d/90-level.toml"),
        [0xff, 0xfe],
    )
    .unwrap();
    assert!(only_error(&root).contains("not UTF-8"));
}

#[test]
fn permission_denied_is_named() {
    use std::os::unix::fs::PermissionsExt;
    let root = Root::empty();
    let p = root.fragment("etc", "90-level.toml", "[collecting]\nlevel = \"off\"\n");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads anything, so run the real binary as an unprivileged user when we are root.
    for dir in [root.path().to_owned(), root.path().join("etc")] {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = if common::is_root() {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_headcount"))
            .arg("--root")
            .arg(root.path())
            .arg("check-config")
            .output()
            .unwrap()
    } else {
        root.cli(&["check-config"])
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("90-level.toml") && stderr.contains("ermission denied"),
        "{stderr}"
    );
}

#[test]
fn several_errors_are_all_reported_in_file_order() {
    let root = Root::empty();
    root.fragment("usr/lib", "10-a.toml", "[collecting]\nlevel = \"ful\"\n");
    root.fragment(
        "etc",
        "20-b.toml",
        "[reporting]\ntimeout_secs = 0\nprxy = \"x\"\n[colecting]\n",
    );
    let errors = root.errors();
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(errors[0].contains("10-a.toml:2:1: [collecting] level"));
    assert!(errors[1].contains("20-b.toml:2:1: [reporting] timeout_secs"));
    assert!(
        errors[2].contains("20-b.toml:3:1: [reporting] prxy") && errors[2].contains("\"proxy\"")
    );
    assert!(errors[3].contains("20-b.toml:4:") && errors[3].contains("[collecting]?"));
}

// ---- the two rules that keep an operator's intent safe ----

#[test]
fn an_opt_out_wins_over_errors_elsewhere() {
    let root = Root::empty();
    root.fragment("usr/lib", "10-defaults.toml", ENDPOINT);
    root.fragment("etc", "50-typo.toml", "[reporting]\ntimeout = 5\n");
    root.fragment("etc", "60-broken.toml", "this is [ not toml");
    root.fragment("etc", "90-level.toml", "[collecting]\nlevel = \"off\"\n");
    let loaded = root.ok();
    assert_eq!(loaded.settings.level, Level::Off);
    assert!(!loaded.settings.sends());
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings.iter().any(|w| w.contains("[reporting] timeout")),
        "{warnings:#?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("60-broken.toml")),
        "{warnings:#?}"
    );

    let out = root.cli(&["check-config"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Nothing will be sent: level is \"off\"")
    );
}

#[test]
fn a_level_under_a_misspelled_section_is_no_level() {
    let root = Root::empty();
    root.fragment("usr/lib", "10-defaults.toml", ENDPOINT);
    root.fragment("etc", "90-level.toml", "[reportng]\nlevel = \"off\"\n");
    let out = root.cli(&["check-config"]);
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("90-level.toml") && stderr.contains("[reportng]"),
        "{stderr}"
    );
}

#[test]
fn unknown_collector_in_exclude_is_a_warning() {
    let root = one_fragment("[collecting]\nexclude = [\"os\", \"gpu\"]\n");
    let loaded = root.ok();
    assert_eq!(
        loaded.settings.exclude,
        vec!["os".to_owned(), "gpu".to_owned()]
    );
    let w: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter()
            .any(|w| w.contains("[collecting] exclude") && w.contains("\"gpu\"")),
        "{w:#?}"
    );
    assert!(!w.iter().any(|w| w.contains("\"os\"")), "{w:#?}");
}

// ---- check-config as an operator sees it ----

#[test]
fn check_config_shows_values_and_origins_and_redacts_the_proxy() {
    let root = Root::empty();
    let vendor = root.fragment("usr/lib", "10-defaults.toml", ENDPOINT);
    root.fragment(
        "etc",
        "50-proxy.toml",
        "[reporting]\nproxy = \"http://fleet:s3cret@proxy.corp:3128\"\n",
    );
    let out = root.cli(&["check-config"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    has(
        &stdout,
        &format!(
            "endpoint = \"https://counts.example.org/v1/report\"  # {}:2",
            vendor.display()
        ),
    );
    has(&stdout, "level = \"minimal\"  # default");
    has(&stdout, "proxy = \"http://***@proxy.corp:3128/\"");
    assert!(
        !stdout.contains("s3cret") && !stdout.contains("fleet"),
        "{stdout}"
    );
}

#[test]
fn check_config_with_a_typo_exits_78_naming_file_and_key() {
    let root = Root::empty();
    let p = root.fragment(
        "etc",
        "50-site.toml",
        "[reporting]\nendpont = \"https://a.example/\"\n",
    );
    let out = root.cli(&["check-config"]);
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    has(
        &stderr,
        &format!("{}:2:1: [reporting] endpont:", p.display()),
    );
    has(&stderr, "did you mean \"endpoint\"?");
    assert!(out.stdout.is_empty());
}

#[test]
fn check_config_without_endpoint_warns_and_exits_0() {
    let root = Root::empty();
    let out = root.cli(&["check-config"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing will be sent"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Nothing will be sent: no endpoint"));
}

// ---- a vendor's os-release names ----

#[test]
fn known_os_names_extend_the_list_and_bad_ones_are_errors_naming_file_and_key() {
    let root = Root::empty();
    root.fragment(
        "usr/lib",
        "10-vendor.toml",
        "[collecting]\nknown_os_names = [\"acme\", \"acme-edge\", \"fedora\"]\n",
    );
    let loaded = root.ok();
    let rules = &loaded.settings.rules;
    assert!(rules.is_known_os_name("acme") && rules.is_known_os_name("acme-edge"));
    assert_eq!(rules.extra_os_names(), ["acme", "acme-edge"]);
    let out = root.cli(&["check-config"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("known_os_names = [\"acme\", \"acme-edge\"]  # "),
        "{stdout}"
    );

    let bad = root.fragment(
        "etc",
        "50-site.toml",
        "[collecting]\nknown_os_names = [\"Acme Host\", \"web1.example.com\", \"other\"]\n",
    );
    let errors = root.errors();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    for e in &errors {
        assert!(
            e.contains(&bad.display().to_string()) && e.contains("[collecting] known_os_names"),
            "{e}"
        );
    }
    assert!(errors[1].contains("host name"), "{errors:#?}");
    assert_eq!(root.cli(&["check-config"]).status.code(), Some(78));
    // An opt-out still wins.
    root.fragment("etc", "90-off.toml", "[collecting]\nlevel = \"off\"\n");
    assert_eq!(root.ok().settings.level, Level::Off);
}
