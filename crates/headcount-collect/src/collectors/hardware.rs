//! A coarse hardware summary: CPU vendor and count, memory, firmware, disks, and the system
//! vendor on bare metal.

use headcount_report::{
    Arch, CountBucket, CpuBucket, CpuVendor, DiskSizeBucket, Disks, Firmware, Hardware,
    MemoryBucket, PlatformId, Report, VendorName,
};

use crate::collectors::{arch, cpuinfo};
use crate::{Context, Field, Kind, Root, one_of};

pub(crate) const FIELDS: &[Field] = &[
    Field {
        name: "hardware.cpu_vendor",
        kind: one_of!(CpuVendor),
        bucketing: "vendor only, never the model",
        description: "CPU vendor from proc/cpuinfo (vendor_id, or the CPU implementer code on ARM).",
    },
    Field {
        name: "hardware.cpus",
        kind: Kind::Text("string (bucket label)"),
        bucketing: "rounded up to a power of two: 1, 2, 3-4, 5-8, ... 257-512, 513+",
        description: "Logical CPUs online (sys/devices/system/cpu/online, else proc/cpuinfo).",
    },
    Field {
        name: "hardware.memory_gib",
        kind: Kind::Text("string (bucket label, GiB)"),
        bucketing: "rounded up to a power of two GiB: 0-0.5, 0.5-1, 1-2, ... 1024-2048, 2048+",
        description: "Memory from proc/meminfo MemTotal.",
    },
    Field {
        name: "hardware.firmware",
        kind: one_of!(Firmware),
        bucketing: "",
        description: "Firmware interface: uefi when sys/firmware/efi exists, else bios on x86 (the architecture as the arch field reads it) with SMBIOS tables in sys/firmware/dmi.",
    },
    Field {
        name: "hardware.secure_boot",
        kind: Kind::Text("boolean"),
        bucketing: "",
        description: "Whether UEFI Secure Boot is on (the SecureBoot EFI variable); false under BIOS.",
    },
    Field {
        name: "hardware.disks.nvme",
        kind: Kind::Text("string (bucket label)"),
        bucketing: "count: 0, 1, 2-4, 5-8, ... 65-128, 129+",
        description: "Physical NVMe disks in sys/block.",
    },
    Field {
        name: "hardware.disks.ssd",
        kind: Kind::Text("string (bucket label)"),
        bucketing: "count: 0, 1, 2-4, 5-8, ... 65-128, 129+",
        description: "Non-rotational disks other than NVMe.",
    },
    Field {
        name: "hardware.disks.hdd",
        kind: Kind::Text("string (bucket label)"),
        bucketing: "count: 0, 1, 2-4, 5-8, ... 65-128, 129+",
        description: "Rotational disks.",
    },
    Field {
        name: "hardware.disks.virtual",
        kind: Kind::Text("string (bucket label)"),
        bucketing: "count: 0, 1, 2-4, 5-8, ... 65-128, 129+",
        description: "Disks a hypervisor or cloud provides: virtio and Xen disks (vd*, xvd*), and disks whose sys/block/*/device vendor and model name one (QEMU, VMware, Hyper-V, VirtualBox, Amazon EBS, Google Persistent Disk, Nutanix, Oracle Cloud Block Volume).",
    },
    Field {
        name: "hardware.disks.total_gib",
        kind: Kind::Text("string (bucket label, GiB)"),
        bucketing: "rounded up to a power of two GiB: 0-8, 8-16, ... 32768-65536, 65536+",
        description: "Total size of the counted disks (loop, RAM, zram, optical, device-mapper, MD RAID and removable devices are left out).",
    },
    Field {
        name: "hardware.system_vendor",
        kind: Kind::Text("string (a known vendor's short name, or other)"),
        bucketing: "bare metal only (when platform.id is metal, so never a hypervisor's name); mapped to a known vendor's short name (Dell, HPE, Lenovo, Supermicro, ...), any other value reported as other; placeholder values left out",
        description: "System vendor from DMI sys_vendor, for example Dell for \"Dell Inc.\". A name outside the known list is never sent as written: on white-box machines the field often holds a site or asset label.",
    },
];

/// Values firmware ships when nobody filled the DMI field in: they say nothing.
pub(crate) const DMI_PLACEHOLDERS: &[&str] = &[
    "To be filled by O.E.M.",
    "To Be Filled By O.E.M.",
    "System manufacturer",
    "System Manufacturer",
    "Default string",
    "Not Applicable",
    "Not Specified",
    "OEM",
    "O.E.M.",
    "Unknown",
];

/// The EFI variable holding the Secure Boot state: 4 bytes of attributes, then 1 when on.
const SECURE_BOOT_VAR: &str =
    "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// Block devices that are not disks.
const NOT_DISKS: &[&str] = &["loop", "ram", "zram", "dm-", "md", "sr", "nbd", "fd", "zd"];

/// Words in a disk's vendor or model that say a hypervisor or cloud provides it.
const VIRTUAL_DISK_MARKERS: &[&str] = &[
    "QEMU",
    "VMware",
    "Virtual",
    "VBOX",
    "Msft",
    "Amazon Elastic Block Store",
    "PersistentDisk",
    "nvme_card-pd",
    "Google",
    "Nutanix",
    "NUTANIX",
    "ORACLE BlockVolume",
];

const SECTOR_BYTES: u64 = 512;
const GIB_BYTES: u64 = 1 << 30;

/// Reads /proc/cpuinfo, /proc/meminfo, /sys/firmware, /sys/block and DMI.
pub(crate) fn collect(ctx: &Context, report: &mut Report) {
    let root = &ctx.root;
    let cpuinfo = root.read_prefix("proc/cpuinfo");
    let firmware = firmware(root);
    let hw = Hardware {
        cpu_vendor: cpuinfo.as_ref().and_then(|(t, _)| cpu_vendor(t)),
        cpus: cpu_count(root, cpuinfo.as_ref()).map(CpuBucket::of),
        memory_gib: mem_total_kib(root).map(MemoryBucket::of),
        firmware,
        secure_boot: match firmware {
            Some(Firmware::Bios) => Some(false),
            Some(Firmware::Uefi) => root
                .read_bytes(SECURE_BOOT_VAR)
                .and_then(|b| b.get(4).copied())
                .map(|v| v == 1),
            None => None,
        },
        disks: disks(root),
        system_vendor: (ctx.platform().id == PlatformId::Metal)
            .then(|| system_vendor(root))
            .flatten(),
    };
    if !hw.is_empty() {
        report.hardware = Some(hw);
    }
}

fn cpu_vendor(text: &str) -> Option<CpuVendor> {
    if let Some(v) = cpuinfo::value(text, "vendor_id") {
        return Some(match v {
            "GenuineIntel" => CpuVendor::Intel,
            "AuthenticAMD" => CpuVendor::Amd,
            "HygonGenuine" => CpuVendor::Hygon,
            "CentaurHauls" | "Shanghai" => CpuVendor::Zhaoxin,
            v if v.starts_with("IBM") => CpuVendor::Ibm,
            _ => CpuVendor::Other,
        });
    }
    if let Some(code) = cpuinfo::value(text, "CPU implementer") {
        let code = u32::from_str_radix(code.trim_start_matches("0x"), 16).ok()?;
        return Some(match code {
            0x41 => CpuVendor::Arm,
            0x43 => CpuVendor::Cavium,
            0x46 => CpuVendor::Fujitsu,
            0x48 => CpuVendor::Hisilicon,
            0x4e => CpuVendor::Nvidia,
            0x50 | 0xc0 => CpuVendor::Ampere,
            0x51 => CpuVendor::Qualcomm,
            0x61 => CpuVendor::Apple,
            _ => CpuVendor::Other,
        });
    }
    // POWER: `cpu : POWER9 (architected), altivec supported`.
    cpuinfo::value(text, "cpu")
        .filter(|c| c.starts_with("POWER"))
        .map(|_| CpuVendor::Ibm)
}

/// Counts a CPU list such as `0-3,8,10-11`.
fn count_cpu_list(list: &str) -> Option<u64> {
    let mut n = 0u64;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
                b.checked_sub(a)? + 1
            }
            None => {
                part.parse::<u64>().ok()?;
                1
            }
        };
    }
    (n > 0).then_some(n)
}

fn cpu_count(root: &Root, cpuinfo: Option<&(String, bool)>) -> Option<u64> {
    if let Some(n) = root
        .read_value("sys/devices/system/cpu/online")
        .and_then(|l| count_cpu_list(&l))
    {
        return Some(n);
    }
    // A truncated cpuinfo would undercount: use it only when read whole.
    let (text, complete) = cpuinfo?;
    let n = text
        .lines()
        .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
        .count() as u64;
    (*complete && n > 0).then_some(n)
}

fn mem_total_kib(root: &Root) -> Option<u64> {
    let meminfo = root.read("proc/meminfo")?;
    let value = cpuinfo::value(&meminfo, "MemTotal")?;
    value.trim_end_matches("kB").trim().parse().ok()
}

fn firmware(root: &Root) -> Option<Firmware> {
    if root.is_dir("sys/firmware/efi") {
        return Some(Firmware::Uefi);
    }
    // Only x86 has a BIOS, and a BIOS leaves SMBIOS tables; an x86 VM booted straight into
    // its kernel (Firecracker) has neither EFI nor DMI, and its firmware stays unknown.
    let arch = arch::detect_arch(root)?;
    (matches!(arch, Arch::X86_64 | Arch::I686) && root.is_dir("sys/firmware/dmi"))
        .then_some(Firmware::Bios)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DiskKind {
    Nvme,
    Ssd,
    Hdd,
    Virtual,
}

fn disk_kind(root: &Root, name: &str) -> DiskKind {
    if name.starts_with("vd") || name.starts_with("xvd") {
        return DiskKind::Virtual;
    }
    let dev = format!("sys/block/{name}/device");
    let label: String = ["vendor", "model"]
        .iter()
        .filter_map(|f| root.read_value(&format!("{dev}/{f}")))
        .collect::<Vec<_>>()
        .join(" ");
    if VIRTUAL_DISK_MARKERS.iter().any(|m| label.contains(m)) {
        return DiskKind::Virtual;
    }
    if name.starts_with("nvme") {
        return DiskKind::Nvme;
    }
    match root
        .read_value(&format!("sys/block/{name}/queue/rotational"))
        .as_deref()
    {
        Some("1") => DiskKind::Hdd,
        _ => DiskKind::Ssd,
    }
}

fn disks(root: &Root) -> Option<Disks> {
    if !root.is_dir("sys/block") {
        return None;
    }
    let mut counts = [0u64; 4];
    let mut total_bytes = 0u64;
    for name in root.read_dir("sys/block") {
        if NOT_DISKS.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        if root
            .read_value(&format!("sys/block/{name}/removable"))
            .as_deref()
            == Some("1")
        {
            continue;
        }
        let sectors: u64 = root
            .read_value(&format!("sys/block/{name}/size"))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if sectors == 0 {
            continue;
        }
        let kind = disk_kind(root, &name);
        counts[kind as usize] += 1;
        total_bytes = total_bytes.saturating_add(sectors.saturating_mul(SECTOR_BYTES));
    }
    Some(Disks {
        nvme: CountBucket::of(counts[DiskKind::Nvme as usize]),
        ssd: CountBucket::of(counts[DiskKind::Ssd as usize]),
        hdd: CountBucket::of(counts[DiskKind::Hdd as usize]),
        r#virtual: CountBucket::of(counts[DiskKind::Virtual as usize]),
        total_gib: DiskSizeBucket::of(total_bytes.div_ceil(GIB_BYTES)),
    })
}

fn system_vendor(root: &Root) -> Option<VendorName> {
    let vendor = root.read_value("sys/class/dmi/id/sys_vendor")?;
    if is_placeholder(&vendor) {
        return None;
    }
    // Always a short name of the contract's list or other: never the string as DMI has it.
    Some(VendorName::or_other(known_vendor(&vendor)))
}

/// Whether a DMI string is one firmware ships unfilled.
pub(crate) fn is_placeholder(value: &str) -> bool {
    DMI_PLACEHOLDERS.contains(&value)
}

/// What [`known_vendor`] says of a name outside the list.
pub(crate) const OTHER_VENDOR: &str = "other";

/// Server and PC makers, by a word their DMI vendor string contains (lower case), and the short
/// name reported. Anything else could be a site's own label, so it is reported as "other".
const KNOWN_VENDORS: &[(&str, &str)] = &[
    ("dell", "Dell"),
    ("hewlett packard enterprise", "HPE"),
    ("hpe", "HPE"),
    ("hewlett-packard", "HP"),
    ("hp", "HP"),
    ("lenovo", "Lenovo"),
    ("supermicro", "Supermicro"),
    ("super micro", "Supermicro"),
    ("cisco", "Cisco"),
    ("fujitsu", "Fujitsu"),
    ("huawei", "Huawei"),
    ("xfusion", "xFusion"),
    ("inspur", "Inspur"),
    ("quanta", "Quanta"),
    ("wiwynn", "Wiwynn"),
    ("gigabyte", "Gigabyte"),
    ("asustek", "ASUS"),
    ("asus", "ASUS"),
    ("asrock", "ASRock"),
    ("micro-star", "MSI"),
    ("intel", "Intel"),
    ("apple", "Apple"),
    ("microsoft", "Microsoft"),
    ("acer", "Acer"),
    ("ampere", "Ampere"),
    ("oracle", "Oracle"),
    ("ibm", "IBM"),
    ("nvidia", "NVIDIA"),
    ("framework", "Framework"),
    ("raspberry pi", "Raspberry Pi"),
    // U-Boot fills DMI from the device tree's compatible string on boards like the Pi.
    ("raspberrypi", "Raspberry Pi"),
];

/// The short name of a known vendor, or "other".
pub(crate) fn known_vendor(dmi: &str) -> &'static str {
    let lower = dmi.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty())
        .collect();
    let joined = words.join(" ");
    KNOWN_VENDORS
        .iter()
        .find(|(key, _)| {
            // A multi-word key matches as a phrase; a single word must be a whole word, so "hp"
            // does not match inside an unrelated label.
            if key.contains(' ') {
                joined.contains(key)
            } else {
                words.contains(key)
            }
        })
        .map_or(OTHER_VENDOR, |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendors_are_mapped_to_a_closed_list() {
        for (dmi, want) in [
            ("Dell Inc.", "Dell"),
            ("HPE", "HPE"),
            ("Hewlett Packard Enterprise", "HPE"),
            ("Hewlett-Packard", "HP"),
            ("HP", "HP"),
            ("LENOVO", "Lenovo"),
            ("Supermicro", "Supermicro"),
            ("Super Micro Computer, Inc.", "Supermicro"),
            ("GIGABYTE", "Gigabyte"),
            ("ASUSTeK COMPUTER INC.", "ASUS"),
            ("Micro-Star International Co., Ltd.", "MSI"),
            ("ACME-RACK-17", "other"),
            ("Shop of John Smith", "other"),
            ("CHPX Systems", "other"),
        ] {
            assert_eq!(known_vendor(dmi), want, "{dmi}");
        }
    }

    /// Every short name the mapping gives is one the contract reports by name: a receiver
    /// would otherwise count it as other.
    #[test]
    fn short_names_are_the_contracts() {
        for (_, short) in KNOWN_VENDORS {
            let v = VendorName::or_other(short);
            assert_eq!(
                v.as_str(),
                *short,
                "{short} is not in the contract's vendor list"
            );
        }
    }

    #[test]
    fn cpu_lists_count() {
        assert_eq!(count_cpu_list("0-3\n"), Some(4));
        assert_eq!(count_cpu_list("0-3,8,10-11"), Some(7));
        assert_eq!(count_cpu_list("0"), Some(1));
        assert_eq!(count_cpu_list("3-1"), None);
        assert_eq!(count_cpu_list("x"), None);
        assert_eq!(count_cpu_list(""), None);
    }

    #[test]
    fn arm_implementers_name_vendors() {
        assert_eq!(
            cpu_vendor("processor\t: 0\nCPU implementer\t: 0x41\n"),
            Some(CpuVendor::Arm)
        );
        assert_eq!(
            cpu_vendor("CPU implementer\t: 0xc0\n"),
            Some(CpuVendor::Ampere)
        );
        assert_eq!(
            cpu_vendor("vendor_id\t: GenuineIntel\n"),
            Some(CpuVendor::Intel)
        );
        assert_eq!(
            cpu_vendor("cpu\t\t: POWER10 (architected)\n"),
            Some(CpuVendor::Ibm)
        );
        assert_eq!(cpu_vendor("nothing"), None);
    }
}
