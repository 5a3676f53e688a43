//! The cloud instance type, from the one afterburn attribute of the detected platform that holds
//! it.

use headcount_report::{InstanceType, Level, PlatformId, Report};

use crate::{Collector, Context, Field, parse_env};

/// Reads `run/metadata/afterburn`, taking the detected platform's instance type key and nothing
/// else.
pub struct InstanceTypeCollector;

const FIELDS: &[Field] = &[Field {
    name: "platform.instance_type",
    kind: "string (the provider's instance type names, or other)",
    bucketing: "a name outside the platform's documented names (an operator's own flavor or offering) is sent as other",
    description: "Cloud instance or machine type: the attribute afterburn wrote to run/metadata/afterburn for the detected platform, and only that one (aws AFTERBURN_AWS_INSTANCE_TYPE, azure AFTERBURN_AZURE_VMSIZE, gcp AFTERBURN_GCP_MACHINE_TYPE (without the projects/<number>/machineTypes/ prefix), aliyun AFTERBURN_ALIYUN_INSTANCE_TYPE, akamai AFTERBURN_AKAMAI_INSTANCE_TYPE, cloudstack AFTERBURN_CLOUDSTACK_SERVICE_OFFERING, exoscale AFTERBURN_EXOSCALE_SERVICE_OFFERING, kubevirt AFTERBURN_KUBEVIRT_INSTANCE_TYPE, openstack AFTERBURN_OPENSTACK_INSTANCE_TYPE, oraclecloud AFTERBURN_ORACLECLOUD_INSTANCE_SHAPE, packet AFTERBURN_PACKET_PLAN, scaleway AFTERBURN_SCALEWAY_INSTANCE_TYPE); every other attribute of that file, and every key of another platform, is ignored. Absent on platforms afterburn gives no type for, and when the platform is unknown or not reported.",
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

/// Afterburn's type attribute for `platform`, if it has one.
pub fn type_key(platform: PlatformId) -> Option<&'static str> {
    TYPE_KEYS
        .iter()
        .find(|(p, _)| *p == platform)
        .map(|(_, k)| *k)
}

impl Collector for InstanceTypeCollector {
    fn name(&self) -> &'static str {
        "instance-type"
    }

    fn level(&self) -> Level {
        Level::Minimal
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn collect(&self, ctx: &Context, report: &mut Report) {
        // Without a platform the type would say where the machine runs behind an excluded field.
        let Some(platform) = report.platform.as_mut() else {
            return;
        };
        // Only the detected platform's key: on an unknown platform a type key says nothing
        // trustworthy about where the machine runs.
        let Some(key) = type_key(platform.id) else {
            return;
        };
        let Some(text) = ctx.root.read(AFTERBURN) else {
            return;
        };
        let Some(value) = parse_env(&text).find_map(|(k, v)| (k == key).then_some(v)) else {
            return;
        };
        // The contract's rule for this platform: its provider's names, else other (on GCP the
        // metadata server's project path is taken off first).
        platform.instance_type = InstanceType::for_platform(platform.id, &value);
        if platform
            .instance_type
            .as_ref()
            .is_some_and(|t| t.is_other())
        {
            tracing::debug!(
                key,
                "instance type breaks its platform's rule, sent as other"
            );
        }
    }
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
}
