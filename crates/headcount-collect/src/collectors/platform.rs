//! Where the machine runs: the platform the kernel command line names (Ignition's, else
//! Flatcar's or Container Linux's OEM id), checked against what the hardware says; else what the
//! hardware alone says (DMI, the CPU's hypervisor flag, /sys/hypervisor, the device tree, IBM Z
//! sysinfo), matched the way systemd's `detect_virt` and cloud-init's `ds-identify` match them.

use headcount_report::{Arch, Platform, PlatformId, Report};

use crate::collectors::{arch, cpuinfo, hardware};
use crate::{Context, Field, Kind, Root};

pub(crate) const FIELDS: &[Field] = &[Field {
    name: "platform.id",
    kind: Kind::Text("string (Ignition platform ids, xen, unknown)"),
    bucketing: "",
    description: "Platform, tried in this order: the last ignition.platform.id= on the kernel command line (proc/cmdline), else the last flatcar.oem.id=, else the last coreos.oem.id= (ec2, gce and pxe read as aws, gcp and metal); when that says metal, or nothing names one, the hardware decides: DMI in sys/class/dmi/id (vendor, product, BIOS and chassis asset tag, for example CloudStack's product name or Oracle Cloud's asset tag), proc/sysinfo on IBM Z (z/VM or KVM as control program, else an LPAR), the device tree in sys/firmware/devicetree/base outside x86 (a hypervisor node or QEMU's fw-cfg), sys/hypervisor/type and the CPU's hypervisor flag in proc/cpuinfo. A named cloud or hypervisor wins over metal; an unnamed hypervisor gives unknown, never metal. metal needs evidence: on x86 readable DMI and no hypervisor; elsewhere a device tree naming a board, or DMI naming a known hardware maker; unknown when nothing decides.",
}];

/// Kernel arguments that name the platform, in order of precedence; the last occurrence of
/// each counts, as in Ignition's and Flatcar's generators.
const PLATFORM_ARGS: [&str; 3] = ["ignition.platform.id", "flatcar.oem.id", "coreos.oem.id"];

/// Azure sets this chassis asset tag on its VMs; plain Hyper-V sets a per-VM number.
const AZURE_ASSET_TAG: &str = "7783-7084-3265-9085-8269-3286-77";

/// Chassis asset tags of OpenStack clouds (cloud-init's ds-identify).
const OPENSTACK_ASSET_TAGS: &[&str] = &[
    "OpenStack Nova",
    "OpenStack Compute",
    "OpenTelekomCloud",
    "SAP CCloud VM",
    "HUAWEICLOUD",
    "Samsung Cloud Platform",
];

/// Where the device tree is exposed (`/proc/device-tree` links here).
const DEVICE_TREE: &str = "sys/firmware/devicetree/base";

/// Reads the platform id.
pub(crate) fn collect(ctx: &Context, report: &mut Report) {
    report.platform = Some(Platform {
        id: ctx.platform().id,
        instance_type: None,
    });
}

/// What decided the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformSource {
    /// A kernel argument (its name, for example `ignition.platform.id`).
    KernelArgument(&'static str),
    /// The hardware: DMI, sysinfo, the device tree, the CPU.
    Hardware,
}

/// What the hardware alone says about where the machine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HardwareVerdict {
    /// Firmware names a cloud or hypervisor.
    Named(PlatformId),
    /// A hypervisor is there, but nothing names it.
    VirtualMachine,
    /// Evidence of real hardware and none of a hypervisor.
    Metal,
    /// Nothing readable decides.
    Unknown,
}

/// The detected platform, with how it was decided: collectors that build on the platform (the
/// instance type, the bare-metal system vendor) read this, not the files again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    /// The platform reported.
    pub id: PlatformId,
    /// What decided it.
    pub source: PlatformSource,
    /// What the hardware alone says; `None` when a kernel argument named a platform other than
    /// metal, which the hardware is not read to second-guess.
    pub hardware: Option<HardwareVerdict>,
}

/// The platform of the machine under `root`.
pub fn detect_platform(root: &Root) -> Detection {
    let named = from_cmdline(root);
    if let Some((id, arg)) = named.filter(|(id, _)| *id != PlatformId::Metal) {
        return Detection {
            id,
            source: PlatformSource::KernelArgument(arg),
            hardware: None,
        };
    }
    let hardware = hardware_verdict(root);
    let (id, source) = match (hardware, named) {
        (HardwareVerdict::Named(id), _) => (id, PlatformSource::Hardware),
        // A live-ISO or PXE install writes metal even inside a VM: a hypervisor the hardware
        // shows overrules the argument.
        (HardwareVerdict::VirtualMachine, _) => (PlatformId::Unknown, PlatformSource::Hardware),
        (HardwareVerdict::Metal | HardwareVerdict::Unknown, Some((id, arg))) => {
            (id, PlatformSource::KernelArgument(arg))
        }
        (HardwareVerdict::Metal, None) => (PlatformId::Metal, PlatformSource::Hardware),
        (HardwareVerdict::Unknown, None) => (PlatformId::Unknown, PlatformSource::Hardware),
    };
    Detection {
        id,
        source,
        hardware: Some(hardware),
    }
}

/// The platform the kernel command line names, and the argument that named it.
fn from_cmdline(root: &Root) -> Option<(PlatformId, &'static str)> {
    let cmdline = root.read("proc/cmdline")?;
    let (arg, value) = PLATFORM_ARGS.iter().find_map(|name| {
        let value = cmdline
            .split_ascii_whitespace()
            .filter_map(|a| a.split_once('='))
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v)
            .next_back()?;
        Some((*name, value))
    })?;
    let id = match value {
        // Container Linux and Flatcar names for what Ignition calls otherwise.
        "ec2" => PlatformId::Aws,
        "gce" => PlatformId::Gcp,
        "pxe" => PlatformId::Metal,
        other => other.parse().unwrap_or_else(|_| {
            tracing::debug!(
                arg,
                "kernel command line names a platform not in the report's set"
            );
            PlatformId::Unknown
        }),
    };
    Some((id, arg))
}

/// The DMI strings detection reads (all world-readable on a real machine).
#[derive(Debug, Default)]
struct Dmi {
    sys_vendor: Option<String>,
    product_name: Option<String>,
    product_version: Option<String>,
    board_vendor: Option<String>,
    bios_vendor: Option<String>,
    bios_version: Option<String>,
    chassis_asset_tag: Option<String>,
}

impl Dmi {
    fn read(root: &Root) -> Dmi {
        let get = |key: &str| root.read_value(&format!("sys/class/dmi/id/{key}"));
        Dmi {
            sys_vendor: get("sys_vendor"),
            product_name: get("product_name"),
            product_version: get("product_version"),
            board_vendor: get("board_vendor"),
            bios_vendor: get("bios_vendor"),
            bios_version: get("bios_version"),
            chassis_asset_tag: get("chassis_asset_tag"),
        }
    }

    /// The fields systemd's DMI vendor table is matched against, in its order.
    fn vendor_fields(&self) -> [Option<&str>; 5] {
        [
            self.product_name.as_deref(),
            self.sys_vendor.as_deref(),
            self.board_vendor.as_deref(),
            self.bios_vendor.as_deref(),
            self.product_version.as_deref(),
        ]
    }

    fn any_starts_with(&self, prefix: &str) -> bool {
        self.vendor_fields()
            .iter()
            .flatten()
            .any(|v| v.starts_with(prefix))
    }
}

fn is(field: &Option<String>, value: &str) -> bool {
    field.as_deref() == Some(value)
}

fn starts(field: &Option<String>, prefix: &str) -> bool {
    field.as_deref().is_some_and(|v| v.starts_with(prefix))
}

/// The cloud or hypervisor DMI names. Clouds first: many run on KVM and say so too
/// (`CloudStack KVM Hypervisor`, `KVM Virtual Machine` on Oracle Cloud).
fn named_by_dmi(dmi: &Dmi) -> Option<PlatformId> {
    let tag = &dmi.chassis_asset_tag;
    let id = if is(tag, AZURE_ASSET_TAG) {
        PlatformId::Azure
    } else if is(tag, "OracleCloud.com") {
        PlatformId::Oraclecloud
    } else if starts(&dmi.sys_vendor, "Amazon EC2")
        || starts(&dmi.bios_vendor, "Amazon EC2")
        || dmi
            .bios_version
            .as_deref()
            .is_some_and(|v| v.contains("amazon"))
    {
        PlatformId::Aws
    } else if starts(&dmi.product_name, "Google Compute Engine") || is(&dmi.sys_vendor, "Google") {
        PlatformId::Gcp
    } else if let Some(&(_, _, id)) = CLOUDS.iter().find(|(field, text, _)| match field {
        CloudField::ProductPrefix => starts(&dmi.product_name, text),
        CloudField::Vendor => is(&dmi.sys_vendor, text),
    }) {
        id
    } else if starts(&dmi.product_name, "OpenStack")
        || starts(&dmi.sys_vendor, "OpenStack")
        || OPENSTACK_ASSET_TAGS.iter().any(|t| is(tag, t))
    {
        PlatformId::Openstack
    } else if starts(&dmi.sys_vendor, "Nutanix") {
        PlatformId::Nutanix
    } else if dmi.any_starts_with("KubeVirt") {
        PlatformId::Kubevirt
    } else if (is(&dmi.sys_vendor, "Microsoft Corporation")
        && is(&dmi.product_name, "Virtual Machine"))
        || dmi.any_starts_with("Hyper-V")
    {
        PlatformId::Hyperv
    } else if let Some(&(_, id)) = HYPERVISORS.iter().find(|(p, _)| dmi.any_starts_with(p)) {
        id
    } else {
        return None;
    };
    Some(id)
}

/// Where a cloud's name is read from DMI.
#[derive(Clone, Copy)]
enum CloudField {
    /// The product name starts with it.
    ProductPrefix,
    /// The system vendor is it.
    Vendor,
}

/// Clouds DMI names, in the order they are tried.
const CLOUDS: &[(CloudField, &str, PlatformId)] = &[
    (
        CloudField::ProductPrefix,
        "Alibaba Cloud",
        PlatformId::Aliyun,
    ),
    (
        CloudField::ProductPrefix,
        "CloudStack",
        PlatformId::Cloudstack,
    ),
    (CloudField::ProductPrefix, "Exoscale", PlatformId::Exoscale),
    (CloudField::Vendor, "DigitalOcean", PlatformId::Digitalocean),
    (CloudField::Vendor, "Hetzner", PlatformId::Hetzner),
    (CloudField::Vendor, "Scaleway", PlatformId::Scaleway),
    (CloudField::Vendor, "Vultr", PlatformId::Vultr),
    (CloudField::Vendor, "UpCloud", PlatformId::Upcloud),
    (CloudField::Vendor, "Linode", PlatformId::Akamai),
    (CloudField::Vendor, "Akamai", PlatformId::Akamai),
];

/// Prefixes of any DMI field that name a hypervisor, in the order they are tried.
const HYPERVISORS: &[(&str, PlatformId)] = &[
    ("VMware", PlatformId::Vmware),
    ("VMW", PlatformId::Vmware),
    ("innotek GmbH", PlatformId::Virtualbox),
    ("VirtualBox", PlatformId::Virtualbox),
    ("Apple Virtualization", PlatformId::Applehv),
    ("Xen", PlatformId::Xen),
    ("QEMU", PlatformId::Qemu),
    ("KVM", PlatformId::Qemu),
];

/// Hypervisors systemd's DMI table knows that have no platform id of their own.
const OTHER_HYPERVISORS: &[&str] = &["Bochs", "Parallels", "BHYVE"];

/// What IBM Z's `proc/sysinfo` says: z/VM and KVM guests list their control program; an LPAR
/// lists none.
fn from_sysinfo(root: &Root) -> Option<HardwareVerdict> {
    let text = root.read("proc/sysinfo")?;
    let program = text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "VM00 Control Program").then(|| v.trim().to_owned())
    });
    Some(match program {
        Some(p) if p.starts_with("z/VM") => HardwareVerdict::Named(PlatformId::Zvm),
        Some(p) if p.starts_with("KVM") => HardwareVerdict::Named(PlatformId::Qemu),
        Some(_) => HardwareVerdict::VirtualMachine,
        None => HardwareVerdict::Metal,
    })
}

/// A device tree property: NUL-separated strings.
fn dt_strings(root: &Root, prop: &str) -> Vec<String> {
    root.read_bytes(&format!("{DEVICE_TREE}/{prop}"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// What the device tree says, the way systemd's `detect_vm_device_tree` reads it.
fn from_device_tree(root: &Root) -> Option<HardwareVerdict> {
    if !root.is_dir(DEVICE_TREE) {
        return None;
    }
    // Any hypervisor node says VM, named or not (an empty one too, as in systemd).
    if root.exists(&format!("{DEVICE_TREE}/hypervisor/compatible")) {
        let compatible = dt_strings(root, "hypervisor/compatible");
        let hv = compatible.first().map_or("", String::as_str);
        return Some(if hv == "linux,kvm" {
            HardwareVerdict::Named(PlatformId::Qemu)
        } else if hv.contains("xen") {
            HardwareVerdict::Named(PlatformId::Xen)
        } else if hv.contains("vmware") {
            HardwareVerdict::Named(PlatformId::Vmware)
        } else {
            HardwareVerdict::VirtualMachine
        });
    }
    if root.exists(&format!("{DEVICE_TREE}/ibm,partition-name"))
        && root.exists(&format!("{DEVICE_TREE}/hmc-managed?"))
        && !root.exists(&format!("{DEVICE_TREE}/chosen/qemu,graphic-width"))
    {
        // A PowerVM logical partition.
        return Some(HardwareVerdict::VirtualMachine);
    }
    let compatible = dt_strings(root, "compatible");
    if root
        .read_dir(DEVICE_TREE)
        .iter()
        .any(|n| n.contains("fw-cfg"))
        || compatible.iter().any(|c| c == "qemu,pseries")
    {
        return Some(HardwareVerdict::Named(PlatformId::Qemu));
    }
    // A tree that names a board and no hypervisor: the firmware of a real machine.
    let model = dt_strings(root, "model");
    (!model.is_empty() || !compatible.is_empty()).then_some(HardwareVerdict::Metal)
}

/// What the hardware alone says about where the machine runs.
fn hardware_verdict(root: &Root) -> HardwareVerdict {
    let dmi = Dmi::read(root);
    if let Some(id) = named_by_dmi(&dmi) {
        return HardwareVerdict::Named(id);
    }
    let arch = arch::detect_arch(root);
    let x86 = matches!(arch, Some(Arch::X86_64 | Arch::I686));
    // Only IBM Z has sysinfo and x86 has no device tree (an unknown arch tries both).
    let sysinfo = matches!(arch, Some(Arch::S390x) | None)
        .then(|| from_sysinfo(root))
        .flatten();
    if let Some(v @ (HardwareVerdict::Named(_) | HardwareVerdict::VirtualMachine)) = sysinfo {
        return v;
    }
    let device_tree = (!x86).then(|| from_device_tree(root)).flatten();
    if let Some(v @ (HardwareVerdict::Named(_) | HardwareVerdict::VirtualMachine)) = device_tree {
        return v;
    }
    match root.read_value("sys/hypervisor/type").as_deref() {
        Some("xen") => return HardwareVerdict::Named(PlatformId::Xen),
        Some(_) => return HardwareVerdict::VirtualMachine,
        None => {}
    }
    let cpu_says_vm = root
        .read_prefix("proc/cpuinfo")
        .is_some_and(|(text, _)| cpuinfo::has_flag(&text, "hypervisor"));
    if cpu_says_vm || OTHER_HYPERVISORS.iter().any(|h| dmi.any_starts_with(h)) {
        return HardwareVerdict::VirtualMachine;
    }
    let vendor = dmi
        .sys_vendor
        .as_deref()
        .filter(|v| !v.is_empty() && !hardware::is_placeholder(v));
    if x86 {
        // x86 guests carry the hypervisor flag: readable DMI without it is real hardware.
        return if dmi.sys_vendor.is_some() {
            HardwareVerdict::Metal
        } else {
            HardwareVerdict::Unknown
        };
    }
    // Elsewhere guests carry no CPU flag: only positive evidence of hardware counts.
    if sysinfo == Some(HardwareVerdict::Metal) || device_tree == Some(HardwareVerdict::Metal) {
        return HardwareVerdict::Metal;
    }
    match vendor {
        Some(v) if hardware::known_vendor(v) != hardware::OTHER_VENDOR => HardwareVerdict::Metal,
        _ => HardwareVerdict::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dmi(sys_vendor: &str, product_name: &str) -> Dmi {
        Dmi {
            sys_vendor: Some(sys_vendor.into()),
            product_name: Some(product_name.into()),
            ..Dmi::default()
        }
    }

    #[test]
    fn dmi_names_clouds_before_their_hypervisor() {
        for (vendor, product, want) in [
            (
                "Apache Software Foundation",
                "CloudStack KVM Hypervisor",
                Some(PlatformId::Cloudstack),
            ),
            ("QEMU", "KVM Virtual Machine", Some(PlatformId::Qemu)),
            (
                "OpenStack Foundation",
                "OpenStack Nova",
                Some(PlatformId::Openstack),
            ),
            ("KubeVirt", "None", Some(PlatformId::Kubevirt)),
            (
                "Microsoft Corporation",
                "Virtual Machine",
                Some(PlatformId::Hyperv),
            ),
            (
                "Alibaba Cloud",
                "Alibaba Cloud ECS",
                Some(PlatformId::Aliyun),
            ),
            ("VMware, Inc.", "VMware7,1", Some(PlatformId::Vmware)),
            ("innotek GmbH", "VirtualBox", Some(PlatformId::Virtualbox)),
            ("Dell Inc.", "PowerEdge R650", None),
            ("Oracle Corporation", "ORACLE SERVER X9-2", None),
        ] {
            assert_eq!(
                named_by_dmi(&dmi(vendor, product)),
                want,
                "{vendor} {product}"
            );
        }
        let mut oci = dmi("QEMU", "KVM Virtual Machine");
        oci.chassis_asset_tag = Some("OracleCloud.com".into());
        assert_eq!(named_by_dmi(&oci), Some(PlatformId::Oraclecloud));
        let mut azure = dmi("Microsoft Corporation", "Virtual Machine");
        azure.chassis_asset_tag = Some(AZURE_ASSET_TAG.into());
        assert_eq!(named_by_dmi(&azure), Some(PlatformId::Azure));
    }
}
