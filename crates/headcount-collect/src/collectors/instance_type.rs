//! The cloud instance type, from the one afterburn attribute that holds it.

use headcount_report::{InstanceType, Level, PlatformId, Report};

use crate::{Collector, Context, Field, parse_env};

/// Reads `run/metadata/afterburn`, taking the instance type key and nothing else.
pub struct InstanceTypeCollector;

const FIELDS: &[Field] = &[Field {
    name: "platform.instance_type",
    kind: "string (A-Z a-z 0-9 . _ -, at most 48)",
    bucketing: "",
    description: "Cloud instance type: the one instance type attribute afterburn wrote to run/metadata/afterburn (AFTERBURN_AWS_INSTANCE_TYPE, AFTERBURN_AZURE_VMSIZE, AFTERBURN_GCP_MACHINE_TYPE, ...); every other attribute of that file is ignored. Only reported along with a platform.",
}];

/// Afterburn's instance type attribute of each platform that has one.
const TYPE_KEYS: &[(PlatformId, &str)] = &[
    (PlatformId::Aws, "AFTERBURN_AWS_INSTANCE_TYPE"),
    (PlatformId::Azure, "AFTERBURN_AZURE_VMSIZE"),
    (PlatformId::Azurestack, "AFTERBURN_AZURESTACK_VMSIZE"),
    (PlatformId::Gcp, "AFTERBURN_GCP_MACHINE_TYPE"),
    (PlatformId::Aliyun, "AFTERBURN_ALIYUN_INSTANCE_TYPE"),
    (PlatformId::Openstack, "AFTERBURN_OPENSTACK_INSTANCE_TYPE"),
    (PlatformId::Akamai, "AFTERBURN_AKAMAI_INSTANCE_TYPE"),
    (
        PlatformId::Cloudstack,
        "AFTERBURN_CLOUDSTACK_SERVICE_OFFERING",
    ),
    (PlatformId::Exoscale, "AFTERBURN_EXOSCALE_SERVICE_OFFERING"),
    (PlatformId::Packet, "AFTERBURN_PACKET_PLAN"),
];

const AFTERBURN: &str = "run/metadata/afterburn";

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
        let Some(text) = ctx.root.read(AFTERBURN) else {
            return;
        };
        // The platform's own key first; any other known key when the platform is not named.
        let wanted: Vec<&str> = TYPE_KEYS
            .iter()
            .filter(|(p, _)| *p == platform.id || platform.id == PlatformId::Unknown)
            .map(|(_, k)| *k)
            .collect();
        let Some(value) = parse_env(&text).find_map(|(k, v)| wanted.contains(&k).then_some(v))
        else {
            return;
        };
        // GCP's metadata service gives `projects/<number>/machineTypes/<type>`: the project
        // number identifies the owner, so only the last segment is kept.
        let value = value.rsplit('/').next().unwrap_or_default();
        platform.instance_type = InstanceType::new(value);
        if platform.instance_type.is_none() {
            tracing::debug!("instance type does not fit the report, left out");
        }
    }
}
