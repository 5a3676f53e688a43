//! Closed sets: identifiers and bucket labels, each an enum that is a string on the wire.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Reads a label from the string as the parser has it, without copying it first (serde's
/// `Cow<str>` always copies): a receiver reads about twenty labels per full report.
pub(crate) struct LabelVisitor<T>(pub(crate) std::marker::PhantomData<T>);

impl<T: std::str::FromStr<Err: fmt::Display>> serde::de::Visitor<'_> for LabelVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

/// Declares a closed set of wire labels: an enum with `as_str`, `ALL`, `FromStr`, `Display`,
/// serde as the label, and a JSON Schema `enum` of every label. A set named with its own error
/// type (`Window: ParseWindowError("window")`) gets that type, which lists the allowed values,
/// and a schema that describes each label from its doc line.
macro_rules! labels {
    ($(#[doc = $doc:literal])* $name:ident: $err:ident($what:literal) { $($(#[doc = $vdoc:literal])* $variant:ident = $label:literal,)+ }) => {
        $crate::labels::labels!(@set [$(#[doc = $doc])*] $name $err { $($(#[doc = $vdoc])* $variant = $label,)+ });

        #[doc = concat!("A ", $what, " name that is not one of ", $("`", $label, "` ",)+)]
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error("unknown {} {:?}: allowed values are {}", $what, .0, [$(concat!("\"", $label, "\"")),+].join(", "))]
        pub struct $err(pub String);

        impl $crate::labels::Unknown for $err {
            fn unknown(_: &'static str, value: &str) -> Self {
                $err(value.to_owned())
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let one_of = [$(
                    schemars::json_schema!({
                        "const": $label,
                        "description": $crate::labels::doc_text(&[$($vdoc),*]),
                        "type": "string",
                    }),
                )+];
                schemars::json_schema!({
                    "description": $crate::labels::doc_text(&[$($doc),*]),
                    "oneOf": one_of,
                })
            }
        }
    };
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $label:literal,)+ }) => {
        $crate::labels::labels!(@set [$(#[$doc])*] $name UnknownLabel { $($(#[$vdoc])* $variant = $label,)+ });

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let all: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                schemars::json_schema!({ "type": "string", "enum": all })
            }
        }
    };
    (@set [$(#[$doc:meta])*] $name:ident $err:ident { $($(#[$vdoc:meta])* $variant:ident = $label:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: [$name; [$($label),+].len()] = [$($name::$variant,)+];

            /// The label on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $label,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $err;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $crate::labels::Unknown::unknown(stringify!($name), s))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str($crate::labels::LabelVisitor(std::marker::PhantomData))
            }
        }
    };
}
pub(crate) use labels;

/// The schema description of a doc comment, as schemars derives it: its lines, trimmed.
pub(crate) fn doc_text(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The error of a label that is not in its set.
pub(crate) trait Unknown {
    /// The error for `value`, which is not a `kind`.
    fn unknown(kind: &'static str, value: &str) -> Self;
}

impl Unknown for UnknownLabel {
    fn unknown(kind: &'static str, value: &str) -> Self {
        UnknownLabel {
            kind,
            value: value.chars().take(80).collect(),
        }
    }
}

/// Declares a bucket label set over a number: each label covers the values up to its bound
/// (the last one has none and covers everything above).
macro_rules! buckets {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $label:literal <= $bound:expr,)+ } $last:ident = $last_label:literal,) => {
        labels! {
            $(#[$doc])*
            $name {
                $(#[doc = concat!("`", $label, "`")] $variant = $label,)+
                #[doc = concat!("`", $last_label, "`")]
                $last = $last_label,
            }
        }

        impl $name {
            /// The bucket that holds `value`.
            pub fn of(value: u64) -> Self {
                $(if value <= $bound {
                    return $name::$variant;
                })+
                $name::$last
            }
        }
    };
}

/// A label that is not one of its set's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a known {kind}")]
pub struct UnknownLabel {
    /// The set the label was checked against.
    pub kind: &'static str,
    /// The rejected label (truncated).
    pub value: String,
}

labels! {
    /// The level a report was collected at; `off` never produces a report.
    ReportLevel {
        /// Generic facts only.
        Minimal = "minimal",
        /// Minimal plus hardware, container, network and package summaries.
        Full = "full",
    }
}

impl ReportLevel {
    /// The report level for a configured level, `None` at `off`.
    pub fn from_level(level: crate::Level) -> Option<Self> {
        match level {
            crate::Level::Off => None,
            crate::Level::Minimal => Some(ReportLevel::Minimal),
            crate::Level::Full => Some(ReportLevel::Full),
        }
    }

    /// The configured level this report level stands for.
    pub fn level(self) -> crate::Level {
        match self {
            ReportLevel::Minimal => crate::Level::Minimal,
            ReportLevel::Full => crate::Level::Full,
        }
    }
}

labels! {
    /// Where the machine runs, named as Ignition names platforms where one fits.
    PlatformId {
        /// Alibaba Cloud.
        Aliyun = "aliyun",
        /// Akamai (Linode).
        Akamai = "akamai",
        /// Apple Hypervisor.
        Applehv = "applehv",
        /// Amazon Web Services.
        Aws = "aws",
        /// Microsoft Azure.
        Azure = "azure",
        /// Azure Stack Hub.
        Azurestack = "azurestack",
        /// Brightbox.
        Brightbox = "brightbox",
        /// Apache CloudStack.
        Cloudstack = "cloudstack",
        /// DigitalOcean.
        Digitalocean = "digitalocean",
        /// Exoscale.
        Exoscale = "exoscale",
        /// Ignition's `file` platform: the config comes from a local file (tests, image builds).
        File = "file",
        /// Google Cloud.
        Gcp = "gcp",
        /// Hetzner Cloud.
        Hetzner = "hetzner",
        /// Microsoft Hyper-V.
        Hyperv = "hyperv",
        /// IBM Cloud.
        Ibmcloud = "ibmcloud",
        /// KubeVirt.
        Kubevirt = "kubevirt",
        /// Bare metal.
        Metal = "metal",
        /// Nutanix AHV.
        Nutanix = "nutanix",
        /// NVIDIA BlueField DPU.
        Nvidiabluefield = "nvidiabluefield",
        /// OpenStack.
        Openstack = "openstack",
        /// Oracle Cloud Infrastructure.
        Oraclecloud = "oraclecloud",
        /// Equinix Metal (Packet).
        Packet = "packet",
        /// IBM PowerVS.
        Powervs = "powervs",
        /// Proxmox VE.
        Proxmoxve = "proxmoxve",
        /// QEMU/KVM.
        Qemu = "qemu",
        /// Scaleway.
        Scaleway = "scaleway",
        /// UpCloud.
        Upcloud = "upcloud",
        /// VirtualBox.
        Virtualbox = "virtualbox",
        /// VMware.
        Vmware = "vmware",
        /// Vultr.
        Vultr = "vultr",
        /// Xen (no Ignition platform of its own).
        Xen = "xen",
        /// IBM Z (z/VM).
        Zvm = "zvm",
        /// Nothing readable named the platform.
        Unknown = "unknown",
    }
}

labels! {
    /// The CPU architecture as the kernel names it (`uname -m`).
    Arch {
        /// 64-bit x86.
        X86_64 = "x86_64",
        /// 64-bit ARM.
        Aarch64 = "aarch64",
        /// 64-bit POWER, little endian.
        Ppc64le = "ppc64le",
        /// IBM Z.
        S390x = "s390x",
        /// 64-bit RISC-V.
        Riscv64 = "riscv64",
        /// 64-bit LoongArch.
        Loongarch64 = "loongarch64",
        /// 32-bit ARM.
        Armv7l = "armv7l",
        /// 32-bit x86.
        I686 = "i686",
    }
}

labels! {
    /// The CPU vendor.
    CpuVendor {
        /// Intel.
        Intel = "intel",
        /// AMD.
        Amd = "amd",
        /// Hygon.
        Hygon = "hygon",
        /// Zhaoxin / Centaur.
        Zhaoxin = "zhaoxin",
        /// Arm Ltd. designs (Neoverse, Cortex).
        Arm = "arm",
        /// Ampere.
        Ampere = "ampere",
        /// Apple.
        Apple = "apple",
        /// Cavium / Marvell.
        Cavium = "cavium",
        /// Fujitsu.
        Fujitsu = "fujitsu",
        /// HiSilicon.
        Hisilicon = "hisilicon",
        /// NVIDIA.
        Nvidia = "nvidia",
        /// Qualcomm.
        Qualcomm = "qualcomm",
        /// IBM (POWER, Z).
        Ibm = "ibm",
        /// A vendor not in this list.
        Other = "other",
    }
}

labels! {
    /// The firmware interface the machine booted through.
    Firmware {
        /// UEFI.
        Uefi = "uefi",
        /// Legacy BIOS.
        Bios = "bios",
    }
}

buckets! {
    /// A count: exact up to 1, then power-of-two ranges.
    CountBucket {
        Zero = "0" <= 0,
        One = "1" <= 1,
        UpTo4 = "2-4" <= 4,
        UpTo8 = "5-8" <= 8,
        UpTo16 = "9-16" <= 16,
        UpTo32 = "17-32" <= 32,
        UpTo64 = "33-64" <= 64,
        UpTo128 = "65-128" <= 128,
    }
    More = "129+",
}

buckets! {
    /// Logical CPUs, rounded up to a power of two.
    CpuBucket {
        One = "1" <= 1,
        Two = "2" <= 2,
        UpTo4 = "3-4" <= 4,
        UpTo8 = "5-8" <= 8,
        UpTo16 = "9-16" <= 16,
        UpTo32 = "17-32" <= 32,
        UpTo64 = "33-64" <= 64,
        UpTo128 = "65-128" <= 128,
        UpTo256 = "129-256" <= 256,
        UpTo512 = "257-512" <= 512,
    }
    More = "513+",
}

const MIB: u64 = 1024;
const GIB: u64 = 1024 * 1024;

buckets! {
    /// Memory in KiB, rounded up to a power of two of GiB (the kernel keeps some, so a 16 GiB
    /// machine reports a little less and lands in `8-16`). Labels are GiB.
    MemoryBucket {
        UpTo512M = "0-0.5" <= 512 * MIB,
        UpTo1G = "0.5-1" <= GIB,
        UpTo2G = "1-2" <= 2 * GIB,
        UpTo4G = "2-4" <= 4 * GIB,
        UpTo8G = "4-8" <= 8 * GIB,
        UpTo16G = "8-16" <= 16 * GIB,
        UpTo32G = "16-32" <= 32 * GIB,
        UpTo64G = "32-64" <= 64 * GIB,
        UpTo128G = "64-128" <= 128 * GIB,
        UpTo256G = "128-256" <= 256 * GIB,
        UpTo512G = "256-512" <= 512 * GIB,
        UpTo1T = "512-1024" <= 1024 * GIB,
        UpTo2T = "1024-2048" <= 2048 * GIB,
    }
    More = "2048+",
}

buckets! {
    /// Total disk size in GiB, rounded up to a power of two. Labels are GiB.
    DiskSizeBucket {
        UpTo8 = "0-8" <= 8,
        UpTo16 = "8-16" <= 16,
        UpTo32 = "16-32" <= 32,
        UpTo64 = "32-64" <= 64,
        UpTo128 = "64-128" <= 128,
        UpTo256 = "128-256" <= 256,
        UpTo512 = "256-512" <= 512,
        UpTo1T = "512-1024" <= 1024,
        UpTo2T = "1024-2048" <= 2048,
        UpTo4T = "2048-4096" <= 4096,
        UpTo8T = "4096-8192" <= 8192,
        UpTo16T = "8192-16384" <= 16384,
        UpTo32T = "16384-32768" <= 32768,
        UpTo64T = "32768-65536" <= 65536,
    }
    More = "65536+",
}

/// The DNF countme system age bucket: 1 (first week) to 4 (older than 25 weeks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgeBucket(u8);

impl AgeBucket {
    /// The youngest bucket.
    pub const MIN: u8 = 1;
    /// The oldest bucket.
    pub const MAX: u8 = 4;

    /// The bucket `n`, when `n` is 1 to 4.
    pub fn new(n: u8) -> Option<Self> {
        (Self::MIN..=Self::MAX).contains(&n).then_some(AgeBucket(n))
    }

    /// The bucket `n`, clamped into 1 to 4.
    pub fn saturating(n: u8) -> Self {
        AgeBucket(n.clamp(Self::MIN, Self::MAX))
    }

    /// The bucket number.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for AgeBucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for AgeBucket {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.0)
    }
}

impl<'de> Deserialize<'de> for AgeBucket {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(d)?;
        u8::try_from(n)
            .ok()
            .and_then(AgeBucket::new)
            .ok_or_else(|| serde::de::Error::custom(format_args!("age bucket {n} is not 1 to 4")))
    }
}

impl JsonSchema for AgeBucket {
    fn schema_name() -> Cow<'static, str> {
        "AgeBucket".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "integer", "minimum": AgeBucket::MIN, "maximum": AgeBucket::MAX })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_up() {
        assert_eq!(CountBucket::of(0), CountBucket::Zero);
        assert_eq!(CountBucket::of(3).as_str(), "2-4");
        assert_eq!(CountBucket::of(129).as_str(), "129+");
        assert_eq!(CpuBucket::of(4).as_str(), "3-4");
        assert_eq!(CpuBucket::of(5).as_str(), "5-8");
        assert_eq!(MemoryBucket::of(16_323_072).as_str(), "8-16"); // a 16 GiB VM's MemTotal
        assert_eq!(MemoryBucket::of(16 * GIB + 1).as_str(), "16-32");
        assert_eq!(DiskSizeBucket::of(466).as_str(), "256-512");
        assert_eq!(DiskSizeBucket::of(u64::MAX).as_str(), "65536+");
    }

    /// Every platform id Ignition registers (coreos/ignition, `platform.Register` in
    /// internal/providers/*, imported by internal/register/providers.go), so no id that the
    /// kernel command line can carry is lost as `unknown`.
    const IGNITION_PLATFORM_IDS: &[&str] = &[
        "akamai",
        "aliyun",
        "applehv",
        "aws",
        "azure",
        "azurestack",
        "brightbox",
        "cloudstack",
        "digitalocean",
        "exoscale",
        "file",
        "gcp",
        "hetzner",
        "hyperv",
        "ibmcloud",
        "kubevirt",
        "metal",
        "nutanix",
        "nvidiabluefield",
        "openstack",
        "oraclecloud",
        "packet",
        "powervs",
        "proxmoxve",
        "qemu",
        "scaleway",
        "upcloud",
        "virtualbox",
        "vmware",
        "vultr",
        "zvm",
    ];

    #[test]
    fn every_ignition_platform_id_is_a_label() {
        for id in IGNITION_PLATFORM_IDS {
            assert_eq!(id.parse::<PlatformId>().map(|p| p.as_str()), Ok(*id));
        }
    }

    #[test]
    fn labels_parse_back() {
        for p in PlatformId::ALL {
            assert_eq!(p.as_str().parse::<PlatformId>(), Ok(p));
        }
        assert!("AWS".parse::<PlatformId>().is_err());
        assert_eq!(AgeBucket::new(0), None);
        assert_eq!(AgeBucket::new(5), None);
    }
}
