//! The spellings of Fedora's countme totals that reports do not carry.
//!
//! - `os_name` is os-release `NAME` in DNF's User-Agent. Reports never send `NAME` (free text a
//!   derived image can fill with anything, a site's own label included), so the receiver derives
//!   it from `os.id` and `os.version_id` through [`builtin`], which `[countme] os_names` extends.
//! - `os_arch` is rpm's base architecture for DNF ([`basearch`]), which `[countme] os_arch` can
//!   respell (rpm-ostree writes Rust's architecture names); `repo_arch` is always the base
//!   architecture, as `arch=$basearch` in the repository's metalink URL.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use headcount_report::Arch;
use headcount_report::rules::KNOWN_OS_IDS;

/// One row of the os_name table: `name` for `id`, from `from_version` on (every version when
/// `None`). For an ID, the row with the highest `from_version` the version reaches applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRule {
    /// os-release `ID`.
    pub id: String,
    /// The first `VERSION_ID` the name applies to.
    pub from_version: Option<String>,
    /// os-release `NAME` of those versions.
    pub name: String,
}

/// The built-in table: `(ID, from VERSION_ID, NAME)` for every known os-release ID of the
/// contract ([`KNOWN_OS_IDS`]), which holds the NAME each distribution's os-release has (sources
/// in docs/usage/countme.md); Fedora renamed itself "Fedora Linux" in Fedora 35. Derived, so an
/// ID reports may carry always has its name here, and no row names an ID reports cannot carry.
pub fn builtin() -> impl Iterator<Item = (&'static str, Option<&'static str>, &'static str)> {
    KNOWN_OS_IDS
        .iter()
        .flat_map(|o| o.names.iter().map(move |(from, name)| (o.id, *from, *name)))
}

/// The os_name table in use: the built-in one, where the config's rows replace every built-in
/// row of the IDs they name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    rules: Vec<NameRule>,
}

impl Default for Names {
    fn default() -> Self {
        Names::with(&[])
    }
}

impl Names {
    /// The built-in table with `configured` rows on top.
    pub fn with(configured: &[NameRule]) -> Names {
        let mut rules: Vec<NameRule> = builtin()
            .filter(|(id, _, _)| !configured.iter().any(|r| r.id == *id))
            .map(|(id, from, name)| NameRule {
                id: id.to_owned(),
                from_version: from.map(str::to_owned),
                name: name.to_owned(),
            })
            .collect();
        rules.extend(configured.iter().cloned());
        Names { rules }
    }

    /// The os_name of `id` at `version`: the applicable row's name, else the ID itself (an ID
    /// the table does not know never takes another distribution's name).
    pub fn os_name(&self, id: &str, version: &str) -> String {
        self.rules
            .iter()
            .filter(|r| r.id == id)
            .filter(|r| {
                r.from_version.as_deref().is_none_or(|from| {
                    matches!(
                        compare_versions(version, from),
                        Some(Ordering::Greater | Ordering::Equal)
                    )
                })
            })
            .max_by(|a, b| match (&a.from_version, &b.from_version) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => compare_versions(x, y).unwrap_or(Ordering::Equal),
            })
            .map_or_else(|| id.to_owned(), |r| r.name.clone())
    }
}

/// Compares two `VERSION_ID`s by their dot-separated parts, numerically where both parts are
/// digits (`9.10` after `9.6`), as text otherwise; a missing part comes first (`35` before
/// `35.1`). `None` when either does not start with a digit (`rawhide`, `tumbleweed`): such a
/// version reaches no `from_version`.
pub fn compare_versions(a: &str, b: &str) -> Option<Ordering> {
    let starts_numeric = |s: &str| s.bytes().next().is_some_and(|c| c.is_ascii_digit());
    if !starts_numeric(a) || !starts_numeric(b) {
        return None;
    }
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Some(Ordering::Equal),
            (None, Some(_)) => return Some(Ordering::Less),
            (Some(_), None) => return Some(Ordering::Greater),
            (Some(x), Some(y)) => {
                let order = if numeric(x) && numeric(y) {
                    let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
                } else {
                    x.cmp(y)
                };
                if order != Ordering::Equal {
                    return Some(order);
                }
            }
        }
    }
}

/// rpm's base architecture, as DNF names it in its User-Agent and `$basearch` (dnf5
/// `libdnf5/rpm/arch_private.hpp`, `ARCH_MAP`). Fedora's 32-bit ARM is hard-float: its machines
/// count as `armhfp`.
pub fn basearch(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "x86_64",
        Arch::Aarch64 => "aarch64",
        Arch::Ppc64le => "ppc64le",
        Arch::S390x => "s390x",
        Arch::Riscv64 => "riscv64",
        Arch::Loongarch64 => "loongarch64",
        Arch::Armv7l => "armhfp",
        Arch::I686 => "i386",
    }
}

/// The `os_arch` spelling in use: [`basearch`], unless `[countme] os_arch` respells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchNames {
    respelled: BTreeMap<Arch, String>,
}

impl ArchNames {
    /// `basearch` with `respelled` on top.
    pub fn with(respelled: BTreeMap<Arch, String>) -> ArchNames {
        ArchNames { respelled }
    }

    /// The `os_arch` of `arch`.
    pub fn os_arch(&self, arch: Arch) -> String {
        self.respelled
            .get(&arch)
            .cloned()
            .unwrap_or_else(|| basearch(arch).to_owned())
    }
}

/// Whether `name` may stand in `os_name`: 1 to 64 characters, no control character, no leading
/// or trailing blank (any of them would not survive DNF's User-Agent and mirrors-countme's
/// parsing either).
pub fn is_valid_os_name(name: &str) -> bool {
    let n = name.chars().count();
    (1..=64).contains(&n) && !name.chars().any(char::is_control) && name.trim() == name
}

/// Whether `spelling` may stand in `os_arch`: 1 to 32 of `a-z 0-9 _` (mirrors-countme reads the
/// architecture as `\w+`).
pub fn is_valid_arch_spelling(spelling: &str) -> bool {
    (1..=32).contains(&spelling.len())
        && spelling
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fedora_is_fedora_linux_from_35() {
        let n = Names::default();
        for (version, name) in [
            ("32", "Fedora"),
            ("34", "Fedora"),
            ("35", "Fedora Linux"),
            ("43", "Fedora Linux"),
            ("100", "Fedora Linux"),
            ("rawhide", "Fedora"),
        ] {
            assert_eq!(n.os_name("fedora", version), name, "{version}");
        }
        assert_eq!(n.os_name("centos", "7"), "CentOS Linux");
        assert_eq!(n.os_name("centos", "9"), "CentOS Stream");
        assert_eq!(n.os_name("rhel", "9.6"), "Red Hat Enterprise Linux");
        // An ID the table does not know stands for itself.
        assert_eq!(n.os_name("myos", "1"), "myos");
    }

    /// The os_name table and the contract's known IDs are one list: every ID a report may carry
    /// as itself has a name for every version (a row without `from_version`), each valid, and
    /// the table names no ID a report cannot carry (it would be `other` before it got here).
    #[test]
    fn every_known_os_id_has_a_name_and_no_other_id_has_one() {
        use headcount_report::Rules;
        let rules = Rules::new();
        let n = Names::default();
        for known in KNOWN_OS_IDS {
            assert!(rules.is_known_os_name(known.id), "{}", known.id);
            assert!(
                matches!(known.names.first(), Some((None, _))),
                "{}: the first row must apply to every version",
                known.id
            );
            for (i, (from, name)) in known.names.iter().enumerate() {
                assert!(is_valid_os_name(name), "{}: {name:?}", known.id);
                if let Some(from) = from {
                    assert!(i > 0, "{}", known.id);
                    assert_eq!(n.os_name(known.id, from), *name, "{}", known.id);
                }
            }
            // A version no row starts at: never the ID itself, which stands for unknown IDs.
            assert_ne!(n.os_name(known.id, "1"), known.id);
            assert_ne!(n.os_name(known.id, "rawhide"), known.id);
        }
        for (id, _, _) in builtin() {
            assert!(
                KNOWN_OS_IDS.iter().any(|o| o.id == id),
                "{id} is in the os_name table but not a known ID"
            );
        }
        // A variant that is not also an ID has no row: os_name comes from os.id alone.
        assert_eq!(n.os_name("silverblue", "43"), "silverblue");
    }

    #[test]
    fn configured_rows_replace_the_built_in_ones_of_their_id() {
        let rule = |id: &str, from: Option<&str>, name: &str| NameRule {
            id: id.into(),
            from_version: from.map(Into::into),
            name: name.into(),
        };
        let n = Names::with(&[
            rule("myos", None, "My OS"),
            rule("myos", Some("5.2"), "My OS Linux"),
            rule("fedora", None, "Fedora Remix"),
        ]);
        assert_eq!(n.os_name("myos", "5.1"), "My OS");
        assert_eq!(n.os_name("myos", "5.10"), "My OS Linux");
        assert_eq!(n.os_name("fedora", "43"), "Fedora Remix");
        assert_eq!(n.os_name("rocky", "9.5"), "Rocky Linux");
        // A version below every from_version and no row without one: the ID.
        let n = Names::with(&[rule("late", Some("10"), "Late OS")]);
        assert_eq!(n.os_name("late", "9"), "late");
    }

    #[test]
    fn versions_compare_by_numeric_parts() {
        use Ordering::*;
        for (a, b, order) in [
            ("9.10", "9.6", Some(Greater)),
            ("35", "35", Some(Equal)),
            ("035", "35", Some(Equal)),
            ("35", "35.1", Some(Less)),
            ("10", "9", Some(Greater)),
            ("4.16", "4.9", Some(Greater)),
            ("22.04", "22.10", Some(Less)),
            ("rawhide", "35", None),
            ("", "1", None),
            ("99999999999999999999999", "1", Some(Greater)),
        ] {
            assert_eq!(compare_versions(a, b), order, "{a} {b}");
        }
    }

    #[test]
    fn architectures_are_spelled_as_dnf_spells_them_unless_respelled() {
        assert_eq!(basearch(Arch::Armv7l), "armhfp");
        assert_eq!(basearch(Arch::I686), "i386");
        for arch in Arch::ALL {
            assert!(is_valid_arch_spelling(basearch(arch)), "{arch}");
        }
        let rpm_ostree = ArchNames::with(BTreeMap::from([(Arch::Ppc64le, "powerpc64".into())]));
        assert_eq!(rpm_ostree.os_arch(Arch::Ppc64le), "powerpc64");
        assert_eq!(rpm_ostree.os_arch(Arch::X86_64), "x86_64");
        assert!(!is_valid_arch_spelling("x86-64") && !is_valid_arch_spelling(""));
        assert!(is_valid_os_name("Fedora Linux") && !is_valid_os_name(" Fedora"));
        assert!(!is_valid_os_name("a\nb") && !is_valid_os_name(&"x".repeat(65)));
    }
}
