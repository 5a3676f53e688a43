//! The report: what one machine posts once per period of a window.

use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Deserializer, Serialize};

use crate::labels::{
    AgeBucket, Arch, CountBucket, CpuBucket, CpuVendor, DiskSizeBucket, Firmware, MemoryBucket,
    PlatformId, ReportLevel,
};
use crate::text::{InstanceType, OsBuild, OsName, OsVersionId, VendorName};
use crate::{Period, Window};

/// The report format version this crate writes and accepts.
pub const SCHEMA_VERSION: u32 = 1;

/// The largest body a receiver accepts, in bytes; a full report stays far below it.
pub const MAX_REPORT_BYTES: usize = 8192;

/// An optional field is either a value or absent: `null` is not a value on this wire.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The schema of an optional field is its value's: schemars adds `null` to an `Option`, which
/// this wire never carries.
fn no_null(schema: &mut Schema) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let is_null = |v: &serde_json::Value| v.get("type").and_then(|t| t.as_str()) == Some("null");
    if let Some(serde_json::Value::Array(any_of)) = obj.remove("anyOf") {
        for v in any_of.into_iter().filter(|v| !is_null(v)) {
            obj.extend(
                v.as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        }
    }
    for key in ["type", "enum"] {
        if let Some(serde_json::Value::Array(values)) = obj.get_mut(key) {
            values.retain(|v| v != "null" && !v.is_null());
            if key == "type" && values.len() == 1 {
                let only = values.remove(0);
                obj.insert(key.to_owned(), only);
            }
        }
    }
}

/// Wire structs: every `Option` field is absent when `None` and never `null`, on the wire and in
/// the schema.
macro_rules! wire {
    ($($item:item)+) => {
        $(
            #[serde_with::apply(Option => #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")] #[schemars(transform = no_null)])]
            $item
        )+
    };
}

wire! {
/// One machine's report for one period of one window. Facts that could not be read are absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "headcount report")]
pub struct Report {
    /// Report format version; a receiver refuses versions it does not know.
    #[schemars(range(min = 1, max = 1))]
    pub schema: u32,
    /// The reporting window: `daily`, `weekly` (a countme week) or `monthly`.
    pub window: Window,
    /// The UTC period reported: `YYYY-MM-DD` for the daily window, the ISO week `YYYY-Www` for the
    /// weekly one, `YYYY-MM` for the monthly one.
    pub period: Period,
    /// The collection level: `minimal` (default) or `full` (opt-in).
    pub level: ReportLevel,
    /// The running operating system, from os-release.
    pub os: Option<Os>,
    /// The operating system the machine was first installed with, from the aleph file.
    pub original_os: Option<OriginalOs>,
    /// Where the machine runs.
    pub platform: Option<Platform>,
    /// CPU architecture as the kernel names it.
    pub arch: Option<Arch>,
    /// System age bucket as DNF's countme computes it from the install time, in countme weeks:
    /// 1 = under 2 weeks, 2 = 2 to 4, 3 = 5 to 24, 4 = 25 or more (or install time unknown).
    pub age_bucket: Option<AgeBucket>,
    /// Hardware summary (full level).
    pub hardware: Option<Hardware>,
    /// Container runtimes (full level).
    pub containers: Option<Containers>,
    /// Network summary (full level).
    pub network: Option<Network>,
    /// Package layering (full level).
    pub packages: Option<Packages>,
}

/// The running operating system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Os {
    /// os-release `ID`, for example `fedora`.
    pub id: Option<OsName>,
    /// os-release `VARIANT_ID`, for example `coreos`.
    pub variant_id: Option<OsName>,
    /// os-release `VERSION_ID`, for example `43`.
    pub version_id: Option<OsVersionId>,
    /// OS build version: os-release `OSTREE_VERSION`, for example `43.20261102.3.0`.
    pub build: Option<OsBuild>,
}

/// The operating system the machine was installed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OriginalOs {
    /// Build version of the image first installed, for example `39.20231101.3.0`.
    pub build: OsBuild,
}

/// Where the machine runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// Platform name (Ignition's platform ids), `metal` for bare metal, `unknown` when nothing
    /// readable names it.
    pub id: PlatformId,
    /// Cloud instance or machine type, for example `m5.large`.
    pub instance_type: Option<InstanceType>,
}

/// Coarse hardware summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hardware {
    /// CPU vendor.
    pub cpu_vendor: Option<CpuVendor>,
    /// Logical CPUs, rounded up to a power of two.
    pub cpus: Option<CpuBucket>,
    /// Memory in GiB, rounded up to a power of two.
    pub memory_gib: Option<MemoryBucket>,
    /// Firmware interface: `uefi` or `bios`.
    pub firmware: Option<Firmware>,
    /// Whether UEFI Secure Boot is enabled.
    pub secure_boot: Option<bool>,
    /// Disks by kind and their total size.
    pub disks: Option<Disks>,
    /// System vendor from DMI, on bare metal only.
    pub system_vendor: Option<VendorName>,
}

/// Whole disks counted by kind (partitions, loop, RAM, optical and device-mapper devices left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Disks {
    /// NVMe disks (physical NVMe; cloud block storage counts as virtual).
    pub nvme: CountBucket,
    /// Non-rotational SATA/SAS/USB disks.
    pub ssd: CountBucket,
    /// Rotational disks.
    pub hdd: CountBucket,
    /// Disks a hypervisor or cloud provides (virtio, Xen, EBS, Persistent Disk, VMware, Hyper-V).
    pub r#virtual: CountBucket,
    /// Total size of all counted disks in GiB, rounded up to a power of two.
    pub total_gib: DiskSizeBucket,
}

/// One container runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// Whether its program is installed.
    pub installed: bool,
    /// Whether it is active: its socket or state is present under /run, or a container runs.
    pub active: bool,
    /// Running containers, bucketed.
    pub running: Option<CountBucket>,
}

/// Container runtimes, found from files only (their sockets are never opened).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Containers {
    /// Podman.
    pub podman: Option<Runtime>,
    /// Docker.
    pub docker: Option<Runtime>,
    /// CRI-O.
    pub crio: Option<Runtime>,
    /// containerd.
    pub containerd: Option<Runtime>,
    /// systemd-nspawn.
    pub nspawn: Option<Runtime>,
}

/// Network interfaces counted by kind (loopback left out), never a name, address or MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Interfaces {
    /// Ethernet devices backed by hardware or a paravirtual NIC.
    pub ethernet: CountBucket,
    /// Wireless LAN devices.
    pub wifi: CountBucket,
    /// Bonds.
    pub bond: CountBucket,
    /// Bridges.
    pub bridge: CountBucket,
    /// VLANs.
    pub vlan: CountBucket,
    /// Teams.
    pub team: CountBucket,
    /// VXLAN tunnels.
    pub vxlan: CountBucket,
    /// WireGuard tunnels.
    pub wireguard: CountBucket,
    /// TUN/TAP devices.
    pub tun: CountBucket,
    /// Any other kind (veth, dummy, macvlan, ...).
    pub other: CountBucket,
}

/// Network summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Interfaces by kind.
    pub interfaces: Option<Interfaces>,
    /// Whether an IPv4 route exists on an interface other than loopback.
    pub ipv4: Option<bool>,
    /// Whether a global IPv6 address is configured.
    pub ipv6: Option<bool>,
    /// Whether an IPv4 or IPv6 default route exists.
    pub default_route: Option<bool>,
}

/// Package layering on an rpm-ostree system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Packages {
    /// Packages layered on the booted deployment, bucketed.
    pub layered: CountBucket,
}
}

/// Structs whose facts may all be unknown; an empty one is left out of the report.
macro_rules! is_empty {
    ($($name:ident),+) => {
        $(impl $name {
            /// Whether no fact is known.
            pub fn is_empty(&self) -> bool {
                self == &$name::default()
            }
        })+
    };
}

is_empty!(Os, Hardware, Containers, Network);

impl Report {
    /// An empty report of `level` for `period`; `None` at level off, which never reports.
    pub fn new(level: crate::Level, period: Period) -> Option<Report> {
        Some(Report {
            schema: SCHEMA_VERSION,
            window: period.window(),
            period,
            level: ReportLevel::from_level(level)?,
            os: None,
            original_os: None,
            platform: None,
            arch: None,
            age_bucket: None,
            hardware: None,
            containers: None,
            network: None,
            packages: None,
        })
    }

    /// The exact bytes posted: compact JSON, fields in declaration order, no trailing newline.
    pub fn to_body(&self) -> Vec<u8> {
        // Serializing plain structs of strings, integers and booleans into memory cannot fail;
        // an empty body would be refused by any receiver rather than sent wrong.
        serde_json::to_vec(self).unwrap_or_default()
    }
}
