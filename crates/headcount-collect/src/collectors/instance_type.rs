//! The cloud instance type, from the first source that has it: afterburn's attributes file, the
//! DMI product name (AWS Nitro), else the provider's metadata service, asked through a
//! [`MetadataSource`] the caller injects (this crate reads files only).
//!
//! Whichever source gives it, the value passes [`accept`]: one rule for every source, so a
//! stricter rule covers them all.

use headcount_report::{InstanceType, PlatformId, Report};

use crate::collectors::platform::{Detection, HardwareVerdict, PlatformSource};
use crate::{Context, Field, Kind, parse_env};

pub(crate) const FIELDS: &[Field] = &[Field {
    name: "platform.instance_type",
    kind: Kind::Text("string (the provider's instance type names, or other)"),
    bucketing: "a name outside the platform's documented names (an operator's own flavor or offering) is sent as other",
    description: "Cloud instance or machine type of the detected platform, from the first of these that has it. 1. The attribute afterburn wrote to run/metadata/afterburn for that platform, and only that one (aws AFTERBURN_AWS_INSTANCE_TYPE, azure AFTERBURN_AZURE_VMSIZE, gcp AFTERBURN_GCP_MACHINE_TYPE, aliyun AFTERBURN_ALIYUN_INSTANCE_TYPE, akamai AFTERBURN_AKAMAI_INSTANCE_TYPE, cloudstack AFTERBURN_CLOUDSTACK_SERVICE_OFFERING, exoscale AFTERBURN_EXOSCALE_SERVICE_OFFERING, kubevirt AFTERBURN_KUBEVIRT_INSTANCE_TYPE, openstack AFTERBURN_OPENSTACK_INSTANCE_TYPE, oraclecloud AFTERBURN_ORACLECLOUD_INSTANCE_SHAPE, packet AFTERBURN_PACKET_PLAN, scaleway AFTERBURN_SCALEWAY_INSTANCE_TYPE); every other attribute of that file, and every key of another platform, is ignored. 2. On aws, the DMI product name (sys/class/dmi/id/product_name), which AWS Nitro instances set to their type (system vendor Amazon EC2). 3. On aws, azure and gcp, when the kernel command line or DMI names the provider and afterburn's file has no type: the provider's link-local metadata service at 169.254.169.254, asked for the instance type alone, once per daemon run, only with an endpoint configured and only for the running machine (--root /). On gcp only the last segment of projects/<number>/machineTypes/<type> is kept. From every source the value must be one of the platform's documented names, else it is sent as other. Absent on platforms that have no type, and when the platform is unknown or not reported.",
}];

/// Afterburn's machine type attribute of each platform that has one (afterburn's
/// docs/usage/attributes.md; the keys its providers write).
pub const TYPE_KEYS: &[(PlatformId, &str)] = &[
    (PlatformId::Aws, "AFTERBURN_AWS_INSTANCE_TYPE"),
    (PlatformId::Azure, "AFTERBURN_AZURE_VMSIZE"),
    (PlatformId::Gcp, "AFTERBURN_GCP_MACHINE_TYPE"),
    (PlatformId::Aliyun, "AFTERBURN_ALIYUN_INSTANCE_TYPE"),
    (PlatformId::Akamai, "AFTERBURN_AKAMAI_INSTANCE_TYPE"),
    (
        PlatformId::Cloudstack,
        "AFTERBURN_CLOUDSTACK_SERVICE_OFFERING",
    ),
    (PlatformId::Exoscale, "AFTERBURN_EXOSCALE_SERVICE_OFFERING"),
    (PlatformId::Kubevirt, "AFTERBURN_KUBEVIRT_INSTANCE_TYPE"),
    (PlatformId::Openstack, "AFTERBURN_OPENSTACK_INSTANCE_TYPE"),
    (
        PlatformId::Oraclecloud,
        "AFTERBURN_ORACLECLOUD_INSTANCE_SHAPE",
    ),
    (PlatformId::Packet, "AFTERBURN_PACKET_PLAN"),
    (PlatformId::Scaleway, "AFTERBURN_SCALEWAY_INSTANCE_TYPE"),
];

/// Where afterburn's attributes service writes.
pub const AFTERBURN: &str = "run/metadata/afterburn";

/// Where the DMI product name is, which AWS Nitro instances set to their instance type.
pub const DMI_PRODUCT_NAME: &str = "sys/class/dmi/id/product_name";

/// The DMI system vendor of AWS Nitro instances (Xen-based ones say `Xen`, product `HVM domU`).
const AWS_NITRO_VENDOR: &str = "Amazon EC2";

/// Afterburn's type attribute for `platform`, if it has one.
pub fn type_key(platform: PlatformId) -> Option<&'static str> {
    TYPE_KEYS
        .iter()
        .find(|(p, _)| *p == platform)
        .map(|(_, k)| *k)
}

/// A cloud whose link-local metadata service can be asked for the instance type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetadataProvider {
    /// Amazon EC2's instance metadata service (IMDSv2).
    Aws,
    /// Azure's instance metadata service.
    Azure,
    /// Google Compute Engine's metadata server.
    Gcp,
}

impl MetadataProvider {
    /// Every provider, in documentation order.
    pub const ALL: [MetadataProvider; 3] = [
        MetadataProvider::Aws,
        MetadataProvider::Azure,
        MetadataProvider::Gcp,
    ];

    /// The platform this provider's machines report.
    pub fn platform(self) -> PlatformId {
        match self {
            MetadataProvider::Aws => PlatformId::Aws,
            MetadataProvider::Azure => PlatformId::Azure,
            MetadataProvider::Gcp => PlatformId::Gcp,
        }
    }

    /// The provider whose machines report `platform`, if it has a metadata service to ask.
    pub fn for_platform(platform: PlatformId) -> Option<MetadataProvider> {
        Self::ALL.into_iter().find(|p| p.platform() == platform)
    }

    /// The provider that may be asked for the machine `detection` describes: only one that the
    /// kernel command line or DMI positively names (never a guess).
    pub fn for_detection(detection: &Detection) -> Option<MetadataProvider> {
        let provider = Self::for_platform(detection.id)?;
        let named = match detection.source {
            PlatformSource::KernelArgument(_) => true,
            PlatformSource::Hardware => {
                detection.hardware == Some(HardwareVerdict::Named(detection.id))
            }
        };
        named.then_some(provider)
    }

    /// The platform id, as in reports (`aws`, `azure`, `gcp`).
    pub fn as_str(self) -> &'static str {
        self.platform().as_str()
    }
}

impl std::fmt::Display for MetadataProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Asks a provider's metadata service for the instance type. The collectors never open a
/// socket: the daemon injects an implementation that does, tests inject a stand-in.
pub trait MetadataSource: Send + Sync {
    /// The service's answer to "what is this instance's type", as it came (bounded in length
    /// by the implementation), or `None` when it could not be had. The collector applies the
    /// shape rule; an implementation asks at most once per daemon run.
    fn instance_type(&self, provider: MetadataProvider) -> Option<String>;
}

/// Where the reported instance type came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceTypeSource {
    /// Afterburn's attributes file.
    Afterburn,
    /// The DMI product name (AWS Nitro).
    Dmi,
    /// The provider's metadata service.
    MetadataService(MetadataProvider),
}

impl std::fmt::Display for InstanceTypeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstanceTypeSource::Afterburn => write!(f, "afterburn's attributes ({AFTERBURN})"),
            InstanceTypeSource::Dmi => write!(f, "the DMI product name ({DMI_PRODUCT_NAME})"),
            InstanceTypeSource::MetadataService(p) => {
                write!(
                    f,
                    "the {p} metadata service at 169.254.169.254 (asked for the instance type only)"
                )
            }
        }
    }
}

/// Whether `raw` is one of `platform`'s documented instance type names.
fn is_named(platform: PlatformId, raw: &str) -> bool {
    InstanceType::for_platform(platform, raw).is_some_and(|t| !t.is_other())
}

/// Reads the detected platform's instance type and nothing else.
pub(crate) fn collect(ctx: &Context, report: &mut Report) {
    // Without a platform the type would say where the machine runs behind an excluded field.
    let Some(platform) = report.platform.as_mut() else {
        return;
    };
    let id = platform.id;
    let (raw, source) = if let Some(raw) = from_afterburn(ctx, id) {
        // Afterburn asked the same service: its value, fit or not, is the service's answer.
        (raw, InstanceTypeSource::Afterburn)
    } else if let Some(raw) = from_dmi(ctx, id) {
        (raw, InstanceTypeSource::Dmi)
    } else if let Some(provider) = MetadataProvider::for_detection(ctx.platform()) {
        let Some(source) = ctx.metadata() else {
            ctx.note_metadata_not_asked(provider);
            return;
        };
        let Some(raw) = source.instance_type(provider) else {
            return;
        };
        (raw, InstanceTypeSource::MetadataService(provider))
    } else {
        return;
    };
    // One rule whatever the source: the contract's names of the platform, else other.
    platform.instance_type = InstanceType::for_platform(id, &raw);
    match &platform.instance_type {
        Some(t) if t.is_other() => {
            // The value itself is not logged: it broke the rule meant to keep labels out.
            tracing::debug!(%source, "the instance type breaks its platform's rule, sent as other");
            ctx.note_instance_type_source(source);
        }
        Some(_) => ctx.note_instance_type_source(source),
        None => tracing::debug!(%source, "the instance type does not fit the report, left out"),
    }
}

/// The detected platform's type attribute in afterburn's file, and only that one: on an unknown
/// platform a type key says nothing trustworthy about where the machine runs.
fn from_afterburn(ctx: &Context, platform: PlatformId) -> Option<String> {
    let key = type_key(platform)?;
    let text = ctx.root.read(AFTERBURN)?;
    parse_env(&text).find_map(|(k, v)| (k == key).then_some(v))
}

/// On an AWS Nitro instance (DMI vendor `Amazon EC2`), the product name when it has the form of
/// an instance type (systemd's `detect_vm_dmi` reads it as one to tell `.metal` instances).
fn from_dmi(ctx: &Context, platform: PlatformId) -> Option<String> {
    if platform != PlatformId::Aws {
        return None;
    }
    let vendor = ctx.root.read_value("sys/class/dmi/id/sys_vendor")?;
    if !vendor.starts_with(AWS_NITRO_VENDOR) {
        return None;
    }
    ctx.root
        .read_value(DMI_PRODUCT_NAME)
        .filter(|p| is_named(PlatformId::Aws, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every platform afterburn gives a type for has a rule in the contract, so no value is
    /// ever sent unchecked.
    #[test]
    fn every_type_key_has_a_rule() {
        for (platform, key) in TYPE_KEYS {
            assert!(
                InstanceType::for_platform(*platform, "i-0abc123def4567890").is_some(),
                "{platform} ({key}) has no instance type rule"
            );
        }
    }

    #[test]
    fn unknown_and_metal_have_no_key() {
        assert_eq!(type_key(PlatformId::Unknown), None);
        assert_eq!(type_key(PlatformId::Metal), None);
        assert_eq!(
            type_key(PlatformId::Kubevirt),
            Some("AFTERBURN_KUBEVIRT_INSTANCE_TYPE")
        );
    }

    /// (platform, values of its provider's form, values that are not)
    const FORMS: &[(PlatformId, &[&str], &[&str])] = &[
        (
            PlatformId::Aws,
            &[
                "m5.large",
                "t3.nano",
                "c7gn.16xlarge",
                "m6g.metal",
                "c7i.metal-24xl",
                "u-6tb1.112xlarge",
                "mac2-m2pro.metal",
                "c7i-flex.xlarge",
                "x2iedn.32xlarge",
                "p4de.24xlarge",
            ],
            &[
                "HVM domU",
                "Amazon EC2",
                "i-0abc123def4567890",
                "172.31.5.17",
                "ip-172-31-5-17.ec2.internal",
                "ip-172-31-5-17.ec2",
                "ec2-54-210-33-12.compute-1.amazonaws.com",
                "us-east-1c",
                "m5.large\n",
                "M5.large",
                "m5.",
                ".large",
                "m5.1234xlarge",
                "m5.metal-",
            ],
        ),
        (
            PlatformId::Azure,
            &[
                "Standard_D2s_v5",
                "Standard_E64-32s_v3",
                "Basic_A0",
                "Standard_NC24ads_A100_v4",
            ],
            &[
                "10.0.0.4",
                "fcos-vm-1",
                "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9",
                "Standard_",
                "Standard_D2s v5",
                "standard_d2s_v5.internal",
            ],
        ),
    ];

    #[test]
    fn aws_types_and_azure_sizes_are_kept_and_identifiers_are_other() {
        for (platform, good, bad) in FORMS {
            for ok in *good {
                assert_eq!(
                    InstanceType::for_platform(*platform, ok).unwrap().as_str(),
                    *ok
                );
            }
            for bad in *bad {
                assert!(
                    InstanceType::for_platform(*platform, bad)
                        .unwrap()
                        .is_other(),
                    "{platform} {bad:?}"
                );
            }
        }
    }

    #[test]
    fn gcp_types_are_cut_from_their_path_on_gcp_only() {
        let full = "projects/408213637716/machineTypes/n2d-standard-4";
        assert_eq!(
            InstanceType::for_platform(PlatformId::Gcp, full)
                .unwrap()
                .as_str(),
            "n2d-standard-4"
        );
        for ok in [
            "e2-micro",
            "custom-4-16384",
            "n2-custom-8-16384-ext",
            "ct5lp-hightpu-4t",
        ] {
            let path = format!("projects/1/machineTypes/{ok}");
            assert_eq!(
                InstanceType::for_platform(PlatformId::Gcp, &path)
                    .unwrap()
                    .as_str(),
                ok
            );
            assert_eq!(
                InstanceType::for_platform(PlatformId::Gcp, ok)
                    .unwrap()
                    .as_str(),
                ok
            );
        }
        for bad in [
            "projects/my-project/machineTypes/n2d-standard-4",
            "projects//machineTypes/n2d-standard-4",
            "projects/1/zones/us-central1-a",
            "projects/1/machineTypes/fcos-worker-2",
            "projects/1/machineTypes/fcos-worker-2.c.my-project-1234.internal",
            "projects/1/machineTypes/10.128.0.5",
            "projects/1/machineTypes/n2d",
        ] {
            assert!(
                InstanceType::for_platform(PlatformId::Gcp, bad)
                    .unwrap()
                    .is_other(),
                "{bad:?}"
            );
        }
        // Elsewhere a path is no type: nothing is cut, and it is not one of the platform's names.
        assert!(
            InstanceType::for_platform(PlatformId::Openstack, full)
                .unwrap()
                .is_other()
        );
        assert_eq!(
            InstanceType::for_platform(PlatformId::Openstack, "m1.small")
                .unwrap()
                .as_str(),
            "m1.small"
        );
    }

    #[test]
    fn only_a_provider_the_machine_names_is_asked() {
        let detection = |id, source, hardware| Detection {
            id,
            source,
            hardware,
        };
        let arg = PlatformSource::KernelArgument("ignition.platform.id");
        assert_eq!(
            MetadataProvider::for_detection(&detection(PlatformId::Aws, arg, None)),
            Some(MetadataProvider::Aws)
        );
        assert_eq!(
            MetadataProvider::for_detection(&detection(
                PlatformId::Azure,
                PlatformSource::Hardware,
                Some(HardwareVerdict::Named(PlatformId::Azure))
            )),
            Some(MetadataProvider::Azure)
        );
        // Platforms without a service, and anything not named, are never asked.
        assert_eq!(
            MetadataProvider::for_detection(&detection(PlatformId::Openstack, arg, None)),
            None
        );
        assert_eq!(
            MetadataProvider::for_detection(&detection(
                PlatformId::Gcp,
                PlatformSource::Hardware,
                Some(HardwareVerdict::Unknown)
            )),
            None
        );
    }
}
