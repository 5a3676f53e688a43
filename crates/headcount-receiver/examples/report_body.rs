//! Prints a realistic full-level report for the current daily period, built with the contract's
//! own types (the bytes the daemon would post), for the benchmark's load generator.
//!
//! Usage: `report_body [daily|monthly]`.

use headcount_report::{
    AgeBucket, Arch, CountBucket, CpuBucket, CpuVendor, DiskSizeBucket, Disks, Firmware, Hardware,
    InstanceType, Interfaces, Level, MemoryBucket, Network, OriginalOs, Os, OsBuild, OsName,
    OsVersionId, Packages, Period, Platform, PlatformId, Report, Window,
};

fn main() {
    let window = match std::env::args().nth(1).as_deref() {
        Some("monthly") => Window::Monthly,
        _ => Window::Daily,
    };
    let period = Period::containing(window, chrono::Utc::now());
    let Some(mut r) = Report::new(Level::Full, period) else {
        eprintln!("cannot build a report");
        std::process::exit(1);
    };
    r.os = Some(Os {
        id: OsName::new("fedora"),
        variant_id: OsName::new("coreos"),
        version_id: OsVersionId::new("43"),
        build: OsBuild::new("43.20261102.3.0"),
    });
    r.original_os = OsBuild::new("39.20231101.3.0").map(|build| OriginalOs { build });
    r.platform = Some(Platform {
        id: PlatformId::Aws,
        instance_type: InstanceType::new("m5.large"),
    });
    r.arch = Some(Arch::X86_64);
    r.age_bucket = AgeBucket::new(4);
    r.hardware = Some(Hardware {
        cpu_vendor: Some(CpuVendor::Intel),
        cpus: Some(CpuBucket::of(2)),
        memory_gib: Some(MemoryBucket::of(8 * 1024 * 1024)),
        firmware: Some(Firmware::Uefi),
        secure_boot: Some(false),
        disks: Some(Disks {
            nvme: CountBucket::of(1),
            ssd: CountBucket::of(0),
            hdd: CountBucket::of(0),
            r#virtual: CountBucket::of(0),
            total_gib: DiskSizeBucket::of(100),
        }),
        system_vendor: None,
    });
    r.network = Some(Network {
        interfaces: Some(Interfaces {
            ethernet: CountBucket::of(1),
            wifi: CountBucket::of(0),
            bond: CountBucket::of(0),
            bridge: CountBucket::of(1),
            vlan: CountBucket::of(0),
            team: CountBucket::of(0),
            vxlan: CountBucket::of(0),
            wireguard: CountBucket::of(0),
            tun: CountBucket::of(0),
            other: CountBucket::of(0),
        }),
        ipv4: Some(true),
        ipv6: Some(true),
        default_route: Some(true),
    });
    r.packages = Some(Packages {
        layered: CountBucket::of(0),
    });
    let body = r.to_body();
    if let Err(e) = headcount_report::validate(&body) {
        eprintln!("the example report does not validate: {e}");
        std::process::exit(1);
    }
    print!("{}", String::from_utf8_lossy(&body));
}
