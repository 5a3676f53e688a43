//! Where the machine runs: Ignition's platform id from the kernel command line, else detected
//! from DMI, the CPU's hypervisor flag and /sys/hypervisor.

use headcount_report::{Level, Platform, PlatformId, Report};

use crate::{Collector, Context, Field, Root};

/// Reads the platform id.
pub struct PlatformCollector;

const FIELDS: &[Field] = &[Field {
    name: "platform.id",
    kind: "string (Ignition platform ids, xen, metal, unknown)",
    bucketing: "",
    description: "Platform: ignition.platform.id from the kernel command line, else detected from DMI vendor and product names, the CPU hypervisor flag and sys/hypervisor/type; metal when DMI is readable and names no hypervisor or cloud and the CPU has no hypervisor flag; unknown when nothing names it.",
}];

/// Kernel command line arguments that name the platform (Container Linux used the second).
const PLATFORM_ARGS: [&str; 2] = ["ignition.platform.id=", "coreos.oem.id="];

/// Azure sets this chassis asset tag on its VMs; plain Hyper-V does not.
const AZURE_ASSET_TAG: &str = "7783-7084-3265-9085-8269-3286-77";

impl Collector for PlatformCollector {
    fn name(&self) -> &'static str {
        "platform"
    }

    fn level(&self) -> Level {
        Level::Minimal
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn collect(&self, ctx: &Context, report: &mut Report) {
        report.platform = Some(Platform {
            id: detect_platform(&ctx.root),
            instance_type: None,
        });
    }
}

/// The platform of the machine under `root`.
pub fn detect_platform(root: &Root) -> PlatformId {
    if let Some(id) = from_cmdline(root) {
        return id;
    }
    from_hardware(root)
}

fn from_cmdline(root: &Root) -> Option<PlatformId> {
    let cmdline = root.read("proc/cmdline")?;
    let value = cmdline
        .split_ascii_whitespace()
        .find_map(|arg| PLATFORM_ARGS.iter().find_map(|p| arg.strip_prefix(p)))?;
    let id = match value {
        // Container Linux names.
        "ec2" => PlatformId::Aws,
        "gce" => PlatformId::Gcp,
        "pxe" => PlatformId::Metal,
        other => other.parse().unwrap_or_else(|_| {
            tracing::debug!("kernel command line names a platform not in the report's set");
            PlatformId::Unknown
        }),
    };
    Some(id)
}

fn dmi(root: &Root, key: &str) -> Option<String> {
    root.read_value(&format!("sys/class/dmi/id/{key}"))
}

fn from_hardware(root: &Root) -> PlatformId {
    let vendor = dmi(root, "sys_vendor");
    let product = dmi(root, "product_name");
    let bios = dmi(root, "bios_vendor");
    let bios_version = dmi(root, "bios_version");
    let asset = dmi(root, "chassis_asset_tag");
    let all = [&vendor, &product, &bios, &bios_version]
        .iter()
        .filter_map(|v| v.as_deref())
        .collect::<Vec<_>>()
        .join("\n");
    let has = |needle: &str| all.contains(needle);
    let hypervisor_flag = cpu_has_hypervisor_flag(root);
    let hypervisor_type = root.read_value("sys/hypervisor/type");

    let named = if has("Amazon EC2")
        || bios_version
            .as_deref()
            .is_some_and(|v| v.contains("amazon"))
    {
        Some(PlatformId::Aws)
    } else if has("Google Compute Engine") || vendor.as_deref() == Some("Google") {
        Some(PlatformId::Gcp)
    } else if vendor.as_deref() == Some("Microsoft Corporation")
        && product.as_deref() == Some("Virtual Machine")
    {
        if asset.as_deref() == Some(AZURE_ASSET_TAG) {
            Some(PlatformId::Azure)
        } else {
            Some(PlatformId::Hyperv)
        }
    } else if has("Alibaba Cloud") {
        Some(PlatformId::Aliyun)
    } else if has("DigitalOcean") {
        Some(PlatformId::Digitalocean)
    } else if has("Hetzner") {
        Some(PlatformId::Hetzner)
    } else if has("OpenStack") {
        Some(PlatformId::Openstack)
    } else if asset.as_deref() == Some("OracleCloud.com") {
        Some(PlatformId::Oraclecloud)
    } else if has("Scaleway") {
        Some(PlatformId::Scaleway)
    } else if has("Vultr") {
        Some(PlatformId::Vultr)
    } else if has("Linode") || has("Akamai") {
        Some(PlatformId::Akamai)
    } else if has("Exoscale") {
        Some(PlatformId::Exoscale)
    } else if has("UpCloud") {
        Some(PlatformId::Upcloud)
    } else if has("Nutanix") {
        Some(PlatformId::Nutanix)
    } else if has("KubeVirt") {
        Some(PlatformId::Kubevirt)
    } else if has("VMware") {
        Some(PlatformId::Vmware)
    } else if has("innotek GmbH") || has("VirtualBox") {
        Some(PlatformId::Virtualbox)
    } else if has("Apple Virtualization") {
        Some(PlatformId::Applehv)
    } else if has("QEMU") || has("KVM") || has("SeaBIOS") || has("Standard PC (") {
        Some(PlatformId::Qemu)
    } else if vendor.as_deref() == Some("Xen") || hypervisor_type.as_deref() == Some("xen") {
        Some(PlatformId::Xen)
    } else {
        None
    };
    match named {
        Some(id) => id,
        // DMI says nothing about a hypervisor, and neither does the CPU: real hardware.
        None if vendor.is_some() && !hypervisor_flag => PlatformId::Metal,
        None => PlatformId::Unknown,
    }
}

/// Whether the first CPU's `flags` line carries `hypervisor` (x86 guests).
fn cpu_has_hypervisor_flag(root: &Root) -> bool {
    let Some((cpuinfo, _)) = root.read_prefix("proc/cpuinfo") else {
        return false;
    };
    cpuinfo
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "flags").then_some(v)
        })
        .is_some_and(|flags| flags.split_ascii_whitespace().any(|f| f == "hypervisor"))
}
