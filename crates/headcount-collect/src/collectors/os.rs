//! The running OS, from os-release.

use headcount_report::{Level, Os, OsBuild, OsName, OsVersionId, Report};

use crate::{Collector, Context, Field, parse_env};

/// Reads os-release (`/etc/os-release`, else `/usr/lib/os-release`).
pub struct OsCollector;

const FIELDS: &[Field] = &[
    Field {
        name: "os.id",
        kind: "string (a-z 0-9 . _ -, at most 32)",
        bucketing: "",
        description: "Operating system identifier: os-release ID, for example fedora.",
    },
    Field {
        name: "os.variant_id",
        kind: "string (a-z 0-9 . _ -, at most 32)",
        bucketing: "",
        description: "Operating system variant: os-release VARIANT_ID, for example coreos.",
    },
    Field {
        name: "os.version_id",
        kind: "string (a-z 0-9 . _ -, at most 32)",
        bucketing: "",
        description: "Operating system version: os-release VERSION_ID, for example 43.",
    },
    Field {
        name: "os.build",
        kind: "string (A-Z a-z 0-9 . _ + ~ -, at most 48)",
        bucketing: "",
        description: "Operating system build: os-release OSTREE_VERSION, for example 43.20261102.3.0.",
    },
];

/// Where os-release lives, in order of preference (the os-release specification's order).
const OS_RELEASE: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];

impl Collector for OsCollector {
    fn name(&self) -> &'static str {
        "os"
    }

    fn level(&self) -> Level {
        Level::Minimal
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn collect(&self, ctx: &Context, report: &mut Report) {
        let Some(text) = OS_RELEASE.iter().find_map(|p| ctx.root.read(p)) else {
            return;
        };
        let mut os = Os::default();
        for (key, value) in parse_env(&text) {
            match key {
                "ID" => os.id = checked(key, OsName::new(&value)),
                "VARIANT_ID" => os.variant_id = checked(key, OsName::new(&value)),
                "VERSION_ID" => os.version_id = checked(key, OsVersionId::new(&value)),
                "OSTREE_VERSION" => os.build = checked(key, OsBuild::new(&value)),
                _ => {}
            }
        }
        if !os.is_empty() {
            report.os = Some(os);
        }
    }
}

fn checked<T>(key: &str, value: Option<T>) -> Option<T> {
    if value.is_none() {
        tracing::debug!(key, "os-release value does not fit the report, left out");
    }
    value
}
