//! The rules of the open fields: what an OS name, version, build, instance type or hardware
//! vendor may be, so that a report carries facts shared by many machines and never a site's own
//! label. Each rule is written once here and applied on both sides: the daemon sends a value
//! only when it passes (else `other`, or nothing), and a receiver counts a value that breaks its
//! rule as `other` instead of refusing the report, so junk cannot grow its counters. The JSON
//! Schema is generated from the same rules ([`crate::schema_with`]).
//!
//! Where each list and shape comes from is said beside it; the reasons are in
//! docs/usage/privacy.md.

use std::fmt;

use crate::labels::PlatformId;
use crate::pattern::Pattern::{self, *};
use crate::pattern::{DIGIT, MAX_MATCH_LEN};

/// The value sent and counted in place of one that breaks its field's rule.
pub const OTHER: &str = "other";

// ---------------------------------------------------------------------------------------------
// Everywhere: what an identifier looks like.

/// The kinds of identifier no open field may carry, whatever its own rule allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identifier {
    /// A run of 12 or more hexadecimal digits: a machine-id, a MAC without separators, a
    /// serial, a hash, an account or project number.
    HexRun,
    /// A UUID (`8-4-4-4-12` hexadecimal digits).
    Uuid,
    /// An IPv4 address (four groups of 1 to 3 digits joined by `.`, `-` or `_`, as in
    /// `ip-10-0-0-1`), or an IPv6 address (any `:`).
    Address,
    /// A MAC address (six pairs of hexadecimal digits joined by `:`, `-`, `.` or `_`, or three
    /// groups of four joined by `.`).
    Mac,
    /// A host name: dotted labels ending in a domain suffix (`com`, `internal`, `local`, any
    /// two-letter country code, ...).
    HostName,
}

impl Identifier {
    /// Every kind, in the order they are checked.
    pub const ALL: [Identifier; 5] = [
        Identifier::Uuid,
        Identifier::HexRun,
        Identifier::Address,
        Identifier::Mac,
        Identifier::HostName,
    ];

    /// What it is, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Identifier::HexRun => "a run of 12 or more hexadecimal digits",
            Identifier::Uuid => "a UUID",
            Identifier::Address => "an IP address",
            Identifier::Mac => "a MAC address",
            Identifier::HostName => "a host name",
        }
    }

    /// A regular expression that finds it anywhere in a value (what the JSON Schema forbids
    /// with `not`). For [`Identifier::HexRun`] it does not know the date-time stamp that build
    /// versions may carry; builds are documented by their own shapes instead.
    pub fn regex(self) -> String {
        match self {
            Identifier::HexRun => "[0-9A-Fa-f]{12}".to_owned(),
            Identifier::Uuid => {
                "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
                    .to_owned()
            }
            Identifier::Address => {
                "(?:^|[^0-9])[0-9]{1,3}(?:[._-][0-9]{1,3}){3}(?:[^0-9]|$)|:".to_owned()
            }
            Identifier::Mac => "[0-9A-Fa-f]{2}(?:[:._-][0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{4}\\.[0-9A-Fa-f]{4}\\.[0-9A-Fa-f]{4}".to_owned(),
            Identifier::HostName => {
                let mut alts: Vec<String> = DNS_SUFFIXES.iter().map(|s| any_case(s)).collect();
                alts.push("[A-Za-z]{2}".to_owned());
                format!("\\.(?:{})$", alts.join("|"))
            }
        }
    }
}

impl Identifier {
    /// The rule in words, for people: what it is and how it is recognised.
    pub fn explain(self) -> String {
        match self {
            Identifier::HostName => format!(
                "{}: a dotted value whose last label is two letters (a country code) or one of {}",
                self.describe(),
                DNS_SUFFIXES
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Identifier::Address => format!(
                "{}: four groups of 1 to 3 digits joined by `.`, `-` or `_` (as in \
                 `ip-10-0-0-1`), or any `:`",
                self.describe()
            ),
            Identifier::Mac => format!(
                "{}: six pairs of hexadecimal digits joined by `:`, `-`, `.` or `_`, or three \
                 groups of four joined by `.`",
                self.describe()
            ),
            Identifier::Uuid => format!("{}: `8-4-4-4-12` hexadecimal digits", self.describe()),
            Identifier::HexRun => format!(
                "{} (a machine-id, a serial, a hash, an account or project number)",
                self.describe()
            ),
        }
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The last label of a host name: generic top-level domains common in host names, and the
/// suffixes private networks use (`internal` for cloud VMs, `local` for mDNS, `lan`, `corp`,
/// `cluster.local` of Kubernetes, ...). Any two-letter last label (a country code) counts too.
const DNS_SUFFIXES: &[&str] = &[
    "com",
    "net",
    "org",
    "edu",
    "gov",
    "mil",
    "int",
    "info",
    "biz",
    "io",
    "dev",
    "app",
    "cloud",
    "internal",
    "local",
    "localdomain",
    "localhost",
    "lan",
    "home",
    "corp",
    "intranet",
    "intra",
    "private",
    "priv",
    "lab",
    "site",
    "svc",
    "cluster",
    "example",
    "test",
    "invalid",
    "arpa",
];

/// `com` as `[Cc][Oo][Mm]`: JSON Schema patterns have no case-insensitive flag.
fn any_case(word: &str) -> String {
    word.chars()
        .map(|c| format!("[{}{}]", c.to_ascii_uppercase(), c))
        .collect()
}

/// The first identifier found in `s`, if any. `stamp` allows the one 12-digit run a build
/// version may hold: a date and time `YYYYMMDDhhmm` (Red Hat CoreOS builds).
pub fn identifier_in(s: &str, stamp: bool) -> Option<Identifier> {
    let b = s.as_bytes();
    if has_uuid(b) {
        return Some(Identifier::Uuid);
    }
    for run in runs(b, |c| c.is_ascii_hexdigit()) {
        if run.len() >= 12 && !(stamp && is_stamp(run)) {
            return Some(Identifier::HexRun);
        }
    }
    if b.contains(&b':') || has_ipv4(b) {
        return Some(Identifier::Address);
    }
    if has_mac(b) {
        return Some(Identifier::Mac);
    }
    if has_host_name(s) {
        return Some(Identifier::HostName);
    }
    None
}

/// A dotted value whose last label is a domain suffix.
fn has_host_name(s: &str) -> bool {
    s.rsplit_once('.').is_some_and(|(_, last)| {
        let last = last.to_ascii_lowercase();
        (last.len() == 2 && last.bytes().all(|c| c.is_ascii_alphabetic()))
            || DNS_SUFFIXES.contains(&last.as_str())
    })
}

/// Maximal runs of bytes for which `keep` holds.
fn runs(b: &[u8], keep: impl Fn(u8) -> bool + Copy) -> impl Iterator<Item = &[u8]> {
    b.split(move |c| !keep(*c)).filter(|r| !r.is_empty())
}

/// `YYYYMMDDhhmm` with a real month, day, hour and minute, in 1970 to 2099.
fn is_stamp(run: &[u8]) -> bool {
    if run.len() != 12 || !run.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n = |i: usize| u32::from(run[i] - b'0') * 10 + u32::from(run[i + 1] - b'0');
    let year = n(0) * 100 + n(2);
    (1970..=2099).contains(&year)
        && (1..=12).contains(&n(4))
        && (1..=31).contains(&n(6))
        && n(8) <= 23
        && n(10) <= 59
}

fn has_uuid(b: &[u8]) -> bool {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let len: usize = GROUPS.iter().sum::<usize>() + 4;
    b.windows(len).any(|w| {
        let mut i = 0;
        GROUPS.iter().enumerate().all(|(g, n)| {
            let ok = w[i..i + n].iter().all(u8::is_ascii_hexdigit) && (g == 4 || w[i + n] == b'-');
            i += n + 1;
            ok
        })
    })
}

/// Four digit groups of 1 to 3 digits, each a whole run of digits, joined by single `.`, `-`
/// or `_`.
fn has_ipv4(b: &[u8]) -> bool {
    // Groups chained so far: each a whole digit run of 1 to 3 digits that ends right before a
    // single separator and the next group.
    let mut chained = 0;
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            chained = 0;
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        chained = if i - start <= 3 { chained + 1 } else { 0 };
        if chained == 4 {
            return true;
        }
        // Only a single separator followed by a digit continues the chain.
        let joined =
            i + 1 < b.len() && matches!(b[i], b'.' | b'-' | b'_') && b[i + 1].is_ascii_digit();
        if joined {
            i += 1;
        } else {
            chained = 0;
        }
    }
    false
}

fn has_mac(b: &[u8]) -> bool {
    let hex = |w: &[u8]| w.iter().all(u8::is_ascii_hexdigit);
    let six_pairs = b.windows(17).any(|w| {
        (0..6).all(|g| hex(&w[g * 3..g * 3 + 2]))
            && (0..5).all(|g| matches!(w[g * 3 + 2], b':' | b'-' | b'.' | b'_'))
    });
    let three_quads = b
        .windows(14)
        .any(|w| hex(&w[0..4]) && w[4] == b'.' && hex(&w[5..9]) && w[9] == b'.' && hex(&w[10..14]));
    six_pairs || three_quads
}

// ---------------------------------------------------------------------------------------------
// os-release ID and VARIANT_ID: names from a known list.

/// A distribution whose os-release `ID` is reported as it is, with the os-release `NAME` its
/// versions write. Reports never carry `NAME` (free text a derived image fills with anything):
/// a receiver derives it from the ID for Fedora's countme totals, so every known ID has its
/// name here, and a test holds the receiver's table to this list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownOs {
    /// os-release `ID`.
    pub id: &'static str,
    /// os-release `NAME` by the first `VERSION_ID` it applies to: the first row has no version
    /// (every version), each further row applies from its version on.
    pub names: &'static [(Option<&'static str>, &'static str)],
}

/// A known os-release `ID` and its `NAME`s (a row of [`KNOWN_OS_IDS`]).
const fn os(id: &'static str, names: &'static [(Option<&'static str>, &'static str)]) -> KnownOs {
    KnownOs { id, names }
}

/// The os-release `ID`s reported as they are, with their `NAME`s; any other `ID` is `other`.
/// A vendor adds its own with `[collecting] known_os_names` (daemon) and `[counts]
/// known_os_names` (receiver), and its `NAME` with `[countme] os_names` (receiver).
///
/// Fedora (`fedora`, "Fedora Linux" from Fedora 35 on); the RHEL family: RHEL (`rhel`, also
/// RHEL CoreOS from 4.19 on), Red Hat Enterprise Linux CoreOS (`rhcos`), CentOS (`centos`, also
/// CentOS Stream CoreOS 10), CentOS Stream CoreOS of OKD (`scos`), Rocky Linux (`rocky`),
/// AlmaLinux (`almalinux`), Oracle Linux (`ol`), Amazon Linux (`amzn`); Debian (`debian`);
/// Ubuntu (`ubuntu`, `ubuntu-core`); Flatcar (`flatcar`) and Container Linux (`coreos`).
/// Each `NAME` as the distribution's os-release writes it (sources: docs/usage/countme.md).
pub const KNOWN_OS_IDS: &[KnownOs] = &[
    os("fedora", &[(None, "Fedora"), (Some("35"), "Fedora Linux")]),
    os("rhel", &[(None, "Red Hat Enterprise Linux")]),
    os("rhcos", &[(None, "Red Hat Enterprise Linux CoreOS")]),
    os(
        "centos",
        &[(None, "CentOS Linux"), (Some("8"), "CentOS Stream")],
    ),
    os("scos", &[(None, "CentOS Stream CoreOS")]),
    os("rocky", &[(None, "Rocky Linux")]),
    os("almalinux", &[(None, "AlmaLinux")]),
    os("ol", &[(None, "Oracle Linux Server")]),
    os("amzn", &[(None, "Amazon Linux")]),
    os("debian", &[(None, "Debian GNU/Linux")]),
    os("ubuntu", &[(None, "Ubuntu")]),
    os("ubuntu-core", &[(None, "Ubuntu Core")]),
    os("flatcar", &[(None, "Flatcar Container Linux by Kinvolk")]),
    os("coreos", &[(None, "Container Linux by CoreOS")]),
];

/// The os-release `VARIANT_ID`s reported as they are; any other variant is `other`: every
/// `os-release.<variant>` of Fedora's fedora-release package (coreos, iot, silverblue, kinoite,
/// server, workstation, cloud, container, ELN's `eln`, the spins and atomic desktops, ...), the
/// names Sway and Budgie Atomic had before (`sericea`, `onyx`), and `coreos` of RHEL and
/// CentOS Stream CoreOS (openshift/os `common.yaml`).
pub const KNOWN_VARIANT_IDS: &[&str] = &[
    "budgie",
    "budgie-atomic",
    "cinnamon",
    "cloud",
    "compneuro",
    "container",
    "cosmic",
    "cosmic-atomic",
    "designsuite",
    "eln",
    "flatpak",
    "i3",
    "iot",
    "kde",
    "kde-mobile",
    "kinoite",
    "kinoite-mobile",
    "lxde",
    "lxqt",
    "matecompiz",
    "miraclewm",
    "miraclewm-atomic",
    "mobility",
    "onyx",
    "sericea",
    "server",
    "silverblue",
    "snappy",
    "soas",
    "sway",
    "sway-atomic",
    "toolbx",
    "workstation",
    "wsl",
    "xfce",
];

/// Every known os-release name, as either field takes it (an `ID` or a `VARIANT_ID`): the
/// known IDs, then the variants that are not also an ID, each once.
pub fn known_os_names() -> impl Iterator<Item = &'static str> {
    KNOWN_OS_IDS.iter().map(|o| o.id).chain(
        KNOWN_VARIANT_IDS
            .iter()
            .copied()
            .filter(|v| !KNOWN_OS_IDS.iter().any(|o| o.id == *v)),
    )
}

/// The characters of an os-release name (the os-release specification: lower-case letters,
/// digits, `.`, `_`, `-`) and its longest length here.
pub(crate) static OS_NAME_SHAPE: Pattern = Seq(&[Class("a-z0-9", 1, 1), Class("a-z0-9._-", 0, 31)]);

/// The longest os-release name kept.
pub const MAX_OS_NAME_LEN: usize = 32;

// ---------------------------------------------------------------------------------------------
// VERSION_ID, OSTREE_VERSION, aleph builds: numeric shapes, for known IDs only.

/// `VERSION_ID` as distributions write it: one to three numbers joined by `.`, the first
/// without a leading zero and of at most four digits (`43`, `9.4`, `4.16`, `24.04`, `12`,
/// `4799.0.0`).
pub(crate) static VERSION_SHAPE: Pattern = Seq(&[
    Class("1-9", 1, 1),
    Class("0-9", 0, 3),
    Rep(&Seq(&[Lit("."), Class("0-9", 1, 4)]), 0, 2),
]);

/// A date `YYYYMMDD` (1970 to 2099, a real month, a day 01 to 31).
static DATE: Pattern = Seq(&[
    Alt(&[Lit("19"), Lit("20")]),
    Class("0-9", 2, 2),
    Alt(&[
        Seq(&[Lit("0"), Class("1-9", 1, 1)]),
        Seq(&[Lit("1"), Class("0-2", 1, 1)]),
    ]),
    Alt(&[
        Seq(&[Lit("0"), Class("1-9", 1, 1)]),
        Seq(&[Class("12", 1, 1), DIGIT]),
        Seq(&[Lit("3"), Class("01", 1, 1)]),
    ]),
]);

/// A time `hhmm`.
static TIME: Pattern = Seq(&[
    Alt(&[
        Seq(&[Class("01", 1, 1), DIGIT]),
        Seq(&[Lit("2"), Class("0-3", 1, 1)]),
    ]),
    Class("0-5", 1, 1),
    DIGIT,
]);

/// A small counter: 1 to 3 digits.
static SERIAL: Pattern = Class("0-9", 1, 3);

/// `.` and a date, as builds join their parts.
static DOT_DATE: Pattern = Seq(&[Lit("."), DATE]);

/// `-` and a small counter, the serial that ends a build.
static DASH_SERIAL: Pattern = Seq(&[Lit("-"), SERIAL]);

/// A number from 1 to 99 (no leading zero).
static NUMBER_TO_99: Pattern = Seq(&[Class("1-9", 1, 1), Class("0-9", 0, 1)]);

/// A number from 1 to 999 (no leading zero).
static NUMBER_TO_999: Pattern = Seq(&[Class("1-9", 1, 1), Class("0-9", 0, 2)]);

/// Build versions as the image builders of the known distributions write them:
/// - `43.20261102.3.0`: Fedora CoreOS (release, date, stream, iteration: coreos-assembler and
///   fedora-coreos-config), `41.20241027.0`: Fedora's atomic desktops, IoT and bootc images
///   (release, date, iteration), `32.20200424.n.0`: nightly composes, `43.20251110.dev.0`:
///   developer builds;
/// - `416.94.202505211447-0`: Red Hat Enterprise Linux CoreOS for OpenShift 4 (OpenShift and
///   RHEL version, date and time, serial: openshift/os `automatic-version-prefix`);
/// - `9.6.20250617-0`, `9.0.20250617-0`: RHEL CoreOS and CentOS Stream CoreOS (RHEL or CentOS
///   version, date, serial);
/// - `stream9.20240807.0`: CentOS Stream bootc images.
pub(crate) static BUILD_SHAPE: Pattern = Alt(&[
    Seq(&[
        NUMBER_TO_999,
        DOT_DATE,
        Lit("."),
        Opt(&Seq(&[Alt(&[Lit("n"), Lit("dev"), SERIAL]), Lit(".")])),
        SERIAL,
    ]),
    Seq(&[
        Class("1-9", 1, 1),
        Class("0-9", 2, 3),
        Lit("."),
        Class("0-9", 1, 3),
        DOT_DATE,
        TIME,
        DASH_SERIAL,
    ]),
    Seq(&[
        NUMBER_TO_99,
        Lit("."),
        Class("0-9", 1, 2),
        DOT_DATE,
        DASH_SERIAL,
    ]),
    Seq(&[Lit("stream"), NUMBER_TO_99, DOT_DATE, Lit("."), SERIAL]),
]);

/// The longest version kept.
pub const MAX_VERSION_LEN: usize = 14;
/// The longest build kept.
pub const MAX_BUILD_LEN: usize = 32;

// ---------------------------------------------------------------------------------------------
// Instance types: each provider's documented names.

/// AWS: `family.size` (Amazon EC2 "Instance type naming conventions": series letters,
/// generation, options, an optional `-flex`/`-b200`-style suffix; high-memory `u-6tb1` and Mac
/// `mac-m4` forms), sizes from `nano` to `NNNxlarge`, `metal` and `metal-NNxl`.
static AWS: Pattern = Seq(&[
    Alt(&[
        Seq(&[
            Alt(&[
                Lit("a"),
                Lit("c"),
                Lit("d"),
                Lit("dl"),
                Lit("f"),
                Lit("g"),
                Lit("gr"),
                Lit("h"),
                Lit("hpc"),
                Lit("i"),
                Lit("im"),
                Lit("inf"),
                Lit("is"),
                Lit("m"),
                Lit("mac"),
                Lit("p"),
                Lit("r"),
                Lit("t"),
                Lit("trn"),
                Lit("u"),
                Lit("vt"),
                Lit("x"),
                Lit("z"),
            ]),
            NUMBER_TO_99,
            Class("a-z", 0, 6),
            Opt(&Seq(&[Lit("-"), Class("a-z0-9", 1, 8)])),
        ]),
        Seq(&[
            Alt(&[Lit("u"), Lit("mac")]),
            Lit("-"),
            Class("a-z0-9", 1, 8),
        ]),
    ]),
    Lit("."),
    Alt(&[
        Lit("nano"),
        Lit("micro"),
        Lit("small"),
        Lit("medium"),
        Lit("large"),
        Lit("xlarge"),
        Seq(&[NUMBER_TO_999, Lit("xlarge")]),
        Lit("metal"),
        Seq(&[Lit("metal-"), NUMBER_TO_999, Lit("xl")]),
    ]),
]);

/// Azure: `Standard_<family><vCPUs>[-<constrained>]<features>[_<accelerator>][_cc][_v<N>]`
/// (Azure "Virtual machine size naming conventions"), `_Promo` sizes, and `Basic_A0`…`Basic_A4`.
static AZURE: Pattern = Alt(&[
    Seq(&[
        Lit("Standard_"),
        Class("A-Z", 1, 3),
        Class("0-9", 0, 4),
        Opt(&Seq(&[Lit("-"), Class("0-9", 1, 3)])),
        Class("a-z", 0, 6),
        Rep(
            &Seq(&[Lit("_"), Class("A-Z", 1, 1), Class("A-Z0-9", 1, 6)]),
            0,
            2,
        ),
        Opt(&Lit("_cc")),
        Opt(&Seq(&[Lit("_v"), Class("1-9", 1, 1)])),
        Opt(&Lit("_Promo")),
    ]),
    Seq(&[Lit("Basic_A"), Class("0-4", 1, 1)]),
]);

/// Google Cloud machine series (Compute Engine "Machine families resource and comparison
/// guide"), in `<series>-<type>-<vCPUs>` names.
static GCP_SERIES: Pattern = Alt(&[
    Lit("a2"),
    Lit("a3"),
    Lit("a4"),
    Lit("a4x"),
    Lit("c2"),
    Lit("c2d"),
    Lit("c3"),
    Lit("c3d"),
    Lit("c4"),
    Lit("c4a"),
    Lit("c4d"),
    Lit("ct3"),
    Lit("ct3p"),
    Lit("ct4p"),
    Lit("ct5l"),
    Lit("ct5lp"),
    Lit("ct5p"),
    Lit("ct6e"),
    Lit("e2"),
    Lit("g2"),
    Lit("g4"),
    Lit("h3"),
    Lit("h4d"),
    Lit("m1"),
    Lit("m2"),
    Lit("m3"),
    Lit("m4"),
    Lit("n1"),
    Lit("n2"),
    Lit("n2d"),
    Lit("n4"),
    Lit("n4a"),
    Lit("n4d"),
    Lit("t2a"),
    Lit("t2d"),
    Lit("tpu7x"),
    Lit("x4"),
    Lit("z3"),
]);

/// Google Cloud: `<series>-<type>-<vCPUs>[g|t][-lssd|-metal|...]`, custom machine types
/// `[<series>-]custom-<vCPUs>-<MiB>[-ext]`, and the shared-core `e2-micro`, `f1-micro`,
/// `g1-small`, ... The metadata server's `projects/<number>/machineTypes/` prefix is taken off
/// before (on GCP only: [`InstanceType::for_platform`]).
static GCP: Pattern = Alt(&[
    Seq(&[
        GCP_SERIES,
        Lit("-"),
        Alt(&[
            Lit("standard"),
            Lit("highmem"),
            Lit("highcpu"),
            Lit("megamem"),
            Lit("ultramem"),
            Lit("hypermem"),
            Lit("highgpu"),
            Lit("megagpu"),
            Lit("ultragpu"),
            Lit("edgegpu"),
            Lit("hightpu"),
        ]),
        Lit("-"),
        Class("1-9", 1, 1),
        Class("0-9", 0, 3),
        Opt(&Class("gt", 1, 1)),
        Opt(&Seq(&[
            Lit("-"),
            Alt(&[
                Lit("lssd"),
                Lit("nolssd"),
                Lit("highlssd"),
                Lit("standardlssd"),
                Lit("metal"),
            ]),
        ])),
    ]),
    Seq(&[
        Opt(&Seq(&[GCP_SERIES, Lit("-")])),
        Lit("custom-"),
        NUMBER_TO_999,
        Lit("-"),
        Class("1-9", 1, 1),
        Class("0-9", 2, 6),
        Opt(&Lit("-ext")),
    ]),
    Seq(&[
        Lit("e2-"),
        Opt(&Lit("custom-")),
        Alt(&[Lit("micro"), Lit("small"), Lit("medium")]),
        Opt(&Seq(&[Lit("-"), Class("1-9", 1, 1), Class("0-9", 2, 5)])),
    ]),
    Lit("f1-micro"),
    Lit("g1-small"),
]);

/// Alibaba Cloud: `ecs.<family>[-<variant>].<size>` (ECS "Instance type naming").
static ALIBABA: Pattern = Seq(&[
    Lit("ecs."),
    Class("a-z", 1, 1),
    Class("a-z0-9", 0, 9),
    Opt(&Seq(&[Lit("-"), Class("a-z0-9", 1, 10)])),
    Lit("."),
    Alt(&[
        Lit("nano"),
        Lit("micro"),
        Lit("small"),
        Lit("medium"),
        Lit("large"),
        Lit("xlarge"),
        Seq(&[NUMBER_TO_999, Lit("xlarge")]),
    ]),
]);

/// Akamai (Linode): `g<generation>-<class>-…` plan ids (`g6-nanode-1`, `g6-standard-2`,
/// `g7-highmem-1`, `g1-gpu-rtx6000-1`, as afterburn's provider reads them).
static AKAMAI: Pattern = Seq(&[
    Lit("g"),
    NUMBER_TO_99,
    Lit("-"),
    Alt(&[
        Lit("nanode"),
        Lit("standard"),
        Lit("dedicated"),
        Lit("highmem"),
        Lit("premium"),
        Lit("gpu"),
        Lit("accelerated"),
        Lit("netint"),
    ]),
    Rep(&Seq(&[Lit("-"), Class("a-z0-9", 1, 12)]), 1, 3),
]);

/// Exoscale sizes, as families `standard.medium` or the bare size names of the older service
/// offerings.
static EXOSCALE_SIZE: Pattern = Alt(&[
    Lit("micro"),
    Lit("tiny"),
    Lit("small"),
    Lit("medium"),
    Lit("large"),
    Lit("extra-large"),
    Lit("huge"),
    Lit("mega"),
    Lit("titan"),
    Lit("jumbo"),
    Lit("colossus"),
    Lit("Micro"),
    Lit("Tiny"),
    Lit("Small"),
    Lit("Medium"),
    Lit("Large"),
    Lit("Extra-large"),
    Lit("Huge"),
    Lit("Mega"),
    Lit("Titan"),
    Lit("Jumbo"),
    Lit("Colossus"),
]);

/// Exoscale: `<family>.<size>` (`standard.medium`, `cpu.large`, `gpu3.small`) or a bare size.
static EXOSCALE: Pattern = Seq(&[
    Opt(&Seq(&[
        Alt(&[
            Lit("standard"),
            Lit("cpu"),
            Lit("memory"),
            Lit("storage"),
            Seq(&[Lit("gpu"), Class("a-z0-9", 0, 8)]),
        ]),
        Lit("."),
    ])),
    EXOSCALE_SIZE,
]);

/// Oracle Cloud shapes: `VM.` or `BM.`, a series (`Standard`, `DenseIO`, `GPU`, `HPC`,
/// `Optimized`, with a generation digit), up to two model labels (`E4`, `A1`, `A100-v2`), and
/// the OCPU count, `Flex` or `Generic` (`VM.Standard.A1.Flex`, `BM.GPU.H100.8`,
/// `VM.Standard.E2.1.Micro`).
static ORACLE: Pattern = Seq(&[
    Alt(&[Lit("VM."), Lit("BM.")]),
    Alt(&[
        Lit("Standard"),
        Lit("DenseIO"),
        Lit("GPU"),
        Lit("HPC"),
        Lit("Optimized"),
    ]),
    Class("0-9", 0, 1),
    Rep(
        &Seq(&[
            Lit("."),
            Class("A-Z", 1, 1),
            Class("A-Za-z0-9", 0, 9),
            Opt(&Seq(&[Lit("-v"), Class("1-9", 1, 1)])),
        ]),
        0,
        2,
    ),
    Lit("."),
    Alt(&[NUMBER_TO_999, Lit("Flex"), Lit("Generic")]),
    Opt(&Lit(".Micro")),
]);

/// Equinix Metal (Packet) plans: `c3.small.x86`, `m3.large.x86`, `c3.large.arm64`, and the
/// older `baremetal_0` … `baremetal_s`.
static EQUINIX: Pattern = Alt(&[
    Seq(&[
        Class("a-z", 1, 1),
        Class("1-9", 1, 1),
        Lit("."),
        Alt(&[
            Lit("small"),
            Lit("medium"),
            Lit("large"),
            Lit("xlarge"),
            Seq(&[Class("1-9", 1, 1), Lit("xlarge")]),
        ]),
        Lit("."),
        Alt(&[Lit("x86"), Lit("arm"), Lit("arm64")]),
    ]),
    Seq(&[Lit("baremetal_"), Class("0-9a-z", 1, 3)]),
]);

/// Scaleway commercial types (Scaleway "Instance types": `DEV1-S`, `GP1-M`, `PLAY2-NANO`,
/// `PRO2-XS`, `ENT1-2XL`, `POP2-HM-2C-16G`, `COPARM1-2C-8G`, `GPU-3070-S`, `L4-1-24G`,
/// `H100-SXM-2-80G`, and older `C2S`, `VC1M`, `X64-15GB`, `ARM64-4GB`).
static SCALEWAY: Pattern = Alt(&[
    Seq(&[
        Alt(&[
            Lit("DEV1"),
            Lit("GP1"),
            Lit("PLAY2"),
            Lit("PRO2"),
            Lit("ENT1"),
            Lit("START1"),
            Lit("STARDUST1"),
            Lit("RENDER"),
            Lit("GPU-3070"),
        ]),
        Lit("-"),
        Alt(&[
            Lit("PICO"),
            Lit("NANO"),
            Lit("MICRO"),
            Lit("XXS"),
            Lit("XS"),
            Lit("S"),
            Lit("M"),
            Lit("L"),
            Lit("XL"),
            Lit("2XL"),
            Lit("3XL"),
        ]),
    ]),
    Seq(&[
        Alt(&[Lit("POP2"), Lit("POP2-HM"), Lit("POP2-HC"), Lit("COPARM1")]),
        Lit("-"),
        NUMBER_TO_999,
        Lit("C-"),
        Class("1-9", 1, 1),
        Class("0-9", 0, 3),
        Lit("G"),
        Opt(&Lit("-WIN")),
    ]),
    Seq(&[Lit("POP2-HN-"), NUMBER_TO_999]),
    Seq(&[
        Alt(&[
            Lit("L4"),
            Lit("L40S"),
            Lit("H100"),
            Lit("H100-SXM"),
            Lit("H200-SXM"),
            Lit("B300-SXM"),
        ]),
        Lit("-"),
        Class("1-9", 1, 1),
        Lit("-"),
        Class("1-9", 1, 1),
        Class("0-9", 1, 2),
        Lit("G"),
    ]),
    Alt(&[
        Lit("C1"),
        Lit("C2S"),
        Lit("C2M"),
        Lit("C2L"),
        Lit("VC1S"),
        Lit("VC1M"),
        Lit("VC1L"),
    ]),
    Seq(&[Alt(&[Lit("X64-"), Lit("ARM64-")]), NUMBER_TO_999, Lit("GB")]),
]);

/// OpenStack: only nova's stock flavors (nova `_populate_instance_types`); any other flavor
/// was named by the cloud's operator.
static NOVA_STOCK: Pattern = Seq(&[
    Lit("m1."),
    Alt(&[
        Lit("tiny"),
        Lit("small"),
        Lit("medium"),
        Lit("large"),
        Lit("xlarge"),
    ]),
]);

/// KubeVirt: the instance types of kubevirt/common-instancetypes (`instancetypes/*/1/sizes.yaml`);
/// any other was named by the cluster's operator.
static KUBEVIRT: Pattern = Alt(&[
    Seq(&[
        Alt(&[Lit("cx1.medium"), Lit("m1.large"), Lit("cx1.large")]),
        Opt(&Lit("1gi")),
    ]),
    Seq(&[
        Alt(&[Lit("cx1."), Lit("m1.")]),
        Alt(&[
            Lit("xlarge"),
            Lit("2xlarge"),
            Lit("4xlarge"),
            Lit("8xlarge"),
        ]),
        Opt(&Lit("1gi")),
    ]),
    Seq(&[
        Alt(&[Lit("d1."), Lit("u1.")]),
        Alt(&[
            Lit("nano"),
            Lit("micro"),
            Lit("small"),
            Lit("medium"),
            Lit("2xmedium"),
            Lit("large"),
            Lit("xlarge"),
            Lit("2xlarge"),
            Lit("4xlarge"),
            Lit("8xlarge"),
        ]),
    ]),
    Seq(&[
        Alt(&[Lit("n1."), Lit("o1."), Lit("rt1.")]),
        Alt(&[
            Lit("nano"),
            Lit("micro"),
            Lit("small"),
            Lit("medium"),
            Lit("large"),
            Lit("xlarge"),
            Lit("2xlarge"),
            Lit("4xlarge"),
            Lit("8xlarge"),
        ]),
    ]),
]);

/// An instance type rule: the provider's names, or none (every value is the operator's own).
#[derive(Debug, Clone, Copy)]
pub(crate) enum TypeRule {
    /// Names of this shape are sent as they are.
    Names(&'static Pattern),
    /// Every name is the operator's: always `other`.
    OperatorNamed,
}

/// The instance type rule of each platform that has instance types; platforms not listed have
/// none, and no instance type is ever sent for them.
pub(crate) const TYPE_RULES: &[(PlatformId, TypeRule)] = &[
    (PlatformId::Aws, TypeRule::Names(&AWS)),
    (PlatformId::Azure, TypeRule::Names(&AZURE)),
    (PlatformId::Azurestack, TypeRule::Names(&AZURE)),
    (PlatformId::Gcp, TypeRule::Names(&GCP)),
    (PlatformId::Aliyun, TypeRule::Names(&ALIBABA)),
    (PlatformId::Akamai, TypeRule::Names(&AKAMAI)),
    (PlatformId::Exoscale, TypeRule::Names(&EXOSCALE)),
    (PlatformId::Oraclecloud, TypeRule::Names(&ORACLE)),
    (PlatformId::Packet, TypeRule::Names(&EQUINIX)),
    (PlatformId::Scaleway, TypeRule::Names(&SCALEWAY)),
    (PlatformId::Openstack, TypeRule::Names(&NOVA_STOCK)),
    (PlatformId::Kubevirt, TypeRule::Names(&KUBEVIRT)),
    (PlatformId::Cloudstack, TypeRule::OperatorNamed),
];

/// The rule of `platform`, if it has instance types.
pub(crate) fn type_rule(platform: PlatformId) -> Option<TypeRule> {
    TYPE_RULES
        .iter()
        .find(|(p, _)| *p == platform)
        .map(|(_, r)| *r)
}

/// The characters every instance type is made of, and its longest length.
pub(crate) static INSTANCE_TYPE_SHAPE: Pattern =
    Seq(&[Class("A-Za-z0-9", 1, 1), Class("A-Za-z0-9._-", 0, 47)]);

/// The longest instance type kept.
pub const MAX_INSTANCE_TYPE_LEN: usize = 48;

/// GCP's metadata server names the machine type by its path in the project: the project number
/// identifies the owner and is taken off.
pub(crate) fn strip_gcp_prefix(raw: &str) -> &str {
    let Some(rest) = raw.strip_prefix("projects/") else {
        return raw;
    };
    match rest.split_once("/machineTypes/") {
        Some((project, name))
            if !project.is_empty() && project.bytes().all(|b| b.is_ascii_digit()) =>
        {
            name
        }
        _ => raw,
    }
}

// ---------------------------------------------------------------------------------------------
// Hardware vendor: a closed list of short names.

/// The bare-metal system vendors reported by name (the short names the collector maps DMI's
/// vendor strings to); any other vendor is `other`.
pub const KNOWN_VENDORS: &[&str] = &[
    "Acer",
    "Ampere",
    "Apple",
    "ASRock",
    "ASUS",
    "Cisco",
    "Dell",
    "Framework",
    "Fujitsu",
    "Gigabyte",
    "HP",
    "HPE",
    "Huawei",
    "IBM",
    "Inspur",
    "Intel",
    "Lenovo",
    "Microsoft",
    "MSI",
    "NVIDIA",
    "Oracle",
    "Quanta",
    "Raspberry Pi",
    "Supermicro",
    "Wiwynn",
    "xFusion",
];

// ---------------------------------------------------------------------------------------------
// The rules with a vendor's additions.

/// A name a vendor added to the known os-release names that cannot be one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} {reason}")]
pub struct BadOsName {
    /// The name as configured (shortened).
    pub name: String,
    /// Why it is refused.
    pub reason: String,
}

/// The open-field rules as one side applies them: the built-in lists and shapes, plus the
/// os-release names a vendor added. A daemon and a receiver configured with the same additions
/// agree on every value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    extra_os_names: Vec<String>,
}

impl Rules {
    /// The built-in rules only.
    pub fn new() -> Rules {
        Rules::default()
    }

    /// The built-in rules plus `names` as known os-release names. Every name must be one an
    /// os-release file can hold (lower-case letters, digits, `.`, `_`, `-`, at most 32
    /// characters, starting with a letter or digit) and must not look like an identifier or be
    /// `other`; all problems are returned.
    pub fn with_os_names<S: AsRef<str>>(names: &[S]) -> Result<Rules, Vec<BadOsName>> {
        let mut errors = Vec::new();
        let mut extra: Vec<String> = Vec::new();
        for name in names {
            let name = name.as_ref();
            let bad = |reason: String| BadOsName {
                name: name.chars().take(40).collect(),
                reason,
            };
            if !OS_NAME_SHAPE.matches(name) {
                errors.push(bad(format!(
                    "is not an os-release name: lower-case letters, digits, '.', '_' and '-', \
                     starting with a letter or digit, at most {MAX_OS_NAME_LEN} characters"
                )));
            } else if name == OTHER {
                errors.push(bad("is the value that stands for every unknown name".into()));
            } else if let Some(id) = identifier_in(name, false) {
                errors.push(bad(format!("looks like {id}, which no report may carry")));
            } else if !is_builtin_os_name(name) && !extra.iter().any(|n| n == name) {
                extra.push(name.to_owned());
            }
        }
        extra.sort();
        if errors.is_empty() {
            Ok(Rules {
                extra_os_names: extra,
            })
        } else {
            Err(errors)
        }
    }

    /// The names added to the built-in list, sorted.
    pub fn extra_os_names(&self) -> &[String] {
        &self.extra_os_names
    }

    /// Every known os-release name: the built-in list, then the additions.
    pub fn os_names<'a>(&'a self) -> impl Iterator<Item = &'a str> + 'a {
        known_os_names()
            .map(|n| -> &'a str { n })
            .chain(self.extra_os_names.iter().map(String::as_str))
    }

    /// Whether `name` is a known os-release name.
    pub fn is_known_os_name(&self, name: &str) -> bool {
        is_builtin_os_name(name) || self.extra_os_names.iter().any(|n| n == name)
    }

    /// Whether `id` is a known os-release `ID`: a built-in one or an addition (a variant name
    /// such as `iot` is no `ID`).
    pub fn is_known_os_id(&self, id: &str) -> bool {
        KNOWN_OS_IDS.iter().any(|o| o.id == id) || self.extra_os_names.iter().any(|n| n == id)
    }

    /// An os-release `ID` or `VARIANT_ID` as reported: itself when known, else `other`.
    pub fn os_name(&self, raw: &str) -> crate::OsName {
        if self.is_known_os_name(raw) {
            crate::OsName::from_rule(raw)
        } else {
            crate::OsName::other()
        }
    }

    /// An os-release `ID` as reported: itself when it is a known `ID`, else `other`.
    fn os_id(&self, raw: &str) -> crate::OsName {
        if self.is_known_os_id(raw) {
            crate::OsName::from_rule(raw)
        } else {
            crate::OsName::other()
        }
    }

    /// The running OS as reported, from the raw os-release values: `ID` and `VARIANT_ID` from
    /// the known names (else `other`); `VERSION_ID` and the build in their shapes (else
    /// `other`), and only when the `ID` is known (else left out).
    pub fn os(
        &self,
        id: Option<&str>,
        variant_id: Option<&str>,
        version_id: Option<&str>,
        build: Option<&str>,
    ) -> crate::Os {
        let id = id.map(|v| self.os_id(v));
        let known = id.as_ref().is_some_and(|i| !i.is_other());
        crate::Os {
            variant_id: variant_id.map(|v| self.os_name(v)),
            version_id: version_id
                .filter(|_| known)
                .map(crate::OsVersionId::or_other),
            build: build.filter(|_| known).map(crate::OsBuild::or_other),
            id,
        }
    }

    /// The original OS as reported: its build in a build shape (else `other`), and only beside
    /// a known `os.id` (else left out).
    pub fn original_os(&self, os: Option<&crate::Os>, build: &str) -> Option<crate::OriginalOs> {
        os_id_known(os).then(|| crate::OriginalOs {
            build: crate::OsBuild::or_other(build),
        })
    }

    /// Applies every rule to a received report, as a receiver counts it: a value that breaks
    /// its rule becomes `other`, a version or build beside an unknown `os.id` is left out, an
    /// instance type is checked against its platform's names. A report the daemon built with
    /// the same rules is unchanged.
    pub fn conform(&self, report: &mut crate::Report) {
        if let Some(os) = report.os.as_mut() {
            if let Some(id) = os.id.as_mut() {
                *id = self.os_id(id.as_str());
            }
            if let Some(v) = os.variant_id.as_mut() {
                *v = self.os_name(v.as_str());
            }
            if !os_id_known(Some(os)) {
                os.version_id = None;
                os.build = None;
            }
        }
        if !os_id_known(report.os.as_ref()) {
            report.original_os = None;
        }
        if let Some(p) = report.platform.as_mut()
            && let Some(t) = p.instance_type.as_ref()
            && !t.is_other()
        {
            let conformed = crate::InstanceType::on_platform(p.id, t.as_str());
            p.instance_type = Some(conformed.unwrap_or_else(crate::InstanceType::other));
        }
        // Versions, builds and vendors were checked when they were read (`or_other`).
    }
}

/// Whether `name` is in the built-in lists (IDs or variants).
fn is_builtin_os_name(name: &str) -> bool {
    KNOWN_OS_IDS.iter().any(|o| o.id == name) || KNOWN_VARIANT_IDS.contains(&name)
}

fn os_id_known(os: Option<&crate::Os>) -> bool {
    os.and_then(|o| o.id.as_ref())
        .is_some_and(|i| !i.is_other())
}

/// The regular expression of `VERSION_ID` values (the literal `other` aside).
pub fn version_regex() -> String {
    format!("^{}$", VERSION_SHAPE.regex_anywhere())
}

/// The regular expression of build versions (the literal `other` aside).
pub fn build_regex() -> String {
    format!("^{}$", BUILD_SHAPE.regex_anywhere())
}

/// The regular expression of the instance types reported as themselves on `platform`: `None`
/// when the platform has no instance types (none is sent), `other` alone when every value is
/// an operator's own name.
pub fn instance_type_regex(platform: PlatformId) -> Option<String> {
    type_regex(platform)
}

/// The instance-type rule's regular expression of `platform` (for the JSON Schema), or `None`.
pub(crate) fn type_regex(platform: PlatformId) -> Option<String> {
    match type_rule(platform)? {
        TypeRule::Names(p) => Some(format!("^(?:{OTHER}|{})$", p.regex_anywhere())),
        TypeRule::OperatorNamed => Some(format!("^{OTHER}$")),
    }
}

/// Whether `s` fits `pattern` and carries no identifier.
pub(crate) fn fits(pattern: &Pattern, s: &str, stamp: bool) -> bool {
    s.len() <= MAX_MATCH_LEN && pattern.matches(s) && identifier_in(s, stamp).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_found() {
        for (s, want) in [
            ("4f3c9a1e0b2d4c8e9f7a6b5c4d3e2f10", Identifier::HexRun),
            ("ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8", Identifier::Uuid),
            ("408213637716", Identifier::HexRun),
            ("m5-0a1b2c3d4e5f.large", Identifier::HexRun),
            ("10.0.0.4", Identifier::Address),
            ("ip-172-31-5-17", Identifier::Address),
            ("4.13.1_2", Identifier::Address),
            ("fe80::1", Identifier::Address),
            ("0a-1b-2c-3d-4e-5f", Identifier::Mac),
            ("0a1b.2c3d.4e5f", Identifier::Mac),
            ("web1.example.com", Identifier::HostName),
            (
                "fcos-worker-2.c.my-project-1234.internal",
                Identifier::HostName,
            ),
            ("node1.lab", Identifier::HostName),
            ("host.acme.de", Identifier::HostName),
            ("WEB1.CORP", Identifier::HostName),
        ] {
            assert_eq!(identifier_in(s, false), Some(want), "{s}");
        }
        for s in [
            "43.20261102.3.0",
            "9.0.20250617-0",
            "m5.large",
            "VM.Standard.A1.Flex",
            "ecs.g6.large",
            "n2-custom-4-8192",
            "POP2-HM-2C-16G",
            "Standard_NC24ads_A100_v4",
            "3815.2.0",
            "24.04",
            "u1.2xmedium",
            "c3.small.x86",
        ] {
            assert_eq!(identifier_in(s, false), None, "{s}");
        }
        // The one 12-digit run a build may hold is a real date and time.
        assert_eq!(identifier_in("413.92.202303221220-0", true), None);
        assert_eq!(
            identifier_in("413.92.202303221220-0", false),
            Some(Identifier::HexRun)
        );
        assert_eq!(
            identifier_in("413.92.408213637716-0", true),
            Some(Identifier::HexRun),
            "a project number is no date"
        );
    }

    /// The regular expressions the schema forbids with `not` find what the code finds.
    #[test]
    fn identifier_regexes_agree_with_the_code() {
        let corpus = [
            "4f3c9a1e0b2d4c8e9f7a6b5c4d3e2f10",
            "ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8",
            "408213637716",
            "40821363771",
            "10.0.0.4",
            "a10.0.0.4b",
            "1234.5.6.7",
            "ip-172-31-5-17",
            "4.13.1",
            "fe80::1",
            "0a-1b-2c-3d-4e-5f",
            "0a-1b-2c-3d-4e",
            "0a1b.2c3d.4e5f",
            "web1.example.com",
            "web1.example.COM",
            "node1.lab",
            "a.de",
            "a.d3",
            "m5.large",
            "43.20261102.3.0",
            "VM.Standard.A1.Flex",
            "ecs.g6.large",
            "c3.small.x86",
        ];
        for s in corpus {
            for id in Identifier::ALL {
                let re = regex_lite::Regex::new(&id.regex()).unwrap();
                let code = match id {
                    Identifier::HexRun => {
                        runs(s.as_bytes(), |c| c.is_ascii_hexdigit()).any(|r| r.len() >= 12)
                    }
                    Identifier::Uuid => has_uuid(s.as_bytes()),
                    Identifier::Address => s.contains(':') || has_ipv4(s.as_bytes()),
                    Identifier::Mac => has_mac(s.as_bytes()),
                    Identifier::HostName => has_host_name(s),
                };
                assert_eq!(re.is_match(s), code, "{id:?} on {s:?}: {}", id.regex());
            }
        }
    }

    #[test]
    fn builds_of_real_distributions_fit() {
        for ok in [
            "43.20261102.3.0",
            "36.20220618.3.1",
            "41.20241027.0",
            "32.20200424.n.0",
            "43.20251110.dev.0",
            "413.92.202303221220-0",
            "416.94.202505211447-0",
            "414.92.202310210434-0",
            "9.6.20250617-0",
            "9.0.20250617-0",
            "10.1.20260101-0",
            "stream9.20240807.0",
        ] {
            assert!(fits(&BUILD_SHAPE, ok, true), "{ok}");
        }
        for bad in [
            "43",
            "43.2026110.3.0",
            "43.20261302.3.0",
            "43.20261132.3.0",
            "413.92.202303222460-0",
            "43.20261102.3.0-acme",
            "acme-2024.1",
            "v1.2.3",
            "43.20261102.3.0.1",
            "413.92.408213637716-0",
            "other",
        ] {
            assert!(!fits(&BUILD_SHAPE, bad, true), "{bad}");
        }
    }

    #[test]
    fn versions_of_real_distributions_fit() {
        for ok in [
            "43", "9.4", "4.16", "24.04", "12", "4799.0.0", "10.0", "3815.2.0",
        ] {
            assert!(fits(&VERSION_SHAPE, ok, false), "{ok}");
        }
        for bad in [
            "0", "043", "10.0.0.1", "43beta", "1.2.3.4", "12345", "rawhide", "", "4.13.",
        ] {
            assert!(!fits(&VERSION_SHAPE, bad, false), "{bad}");
        }
    }

    #[test]
    fn instance_types_of_each_provider_fit_only_their_own() {
        use PlatformId::*;
        let cases: &[(PlatformId, &[&str], &[&str])] = &[
            (
                Aws,
                &[
                    "m5.large",
                    "c7gn.16xlarge",
                    "t4g.nano",
                    "x2iedn.32xlarge",
                    "is4gen.xlarge",
                    "m7i-flex.large",
                    "u-6tb1.metal",
                    "u7i-12tb.224xlarge",
                    "mac2-m2pro.metal",
                    "mac-m4.metal",
                    "p6-b200.48xlarge",
                    "m7i.metal-24xl",
                    "dl2q.24xlarge",
                    "hpc7g.16xlarge",
                    "a1.medium",
                ],
                &[
                    "i-0abc123def4567890",
                    "web1.large",
                    "m5.huge",
                    "m5",
                    "ip-10-0-0-1.ec2.internal",
                    "Standard_D2s_v5",
                ],
            ),
            (
                Azure,
                &[
                    "Standard_D2s_v5",
                    "Standard_B1s",
                    "Standard_NC24ads_A100_v4",
                    "Standard_E64-32s_v5",
                    "Standard_DS1_v2",
                    "Standard_ND96isr_H100_v5",
                    "Standard_DS3_v2_Promo",
                    "Standard_DC4as_cc_v5",
                    "Standard_ND128isr_NDR_GB200_v6",
                    "Basic_A1",
                ],
                &["Standard_d2s_v5", "Premium_D2", "m5.large", "Standard_"],
            ),
            (
                Gcp,
                &[
                    "n2d-standard-4",
                    "e2-medium",
                    "e2-micro",
                    "f1-micro",
                    "g1-small",
                    "n1-standard-1",
                    "a3-highgpu-8g",
                    "ct5lp-hightpu-4t",
                    "c3-standard-4-lssd",
                    "x4-megamem-960-metal",
                    "z3-highmem-8-highlssd",
                    "custom-4-8192",
                    "n2-custom-4-8192-ext",
                    "e2-custom-medium-4096",
                    "c4a-highcpu-72",
                ],
                &[
                    "projects/408213637716/machineTypes/n2-standard-4",
                    "n9-standard-4",
                    "acme-standard-4",
                    "n2-standard",
                ],
            ),
            (
                Aliyun,
                &[
                    "ecs.g6.large",
                    "ecs.g7.2xlarge",
                    "ecs.t5-lc1m1.small",
                    "ecs.gn6i-c4g1.xlarge",
                    "ecs.ebmg7.32xlarge",
                ],
                &["ecs.g6", "g6.large", "ecs.g6.large.acme"],
            ),
            (
                Akamai,
                &[
                    "g6-nanode-1",
                    "g6-standard-2",
                    "g7-highmem-1",
                    "g1-gpu-rtx6000-1",
                ],
                &["linode-42", "g6-acme-2"],
            ),
            (
                Exoscale,
                &[
                    "standard.medium",
                    "cpu.large",
                    "gpu3.small",
                    "Medium",
                    "extra-large",
                ],
                &["standard.enormous", "acme.medium"],
            ),
            (
                Oraclecloud,
                &[
                    "VM.Standard.A1.Flex",
                    "VM.Standard.E4.Flex",
                    "VM.Standard2.1",
                    "VM.Standard.E2.1.Micro",
                    "BM.GPU.H100.8",
                    "BM.GPU.A100-v2.8",
                    "VM.GPU.A10.1",
                    "BM.Standard.E5.192",
                    "VM.Standard.AMD.Generic",
                ],
                &[
                    "VM.Acme.Flex",
                    "vm.standard.a1.flex",
                    "ocid1.instance.oc1.iad.abc",
                ],
            ),
            (
                Packet,
                &[
                    "c3.small.x86",
                    "m3.large.x86",
                    "c3.large.arm64",
                    "baremetal_1e",
                ],
                &["c3.small", "custom-plan"],
            ),
            (
                Scaleway,
                &[
                    "DEV1-S",
                    "GP1-M",
                    "PLAY2-NANO",
                    "PRO2-XS",
                    "ENT1-2XL",
                    "POP2-2C-8G",
                    "POP2-HM-2C-16G",
                    "POP2-HN-10",
                    "COPARM1-2C-8G",
                    "GPU-3070-S",
                    "L4-1-24G",
                    "H100-SXM-2-80G",
                    "C2S",
                    "VC1M",
                    "X64-15GB",
                    "ARM64-4GB",
                ],
                &["dev1-s", "ACME-S", "scw-node"],
            ),
            (
                Openstack,
                &["m1.tiny", "m1.small", "m1.medium", "m1.large", "m1.xlarge"],
                &["m1.nano", "ds512M", "acme.gpu.large", "web-flavor-42"],
            ),
            (
                Kubevirt,
                &[
                    "u1.medium",
                    "u1.2xmedium",
                    "cx1.8xlarge1gi",
                    "m1.large1gi",
                    "rt1.micro",
                    "d1.nano",
                    "o1.small",
                    "n1.xlarge",
                ],
                &["u1.huge", "m1.medium", "acme.large", "some_type"],
            ),
        ];
        for (platform, good, bad) in cases {
            for g in *good {
                assert_eq!(
                    crate::InstanceType::on_platform(*platform, g)
                        .as_ref()
                        .map(|t| t.as_str()),
                    Some(*g),
                    "{platform} {g}"
                );
            }
            for b in *bad {
                assert_eq!(
                    crate::InstanceType::on_platform(*platform, b).map(|t| t.is_other()),
                    Some(true),
                    "{platform} {b}"
                );
            }
        }
        // Every value on CloudStack is an operator's offering; platforms without instance
        // types have no rule at all.
        assert!(
            crate::InstanceType::on_platform(Cloudstack, "Medium Instance")
                .unwrap()
                .is_other()
        );
        assert!(
            crate::InstanceType::on_platform(Cloudstack, "m1.small")
                .unwrap()
                .is_other()
        );
        assert_eq!(crate::InstanceType::on_platform(Metal, "m5.large"), None);
        assert_eq!(crate::InstanceType::on_platform(Unknown, "m5.large"), None);
    }

    #[test]
    fn gcp_prefix_is_taken_off_only_when_it_is_gcp_s() {
        assert_eq!(
            strip_gcp_prefix("projects/408213637716/machineTypes/n2-standard-4"),
            "n2-standard-4"
        );
        for kept in [
            "projects/my-project/machineTypes/n2-standard-4",
            "projects//machineTypes/n2",
            "n2-standard-4",
            "zones/x/machineTypes/n2",
        ] {
            assert_eq!(strip_gcp_prefix(kept), kept);
        }
    }

    #[test]
    fn vendor_names_are_checked() {
        assert!(Rules::with_os_names(&["acme", "acme-edge", "fedora"]).is_ok());
        let r = Rules::with_os_names(&["acme", "fedora", "acme"]).unwrap();
        assert_eq!(r.extra_os_names(), ["acme"]);
        assert!(r.is_known_os_name("acme") && r.is_known_os_name("coreos"));
        // A variant name is no ID: as an ID it is other, and its version is left out.
        assert!(r.is_known_os_id("acme") && !r.is_known_os_id("iot"));
        let os = r.os(Some("iot"), Some("iot"), Some("43"), None);
        assert!(os.id.as_ref().is_some_and(|i| i.is_other()));
        assert_eq!(os.variant_id.as_ref().map(|v| v.as_str()), Some("iot"));
        assert_eq!(os.version_id, None);
        let mut report: crate::Report = serde_json::from_str(
            r#"{"schema":1,"window":"daily","period":"2026-11-23","level":"minimal","os":{"id":"silverblue","version_id":"43"}}"#,
        )
        .unwrap();
        r.conform(&mut report);
        let os = report.os.unwrap();
        assert!(os.id.is_some_and(|i| i.is_other()) && os.version_id.is_none());
        let errors = Rules::with_os_names(&[
            "Acme",
            "other",
            "acme host",
            "web1.example.com",
            "4f3c9a1e0b2d4c8e9f7a6b5c4d3e2f10",
            "",
        ])
        .unwrap_err();
        assert_eq!(errors.len(), 6, "{errors:?}");
    }

    #[test]
    fn known_lists_fit_their_own_shapes() {
        for n in known_os_names() {
            assert!(fits(&OS_NAME_SHAPE, n, false), "{n}");
        }
        for v in KNOWN_VENDORS {
            assert!(crate::VendorName::new(v).is_some(), "{v}");
        }
        // Each name once in its list; an ID with its NAME for every version (its first row
        // has no VERSION_ID), later rows in rising order.
        let mut ids: Vec<&str> = KNOWN_OS_IDS.iter().map(|o| o.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), KNOWN_OS_IDS.len());
        let mut variants = KNOWN_VARIANT_IDS.to_vec();
        variants.sort_unstable();
        variants.dedup();
        assert_eq!(variants.len(), KNOWN_VARIANT_IDS.len());
        for o in KNOWN_OS_IDS {
            assert!(matches!(o.names.first(), Some((None, _))), "{}", o.id);
            assert!(
                o.names[1..].iter().all(|(from, _)| from.is_some()),
                "{}",
                o.id
            );
            assert!(o.names.iter().all(|(_, name)| !name.is_empty()), "{}", o.id);
        }
        let all: Vec<&str> = known_os_names().collect();
        let mut unique = all.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), all.len(), "a name twice in the schema's enum");
        // ELN is Fedora with VARIANT_ID=eln; coreos is both Container Linux's ID and a variant.
        assert!(KNOWN_VARIANT_IDS.contains(&"eln") && !ids.contains(&"eln"));
        assert!(all.contains(&"coreos") && all.contains(&"amzn"));
    }
}
