//! CPU architecture as the kernel names it (what `uname -m` prints), always read under the root:
//! `uname(2)` describes the kernel this process runs on, not the root being read.

use headcount_report::{Arch, Report};

use crate::collectors::cpuinfo;
use crate::{Context, Field, Root, one_of};

pub(crate) const FIELDS: &[Field] = &[Field {
    name: "arch",
    kind: one_of!(Arch),
    bucketing: "",
    description: "CPU architecture as the kernel names it (uname -m), tried in this order: proc/sys/kernel/arch (Linux 6.1 and later); the architecture suffix of proc/sys/kernel/osrelease (RPM-built kernels, for example 5.14.0-427.68.1.el9_4.x86_64); proc/cpuinfo (x86: x86_64 with the lm flag, else i686; 64-bit ARM kernels: CPU architecture 8; 32-bit ARM kernels: CPU architecture 7; IBM/S390 vendor: s390x; POWER: ppc64le when sys/kernel/cpu_byteorder is little; RISC-V: isa rv64; LoongArch: Loongson-64bit CPU family).",
}];

/// Reads `proc/sys/kernel/arch`, else the suffix of `proc/sys/kernel/osrelease`, else
/// `proc/cpuinfo`.
pub(crate) fn collect(ctx: &Context, report: &mut Report) {
    report.arch = detect_arch(&ctx.root);
    if report.arch.is_none() {
        tracing::debug!("no architecture readable under the root");
    }
}

/// The architecture of the kernel under `root`, from the first source that names one.
pub fn detect_arch(root: &Root) -> Option<Arch> {
    if let Some(value) = root.read_value("proc/sys/kernel/arch") {
        match value.parse::<Arch>() {
            Ok(arch) => return Some(arch),
            // A known file with an unknown value: the kernel said it, nothing else can overrule.
            Err(e) => {
                tracing::debug!(error = %e, "architecture not in the report's set");
                return None;
            }
        }
    }
    if let Some(arch) = root
        .read_value("proc/sys/kernel/osrelease")
        .and_then(|r| from_osrelease(&r))
    {
        return Some(arch);
    }
    let (text, _) = root.read_prefix("proc/cpuinfo")?;
    from_cpuinfo(&text, || root.read_value("sys/kernel/cpu_byteorder"))
}

/// The architecture suffix RPM-built kernels carry (`5.14.0-427.68.1.el9_4.x86_64`, also with a
/// variant such as `+rt` or `+64k` after it). Kernels named otherwise (`6.1.0-27-amd64`,
/// `5.15.0-105-generic`) name no architecture this way.
fn from_osrelease(release: &str) -> Option<Arch> {
    let release = release.split('+').next()?;
    let (_, suffix) = release.rsplit_once('.')?;
    match suffix {
        // RPM's 32-bit ARM hard-float arch; the kernel itself says armv7l.
        "armv7hl" => Some(Arch::Armv7l),
        other => other.parse().ok(),
    }
}

/// The architecture `proc/cpuinfo` shows, by the lines each architecture's kernel prints.
fn from_cpuinfo(text: &str, byteorder: impl FnOnce() -> Option<String>) -> Option<Arch> {
    if cpuinfo::value(text, "flags").is_some() && cpuinfo::value(text, "vendor_id").is_some() {
        // x86: the lm (long mode) flag is a 64-bit CPU, which is what every x86 kernel still
        // built runs on.
        return Some(if cpuinfo::has_flag(text, "lm") {
            Arch::X86_64
        } else {
            Arch::I686
        });
    }
    match cpuinfo::value(text, "CPU architecture") {
        // arm64 kernels print a fixed 8; 32-bit ARM kernels print 7 even on ARMv8 cores.
        Some("8") => return Some(Arch::Aarch64),
        Some("7") => return Some(Arch::Armv7l),
        _ => {}
    }
    if cpuinfo::value(text, "vendor_id") == Some("IBM/S390") {
        return Some(Arch::S390x);
    }
    if cpuinfo::value(text, "cpu").is_some_and(|c| c.starts_with("POWER")) {
        // POWER runs either byte order; only little-endian 64-bit is in the report's set.
        return (byteorder().as_deref() == Some("little")).then_some(Arch::Ppc64le);
    }
    if cpuinfo::value(text, "isa").is_some_and(|isa| isa.starts_with("rv64")) {
        return Some(Arch::Riscv64);
    }
    if cpuinfo::value(text, "CPU Family") == Some("Loongson-64bit") {
        return Some(Arch::Loongarch64);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_kernel_releases_carry_the_arch() {
        for (release, want) in [
            ("5.14.0-427.68.1.el9_4.x86_64", Some(Arch::X86_64)),
            ("5.14.0-284.73.1.el9_2.aarch64+64k", Some(Arch::Aarch64)),
            ("5.14.0-427.13.1.el9_4.x86_64+rt", Some(Arch::X86_64)),
            ("4.18.0-553.el8_10.ppc64le", Some(Arch::Ppc64le)),
            ("4.18.0-553.el8_10.s390x", Some(Arch::S390x)),
            ("6.17.7-300.fc43.riscv64", Some(Arch::Riscv64)),
            ("5.17.5-300.fc36.armv7hl", Some(Arch::Armv7l)),
            ("6.1.0-27-amd64", None),
            ("5.15.0-105-generic", None),
            ("6.4.0-150600.23.25-default", None),
            ("5.14.0.x86_65", None),
            ("", None),
        ] {
            assert_eq!(from_osrelease(release), want, "{release}");
        }
    }

    #[test]
    fn cpuinfo_names_the_arch() {
        let none = || None;
        let x86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme lm hypervisor\n";
        assert_eq!(from_cpuinfo(x86, none), Some(Arch::X86_64));
        let i686 = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme pae\n";
        assert_eq!(from_cpuinfo(i686, none), Some(Arch::I686));
        let arm64 = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\nCPU architecture: 8\n";
        assert_eq!(from_cpuinfo(arm64, none), Some(Arch::Aarch64));
        let arm =
            "processor\t: 0\nmodel name\t: ARMv7 Processor rev 3 (v7l)\nCPU architecture: 7\n";
        assert_eq!(from_cpuinfo(arm, none), Some(Arch::Armv7l));
        let s390 = "vendor_id       : IBM/S390\n# processors    : 2\n";
        assert_eq!(from_cpuinfo(s390, none), Some(Arch::S390x));
        let power = "processor\t: 0\ncpu\t\t: POWER9 (architected), altivec supported\n";
        assert_eq!(
            from_cpuinfo(power, || Some("little".into())),
            Some(Arch::Ppc64le)
        );
        assert_eq!(from_cpuinfo(power, || Some("big".into())), None);
        assert_eq!(from_cpuinfo(power, none), None);
        let riscv = "processor\t: 0\nhart\t\t: 0\nisa\t\t: rv64imafdc_zicntr\n";
        assert_eq!(from_cpuinfo(riscv, none), Some(Arch::Riscv64));
        let loong = "system type\t\t: generic-loongson-machine\n\nprocessor\t\t: 0\nCPU Family\t\t: Loongson-64bit\n";
        assert_eq!(from_cpuinfo(loong, none), Some(Arch::Loongarch64));
        assert_eq!(from_cpuinfo("garbage\n\0\0", none), None);
    }
}
